import json

import numpy as np
import pytest
from PIL import Image

from engine.cli import main
from engine.errors import MascotError
from engine.translate.stage import Translator
from engine.translate.train import TranslateRun
from tests.engine.translate.test_train import config


@pytest.fixture(scope="module")
def trained(domains, tmp_path_factory):
    return TranslateRun(config(domains, tmp_path_factory.mktemp("run") / "run", steps=1)).run()


def test_train_cli_runs_and_resumes(domains, tmp_path, capsys):
    a, b = map(str, domains)
    args = [
        "translate",
        "train",
        "--a",
        a,
        "--b",
        b,
        "--out",
        str(tmp_path / "run"),
        "--res",
        "16",
        "--channels",
        "4",
        "--blocks",
        "1",
        "--holdout",
        "2",
        "--batch",
        "1",
        "--cycle",
        "5",
    ]
    # --res 16 needs a shallower discriminator than the default: refused, saying how many fit.
    assert main([*args, "--steps", "1"]) == 2
    assert "use at most 2" in capsys.readouterr().err
    args[args.index("16")] = "32"
    assert main([*args, "--steps", "1"]) == 0
    assert main([*args, "--steps", "2", "--resume"]) == 0
    meta = json.loads((tmp_path / "run" / "model" / "cyclegan.json").read_text())
    assert meta["training"]["steps"] == 2 and meta["training"]["config"]["cycle"] == 5


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--a", "nowhere", "--b", "nowhere2"], "no data set at 'nowhere'"),
        (["--res", "30"], "multiple of 4"),
        (["--steps", "0"], "must be at least 1"),
    ],
)
def test_train_cli_bad_input_is_one_clear_line(domains, tmp_path, capsys, argv, message):
    a, b = map(str, domains)
    assert main(["translate", "train", "--a", a, "--b", b, "--out", str(tmp_path / "r"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_picture_of_any_size_comes_back_translated_at_its_size(trained):
    t = Translator(trained)
    assert (t.source, t.target) == ("squares", "discs")
    for shape in ((16, 16, 3), (40, 24, 3), (9, 50, 3)):
        out = t.apply(np.full(shape, 200, np.uint8))
        assert out.shape == shape and out.dtype == np.uint8
    with pytest.raises(MascotError, match="uint8"):
        t.apply(np.zeros((16, 16), np.uint8))


def test_apply_cli_writes_pngs_and_refuses_what_is_not_a_picture(trained, tmp_path, capsys):
    pic = tmp_path / "in.png"
    Image.new("RGBA", (20, 30), (255, 0, 0, 128)).save(pic)
    assert (
        main(["translate", "apply", "--checkpoint", str(trained), str(pic), "--out", str(tmp_path / "o")])
        == 0
    )
    assert Image.open(tmp_path / "o" / "in.png").size == (20, 30)
    (tmp_path / "note.txt").write_text("not a picture")
    assert (
        main(
            [
                "translate",
                "apply",
                "--checkpoint",
                str(trained),
                str(tmp_path / "note.txt"),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "note.txt" in err and "PNG, JPEG or WebP" in err
    assert (
        main(
            [
                "translate",
                "apply",
                "--checkpoint",
                str(trained),
                str(tmp_path / "gone.png"),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "no picture at" in capsys.readouterr().err
