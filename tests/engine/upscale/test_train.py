import json

import numpy as np
import pytest
import torch

from engine.checkpoint import CheckpointError
from engine.cli import main
from engine.errors import MascotError
from engine.upscale.checkpoint import load_upscaler
from engine.upscale.measure import measure
from engine.upscale.model import UpscalerArch
from engine.upscale.stage import UpscaleStage
from engine.upscale.train import UpscaleRun, UpscaleTrainConfig
from tests.engine.upscale.conftest import make_pairs

ARCH = UpscalerArch(channels=8, blocks=1)


def config(pairs, out, **kw):
    base = dict(
        pairs=str(pairs),
        out=str(out),
        arch=ARCH,
        patch=16,
        batch_size=4,
        steps=6,
        tick_steps=3,
        snapshot_steps=3,
        holdout=4,
        perceptual=0.1,
    )
    return UpscaleTrainConfig(**{**base, **kw})


def test_training_writes_a_servable_model_and_pictures(pairs, tmp_path):
    path = UpscaleRun(config(pairs, tmp_path / "run")).run()
    model, meta = load_upscaler(path)
    assert meta["training"]["steps"] == 6 and model.arch == ARCH
    assert (tmp_path / "run" / "samples.png").is_file() and (tmp_path / "run" / "losses.png").is_file()
    lines = (tmp_path / "run" / "stats.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [3, 6]


def test_resume_continues_the_same_run_exactly(pairs, tmp_path):
    straight = UpscaleRun(config(pairs, tmp_path / "a", steps=6)).run()
    UpscaleRun(config(pairs, tmp_path / "b", steps=3)).run()
    resumed = UpscaleRun(config(pairs, tmp_path / "b", steps=6, resume=True)).run()
    a, _ = load_upscaler(straight)
    b, _ = load_upscaler(resumed)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.allclose(p, q, atol=1e-6), name


def test_resume_refuses_another_arch_and_a_corrupt_file(pairs, tmp_path):
    UpscaleRun(config(pairs, tmp_path / "run", steps=3)).run()
    with pytest.raises(MascotError, match="arch"):
        UpscaleRun(config(pairs, tmp_path / "run", arch=UpscalerArch(channels=16, blocks=1), resume=True))
    weights = tmp_path / "run" / "resume.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(CheckpointError, match="does not match"):
        UpscaleRun(config(pairs, tmp_path / "run", steps=6, resume=True))


def test_a_tampered_or_foreign_checkpoint_is_refused(pairs, tmp_path):
    path = UpscaleRun(config(pairs, tmp_path / "run", steps=3)).run()
    meta = json.loads((path / "upscaler.json").read_text())
    (path / "upscaler.json").write_text(json.dumps({**meta, "arch": {**meta["arch"], "channels": "many"}}))
    with pytest.raises(CheckpointError, match="whole numbers"):
        load_upscaler(path)
    (path / "upscaler.json").write_text(json.dumps({**meta, "kind": "generator"}))
    with pytest.raises(CheckpointError, match="not an upscaler"):
        load_upscaler(path)


def test_bad_settings_are_refused_with_a_clear_message(pairs, tmp_path):
    with pytest.raises(MascotError, match="--patch"):
        UpscaleRun(config(pairs, tmp_path / "run", patch=15))
    with pytest.raises(MascotError, match="pairs folder"):
        UpscaleRun(config(tmp_path, tmp_path / "run"))


def test_measure_scores_upscaler_lanczos_and_input(pairs, tmp_path):
    path = UpscaleRun(config(pairs, tmp_path / "run", steps=3)).run()
    table = measure(path, pairs, n=4, holdout=4)
    assert set(table) == {"input (nearest)", "Lanczos", "upscaler"}
    assert all(np.isfinite(row["psnr_db"]) and row["feature_distance"] >= 0 for row in table.values())


def test_the_stage_serves_every_offered_size_and_the_same_pixels_alone_or_together(pairs, tmp_path):
    stage = UpscaleStage(UpscaleRun(config(pairs, tmp_path / "run", steps=3)).run())
    assert stage.sizes(32) == [32, 64, 128]
    pixels = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    big = np.stack(stage.apply(pixels, 128))
    assert big.shape == (3, 128, 128, 3) and big.dtype == np.uint8
    assert np.array_equal(big[1:2], np.stack(stage.apply(list(pixels[1:2]), 128)))
    assert np.stack(stage.apply(pixels, 64)).shape == (3, 64, 64, 3)
    assert np.array_equal(np.stack(stage.apply(list(pixels), 32)), pixels)


@pytest.fixture(scope="module")
def pairs_64_512(tmp_path_factory):
    return make_pairs(tmp_path_factory.mktemp("pairs8"), n=6, small=64, scale=8)


def test_an_8x_stage_trains_on_64_to_512_pairs_and_serves_every_size_up_to_512(pairs_64_512, tmp_path):
    arch = UpscalerArch(scale=8, channels=8, blocks=1)
    path = UpscaleRun(
        config(pairs_64_512, tmp_path / "run", arch=arch, steps=1, holdout=2, perceptual=0)
    ).run()
    model, meta = load_upscaler(path)
    assert model.arch.scale == 8 and meta["training"]["steps"] == 1
    stage = UpscaleStage(path)
    assert stage.sizes(64) == [64, 128, 256, 512]
    pixels = np.random.default_rng(0).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    assert stage.apply_one(pixels[0], 512).shape == (512, 512, 3)
    assert stage.apply_one(pixels[0], 256).shape == (256, 256, 3)


def test_a_4x_stage_refuses_8x_pairs_with_both_scales_named(pairs_64_512, tmp_path):
    with pytest.raises(MascotError, match="x8; the upscaler is x4"):
        UpscaleRun(config(pairs_64_512, tmp_path / "run", holdout=2))


def test_upscale_train_takes_its_scale_from_the_pairs(pairs_64_512, tmp_path, capsys):
    argv = ["upscale", "train", "--pairs", str(pairs_64_512), "--out", str(tmp_path / "run"), "--steps", "1"]
    assert main(argv) == 2
    # Past the scale check (x8 pairs, an x8 network), stopped by the default hold-out of 64 pairs.
    assert "6 pairs; at least 65 are needed" in capsys.readouterr().err
    assert main([*argv, "--scale", "4"]) == 2
    assert "pairs are x8; the upscaler is x4" in capsys.readouterr().err
