import json

import pytest
import torch

from engine.checkpoint import CheckpointError
from engine.errors import MascotError
from engine.translate.checkpoint import load_translator
from engine.translate.model import TranslatorArch
from engine.translate.train import HistoryPool, TranslateRun, TranslateTrainConfig

ARCH = TranslatorArch(channels=4, blocks=1, disc_channels=4, disc_layers=2, resolution=16)


def config(domains, out, **kw):
    a, b = domains
    base = dict(
        a=str(a),
        b=str(b),
        out=str(out),
        arch=ARCH,
        steps=4,
        tick_steps=2,
        snapshot_steps=2,
        holdout=3,
        pool=3,
        batch_size=2,
    )
    return TranslateTrainConfig(**{**base, **kw})


def test_training_a_tick_writes_a_loadable_checkpoint_naming_both_domains(domains, tmp_path):
    path = TranslateRun(config(domains, tmp_path / "run")).run()
    models, meta = load_translator(path)
    assert set(models) == {"a_to_b", "b_to_a"} and models["a_to_b"].arch == ARCH
    assert meta["kind"] == "cyclegan" and meta["training"]["steps"] == 4
    assert meta["domains"]["a"]["name"] == "squares" and meta["domains"]["b"]["name"] == "discs"
    lines = [json.loads(line) for line in (tmp_path / "run" / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [2, 4]
    assert all(r["loss/cycle"] > 0 and r["loss/d_a"] > 0 for r in lines)
    for png in ("samples.png", "losses.png"):
        assert (tmp_path / "run" / png).is_file()


def test_resume_continues_the_step_count_and_the_same_run(domains, tmp_path):
    straight = TranslateRun(config(domains, tmp_path / "a")).run()
    TranslateRun(config(domains, tmp_path / "b", steps=2)).run()
    run = TranslateRun(config(domains, tmp_path / "b", resume=True))
    assert run.step == 2 and len(run.pools["a"].images) == 3
    resumed = run.run()
    a, _ = load_translator(straight)
    b, meta = load_translator(resumed)
    assert meta["training"]["steps"] == 4
    for (name, p), q in zip(a["a_to_b"].state_dict().items(), b["a_to_b"].state_dict().values()):
        assert torch.allclose(p, q, atol=1e-6), name


def test_resume_refuses_a_corrupt_file_other_data_or_another_arch(domains, tmp_path):
    TranslateRun(config(domains, tmp_path / "run", steps=2)).run()
    with pytest.raises(MascotError, match="arch"):
        TranslateRun(
            config(
                domains,
                tmp_path / "run",
                arch=TranslatorArch(channels=8, blocks=1, disc_layers=2, resolution=16),
                resume=True,
            )
        )
    with pytest.raises(MascotError, match="other data"):
        TranslateRun(config(domains[::-1], tmp_path / "run", resume=True))
    weights = tmp_path / "run" / "resume.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(CheckpointError, match="does not match"):
        TranslateRun(config(domains, tmp_path / "run", resume=True))
    with pytest.raises(CheckpointError, match="nothing to resume"):
        TranslateRun(config(domains, tmp_path / "empty", resume=True))


def test_a_corrupt_tampered_or_foreign_checkpoint_is_refused(domains, tmp_path):
    path = TranslateRun(config(domains, tmp_path / "run", steps=2)).run()
    weights, meta_path = path / "cyclegan.safetensors", path / "cyclegan.json"
    meta, good = json.loads(meta_path.read_text()), weights.read_bytes()
    weights.write_bytes(good[:-4] + b"\x00\x00\x00\x01")
    with pytest.raises(CheckpointError, match="corrupt or was replaced"):
        load_translator(path)
    weights.write_bytes(good)
    meta_path.write_text(json.dumps({**meta, "arch": {**meta["arch"], "channels": "many"}}))
    with pytest.raises(CheckpointError, match="whole numbers"):
        load_translator(path)
    meta_path.write_text(json.dumps({**meta, "kind": "upscaler"}))
    with pytest.raises(CheckpointError, match="not a cyclegan checkpoint"):
        load_translator(path)
    meta_path.write_text(json.dumps({**meta, "arch": {**meta["arch"], "channels": 8}}))
    with pytest.raises(CheckpointError, match="does not fit its arch"):
        load_translator(path)
    meta_path.write_text("{")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_translator(path)


def test_the_learning_rate_holds_then_decays_to_zero(domains, tmp_path):
    run = TranslateRun(config(domains, tmp_path / "run", steps=100, lr=1e-3))
    assert run.lr_at(0) == run.lr_at(50) == 1e-3
    assert run.lr_at(75) == pytest.approx(5e-4) and run.lr_at(100) == 0


def test_the_history_pool_fills_then_hands_back_old_fakes_half_the_time():
    pool = HistoryPool(4, torch.Generator().manual_seed(0))
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first)
    new = torch.arange(100.0, 300.0).view(200, 1, 1, 1)
    out = pool.query(new)
    swapped = int((out != new).sum())
    assert 60 < swapped < 140  # about half the new fakes were answered with a stored one
    assert set(first.flatten().tolist()) <= set(out.flatten().tolist())  # the oldest ones come back out
    assert len(pool.images) == 4


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(a=""), "--a and --b are required"),
        (dict(b="nowhere"), "no data set at 'nowhere'"),
        (dict(holdout=12), "at least 13 are needed"),
        (dict(steps=0), "at least 1"),
    ],
)
def test_bad_settings_are_refused_with_what_is_allowed(domains, tmp_path, kw, match):
    with pytest.raises(MascotError, match=match):
        TranslateRun(config(domains, tmp_path / "run", **kw))


def test_the_same_folder_twice_is_refused(domains, tmp_path):
    with pytest.raises(MascotError, match="same folder"):
        TranslateRun(config((domains[0], domains[0]), tmp_path / "run"))
