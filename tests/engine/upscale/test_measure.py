import json

from PIL import Image

from engine.cli import main
from engine.upscale.measure import side_by_side


def test_side_by_side_sheets(tiny_upscaler, tiny_checkpoint, tmp_path):
    out = side_by_side(tiny_upscaler, tiny_checkpoint, tmp_path / "docs" / "grid.png", n=4, cell=64)
    assert Image.open(out).size == (8 * 64, 64)  # 4 pairs in one row of 8 cells
    assert Image.open(tmp_path / "docs" / "grid-128.png").size == (4 * 128, 2 * 128)


def test_measure_cli_prints_the_table_and_json(pairs, tmp_path, capsys):
    from engine.upscale.train import UpscaleRun
    from tests.engine.upscale.test_train import config

    model = UpscaleRun(config(pairs, tmp_path / "run", steps=2)).run()
    assert (
        main(["upscale", "measure", "--checkpoint", str(model), "--pairs", str(pairs), "--images", "3"]) == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert set(json.loads(lines[-1])) == {"input (nearest)", "Lanczos", "upscaler"}


def test_measure_refuses_pairs_smaller_than_the_held_out_part(pairs, tiny_upscaler, capsys):
    # tiny_upscaler was never trained: it holds out the default 64, and these pairs are 12.
    assert main(["upscale", "measure", "--checkpoint", str(tiny_upscaler), "--pairs", str(pairs)]) == 2
    assert "12 pairs, fewer than the 64 held out" in capsys.readouterr().err
