import json
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from engine.checkpoint import load_checkpoint
from engine.cli import main
from engine.errors import MascotError
from engine.models import get_family
from engine.sampling import render, resolve
from engine.train.config import TrainConfig
from engine.train.loop import TrainingRun, augment_mode, train
from engine.train.visuals import curve_keys
from tests.recording_bar import recording_bar
from tests.toydata import make_toy_dataset

TINY = (("g_ch", 8), ("d_ch", 8))


def _cfg(data, out, **kw):
    base = dict(
        family="dcgan",
        data=str(data),
        out=str(out),
        kimg=0.128,
        batch_size=16,
        tick_kimg=0.064,
        snapshot_kimg=0.064,
        grid_seeds=3,
        arch=TINY,
        seed=3,
    )
    return TrainConfig().with_overrides({**base, **kw})


def _weights(path):
    return load_checkpoint(path).G.state_dict()


def test_run_writes_checkpoint_stats_and_pictures(toy_dataset, tmp_path):
    path = train(_cfg(toy_dataset, tmp_path / "run"))
    run = tmp_path / "run"
    ticks = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert len(ticks) == 2 and ticks[-1]["kimg"] == pytest.approx(0.128)
    assert all(np.isfinite(v) for t in ticks for k, v in t.items() if "/" in k)
    for picture in ("grid.png", "losses.png", "grids/grid-000000kimg.png"):
        assert (run / picture).stat().st_size > 0
    meta = json.loads((path / "model.json").read_text())
    assert meta["family"] == "dcgan" and meta["training"]["kimg"] == pytest.approx(0.128)
    assert meta["data_sources"][0]["licence"] == "CC0"


def test_checkpoint_reloads_to_identical_pixels(toy_dataset, tmp_path):
    path = train(_cfg(toy_dataset, tmp_path / "run"))
    a, b = load_checkpoint(path), load_checkpoint(path)
    reqs = [resolve(a.schema, {"hair": "blue"}, s) for s in (1, 2, 3)]
    assert np.array_equal(render(a.G, a.schema, reqs), render(b.G, b.schema, reqs))


def test_same_seed_same_weights_on_cpu(toy_dataset, tmp_path):
    w1 = _weights(train(_cfg(toy_dataset, tmp_path / "a")))
    w2 = _weights(train(_cfg(toy_dataset, tmp_path / "b")))
    w3 = _weights(train(_cfg(toy_dataset, tmp_path / "c", seed=4)))
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    assert not all(torch.equal(w1[k], w3[k]) for k in w1)


def test_minutes_budget_stops_the_run_early_with_a_checkpoint(toy_dataset, tmp_path):
    # A budget already spent stops the run at once, long before --kimg, with a loadable checkpoint.
    path = train(_cfg(toy_dataset, tmp_path / "run", kimg=100.0, minutes=1e-9))
    meta = json.loads((path / "model.json").read_text())
    assert meta["training"]["kimg"] < 0.1
    load_checkpoint(path)


def test_resume_equals_an_uninterrupted_run(toy_dataset, tmp_path):
    straight = _weights(train(_cfg(toy_dataset, tmp_path / "straight")))
    train(_cfg(toy_dataset, tmp_path / "split", kimg=0.064))
    resumed = _weights(train(_cfg(toy_dataset, tmp_path / "split", resume=True)))
    assert all(torch.allclose(straight[k], resumed[k], atol=1e-6) for k in straight)


def test_a_run_resumed_with_longer_ticks_ticks_one_tick_after_where_it_is(toy_dataset, tmp_path):
    """Ticks follow the images seen: four short ticks before, then --tick-kimg doubled, ticks again
    after 32 more images (not at 5 x 32, as counting ticks would put it)."""
    run = tmp_path / "run"
    train(_cfg(toy_dataset, run, kimg=0.064, tick_kimg=0.016))
    train(_cfg(toy_dataset, run, kimg=0.192, tick_kimg=0.032, resume=True))
    kimgs = [json.loads(line)["kimg"] for line in (run / "stats.jsonl").read_text().splitlines()]
    assert kimgs == [0.016, 0.032, 0.048, 0.064, 0.096, 0.128, 0.16, 0.192]


def test_resume_keeps_the_runs_own_architecture(toy_dataset, tmp_path):
    """--resume without the first run's --arch flags still builds (and loads) that network."""
    train(_cfg(toy_dataset, tmp_path / "run", kimg=0.032, arch=(("g_ch", 8), ("d_ch", 4))))
    resumed = train(_cfg(toy_dataset, tmp_path / "run", kimg=0.064, resume=True, arch=()))
    assert json.loads((resumed / "model.json").read_text())["arch"]["d_ch"] == 4


def test_resume_refuses_other_data(toy_dataset, tmp_path):
    train(_cfg(toy_dataset, tmp_path / "run", kimg=0.032))
    other = make_toy_dataset(tmp_path / "other", seed=1)
    with pytest.raises(MascotError, match=r"use another --out"):
        train(_cfg(other, tmp_path / "run", resume=True))


def test_sigterm_leaves_a_complete_checkpoint(toy_dataset, tmp_path):
    run = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "engine.cli",
        "train",
        "--family",
        "dcgan",
        "--data",
        str(toy_dataset),
        "--out",
        str(run),
        "--kimg",
        "1000",
        "--batch",
        "8",
        "--arch",
        "g_ch=8",
        "--arch",
        "d_ch=8",
        "--tick-kimg",
        "1000",
        "--snapshot-kimg",
        "1000",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while not (run / "config.json").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(2.0)  # let it take some steps
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "--resume" in out
    meta = json.loads((run / "resume.json").read_text())
    assert 0 < meta["state"]["nimg"] < 1_000_000
    load_checkpoint(run / "model")  # complete and valid
    assert not list(tmp_path.rglob(".*partial*"))


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--kimg", "0"], "--kimg must be positive"),
        (["--family", "nope"], "unknown model family 'nope'"),
        (["--arch", "bogus=1"], "unknown --arch setting"),
        (["--arch", "g_ch=wide"], "--arch g_ch takes a whole number, got 'wide'"),
        (["--arch", "g_leak=0.2.1"], "--arch g_leak takes a number"),
        (["--res", "48"], "power of two"),
        (["--minutes", "-1"], "--minutes must be 0"),
        (["--augment", "strong"], "--augment takes ada, diffaugment, none; got 'strong'"),
    ],
)
def test_bad_flags_are_one_clear_line(toy_dataset, tmp_path, capsys, flags, message):
    args = ["train", "--family", "dcgan", "--data", str(toy_dataset), "--out", str(tmp_path / "r"), *flags]
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_missing_data_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "r")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_extra_data_is_capped_at_its_share(toy_dataset, tmp_path):
    from engine.data.dataset import Dataset
    from engine.train.loop import RealImages

    extra = make_toy_dataset(tmp_path / "extra", n=6, seed=5)
    real = RealImages(Dataset(toy_dataset), 32, torch.device("cpu"), 0, Dataset(extra), extra_share=0.25)
    idx = torch.cat([real._indices(64) for _ in range(50)])
    share = (idx >= real.n_base).float().mean().item()
    assert 0.2 < share < 0.3
    path = train(_cfg(toy_dataset, tmp_path / "run", kimg=0.032, extra_data=str(extra)))
    assert load_checkpoint(path).meta["training"]["config"]["extra_share"] == 0.25


def test_cond_dropout_blanks_whole_attribute_blocks(toy_dataset):
    from engine.data.dataset import Dataset
    from engine.train.loop import RealImages

    ds = Dataset(toy_dataset)
    real = RealImages(ds, 32, torch.device("cpu"), 0, cond_dropout=0.5)
    c = real.sample_c(4000)
    for a, b in ds.schema.blocks():
        block_sums = c[:, a:b].sum(1)
        assert set(block_sums.unique().tolist()) <= {0.0, 1.0}  # a block is kept whole or blanked whole
        assert 0.4 < (block_sums == 0).float().mean().item() < 0.6
    assert torch.equal(RealImages(ds, 32, torch.device("cpu"), 0).sample_c(8).sum(1), torch.full((8,), 2.0))


def test_fine_tune_from_a_spectral_norm_family(toy_dataset, tmp_path):
    arch = (("g_channels", 16), ("d_channels", 16), ("d_input", 32))
    parent = train(_cfg(toy_dataset, tmp_path / "parent", family="projected", arch=arch, kimg=0.032))
    child = train(
        _cfg(
            toy_dataset,
            tmp_path / "child",
            family="projected",
            arch=(),
            kimg=0.016,
            init_from=str(parent),
            freeze_d=1,
        )
    )
    assert load_checkpoint(child).meta["parent"] == load_checkpoint(parent).version


def test_fine_tune_on_extra_data_moves_the_serving_prior_toward_its_labels(toy_dataset, tmp_path):
    from engine.data.dataset import Dataset

    extra = make_toy_dataset(tmp_path / "extra", n=6, seed=5)
    extra_labels, schema = Dataset(extra).labels, Dataset(toy_dataset).schema
    parent = train(_cfg(toy_dataset, tmp_path / "parent", kimg=0.016))
    first = train(
        _cfg(toy_dataset, tmp_path / "first", kimg=0.016, init_from=str(parent), extra_data=str(extra))
    )
    second = train(
        _cfg(toy_dataset, tmp_path / "second", kimg=0.016, init_from=str(first), extra_data=str(extra))
    )
    once = schema.with_priors_moved(extra_labels, 0.25)
    assert load_checkpoint(parent).schema == schema  # no extra data: the data's prior
    assert load_checkpoint(first).schema == once
    assert load_checkpoint(second).schema == once.with_priors_moved(extra_labels, 0.25)  # rounds accumulate


def test_checkpoints_carry_the_data_label_table_even_when_the_parent_had_none(toy_dataset, tmp_path):
    from engine.data.dataset import Dataset

    rows = Dataset(toy_dataset).schema.joint.rows.tolist()
    parent = train(_cfg(toy_dataset, tmp_path / "parent", kimg=0.016))
    assert load_checkpoint(parent).schema.joint.rows.tolist() == rows
    meta = json.loads((parent / "model.json").read_text())
    del meta["schema"]["joint"]  # a checkpoint saved before label tables existed
    (parent / "model.json").write_text(json.dumps(meta))
    assert load_checkpoint(parent).schema.joint is None
    child = train(_cfg(toy_dataset, tmp_path / "child", kimg=0.016, init_from=str(parent)))
    assert load_checkpoint(child).schema.joint.rows.tolist() == rows


def test_fine_tune_starts_from_the_parents_discriminator(toy_dataset, tmp_path):
    from safetensors.torch import load_file

    from engine.train.loop import TrainingRun

    parent = train(_cfg(toy_dataset, tmp_path / "parent", kimg=0.016))
    saved = load_file(parent / "discriminator.safetensors")
    run = TrainingRun(_cfg(toy_dataset, tmp_path / "child", kimg=0.016, init_from=str(parent)))
    d = run.trainer.modules()["D"].state_dict()
    assert d.keys() == saved.keys() and all(torch.equal(d[k], saved[k]) for k in saved)
    fresh = TrainingRun(_cfg(toy_dataset, tmp_path / "fresh", kimg=0.016)).trainer.modules()["D"].state_dict()
    assert not all(torch.equal(fresh[k], saved[k]) for k in saved)  # the test can fail: a new D differs


def test_a_parent_arch_of_the_wrong_type_is_refused_before_training(toy_dataset, tmp_path):
    from engine.train.loop import TrainingRun

    parent = train(_cfg(toy_dataset, tmp_path / "parent", kimg=0.016))
    meta = json.loads((parent / "model.json").read_text())
    meta["arch"]["g_ch"] = str(meta["arch"]["g_ch"])  # hand-edited: a string where a number belongs
    (parent / "model.json").write_text(json.dumps(meta))
    with pytest.raises(MascotError, match=r"model\.json' arch g_ch takes a whole number"):
        TrainingRun(_cfg(toy_dataset, tmp_path / "child", kimg=0.016, init_from=str(parent)))
    assert not (tmp_path / "child").exists()


def test_classifier_weights_are_named_by_attribute(toy_dataset, tmp_path):
    from engine.data.dataset import Dataset
    from engine.models import get_family
    from engine.train.loop import TrainingRun, build_arch

    schema = Dataset(toy_dataset).schema  # hair, smile
    projected = get_family("projected")
    arch = build_arch(
        projected,
        _cfg(toy_dataset, "unused", family="projected", arch={"aux_attr_weights": "smile:2.5"}),
        schema,
    )
    assert arch.aux_attr_weights == (1.0, 2.5)
    for value, message in (
        ("smiles:2", "names 'smiles', which is not an attribute; known: hair, smile"),
        ("smile:-1", "takes NAME:WEIGHT pairs (weights 0 or more)"),
        ("smile:inf", "takes NAME:WEIGHT pairs (weights 0 or more)"),
    ):
        with pytest.raises(MascotError, match=re.escape(message)):
            build_arch(
                projected,
                _cfg(toy_dataset, "unused", family="projected", arch={"aux_attr_weights": value}),
                schema,
            )
    with pytest.raises(MascotError, match=re.escape("has 3 entries for 2 attributes")):
        TrainingRun(
            _cfg(toy_dataset, tmp_path / "r", family="projected", arch={"aux_attr_weights": (1.0, 2.0, 3.0)})
        )


@pytest.mark.parametrize(
    "setting,value,message",
    [
        ("session_minutes", -1, "--session-minutes must be 0"),
        ("check_every", 0, "--check-every must be at least 1"),
    ],
)
def test_bad_session_budget_or_check_interval_is_refused(toy_dataset, tmp_path, setting, value, message):
    with pytest.raises(MascotError, match=message):
        _cfg(toy_dataset, tmp_path / "r", **{setting: value}).validate()
    _cfg(toy_dataset, tmp_path / "r", **{setting: 1}).validate()  # the smallest allowed value passes


def test_session_minutes_stops_this_session_and_a_resumed_one_gets_its_own(toy_dataset, tmp_path):
    path = train(_cfg(toy_dataset, tmp_path / "run", kimg=100.0, session_minutes=0.001))
    first = json.loads((tmp_path / "run" / "resume.json").read_text())["state"]["nimg"]
    assert 0 < first < 2000  # at least one step, far short of --kimg
    assert 0 < json.loads((path / "model.json").read_text())["training"]["kimg"] < 2
    load_checkpoint(path)
    # Unlike --minutes (all sessions together), the next session trains on.
    train(_cfg(toy_dataset, tmp_path / "run", kimg=100.0, session_minutes=0.001, resume=True))
    assert json.loads((tmp_path / "run" / "resume.json").read_text())["state"]["nimg"] > first


def _distinct_images(out, n=6, resolution=16):
    """Random pixels and labels: every image differs from every other and from its mirror image."""
    from engine.data.dataset import Dataset, DatasetWriter
    from tests.toydata import TOY_SCHEMA

    rng = np.random.default_rng(1)
    with DatasetWriter(out, resolution=resolution, schema=TOY_SCHEMA, capacity=n) as w:
        for i in range(n):
            w.add(
                rng.integers(0, 256, (resolution, resolution, 3), dtype=np.uint8),
                {"hair": ["red", "green", "blue"][i % 3], "smile": ["yes", "no"][i % 2]},
            )
    return Dataset(out)


def _match(batch, ds):
    """For each image of a batch: (index in ds, flipped?), by exact pixels."""
    pixels = ((batch + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    found = []
    for img in pixels:
        plain = [i for i, ref in enumerate(ds.images) if np.array_equal(img, ref)]
        flipped = [i for i, ref in enumerate(ds.images) if np.array_equal(img, ref[:, ::-1])]
        assert len(plain) + len(flipped) == 1, "a batch image is not a data set image nor its mirror image"
        found.append((plain[0], False) if plain else (flipped[0], True))
    return found


def test_real_images_are_held_as_uint8_and_batched_in_minus_one_to_one(tmp_path):
    from engine.train.loop import RealImages

    ds = _distinct_images(tmp_path / "ds")
    real = RealImages(ds, 16, torch.device("cpu"), 0)
    assert real.images.dtype == torch.uint8 and real.images.shape == (6, 3, 16, 16)
    assert real.images.is_contiguous(memory_format=torch.channels_last)  # NHWC memory seen as NCHW
    x, c = real.batch(64, mirror=False)
    assert x.dtype == torch.float32 and x.shape == (64, 3, 16, 16) and c.shape == (64, ds.schema.dim)
    assert x.min() == -1 and x.max() == 1  # 0 and 255 both occur in random pixels
    assert RealImages(ds, 32, torch.device("cpu"), 0).batch(2, mirror=False)[0].shape == (2, 3, 32, 32)


def test_real_batches_pair_each_image_with_its_own_conditioning(tmp_path):
    from engine.train.loop import RealImages

    ds = _distinct_images(tmp_path / "ds")
    x, c = RealImages(ds, 16, torch.device("cpu"), 0, cond_dropout=0.0).batch(32, mirror=True)
    cond = ds.conditioning()
    for row, (index, _) in zip(c.numpy(), _match(x, ds)):
        assert np.array_equal(row, cond[index])


def test_mirror_flips_about_half_the_real_images_and_only_when_asked(tmp_path):
    from engine.train.loop import RealImages

    ds = _distinct_images(tmp_path / "ds")
    real = RealImages(ds, 16, torch.device("cpu"), 0)
    flipped = [f for _ in range(4) for _, f in _match(real.batch(32, mirror=True)[0], ds)]
    assert 0.3 < np.mean(flipped) < 0.7
    assert not any(f for _, f in _match(real.batch(64, mirror=False)[0], ds))


def _diverging_run(data, out, nan_from_step, **kw):
    """A run whose losses turn NaN from a given step on (as a real divergence's do)."""
    from engine.train.loop import TrainingRun

    run = TrainingRun(_cfg(data, out, batch_size=4, **kw))
    real_step = run.trainer.step

    def step(batch):
        losses = real_step(batch)
        return {**losses, "loss_g": float("nan")} if run.state.step + 1 >= nan_from_step else losses

    run.trainer.step = step
    return run


def test_divergence_is_reported_within_check_every_steps(toy_dataset, tmp_path):
    run = _diverging_run(toy_dataset, tmp_path / "run", nan_from_step=3, kimg=1.0, check_every=4)
    with pytest.raises(MascotError, match=r"diverged.*loss_g not finite"):
        run.run()
    assert 3 <= run.state.step <= 3 + 4 - 1


def test_divergence_is_reported_at_once_with_check_every_one(toy_dataset, tmp_path):
    run = _diverging_run(toy_dataset, tmp_path / "run", nan_from_step=2, kimg=1.0, check_every=1)
    with pytest.raises(MascotError, match=r"diverged"):
        run.run()
    assert run.state.step == 2


def test_divergence_in_the_last_steps_is_still_reported(toy_dataset, tmp_path):
    # 8 steps in all, checked every 50: the run ends between two checks.
    run = _diverging_run(toy_dataset, tmp_path / "run", nan_from_step=6, kimg=0.032, check_every=50)
    with pytest.raises(MascotError, match=r"diverged"):
        run.run()


def test_a_time_bound_run_ends_its_bar_full_and_snapshots_before_the_end(toy_dataset, tmp_path, monkeypatch):
    import engine.train.loop as loop

    totals, saves = [], []
    real_save = loop.TrainingRun.save
    monkeypatch.setattr(loop, "tqdm", recording_bar(loop.tqdm, totals))
    monkeypatch.setattr(
        loop.TrainingRun, "save", lambda self: (saves.append(self.state.nimg), real_save(self))
    )
    train(_cfg(toy_dataset, tmp_path / "run", kimg=1000.0, snapshot_kimg=1000.0, minutes=0.03))
    during = [t for t in totals if not isinstance(t, tuple)]
    _, n, total = next(t for t in totals if isinstance(t, tuple))
    assert n == total < 1_000_000  # the bar ended at 100 %, not at a sliver of --kimg
    assert during[-1] < 1_000_000  # during the run the total followed the clock
    assert len(saves) >= 2 and saves[0] <= saves[-1]  # a snapshot midway, then the final save


def _ticks(run):
    return [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("mode", ["ada", "diffaugment", "none"])
def test_each_augment_mode_trains_and_is_recorded(toy_dataset, tmp_path, mode):
    run = tmp_path / "run"
    path = train(_cfg(toy_dataset, run, kimg=0.064, tick_kimg=0.032, augment=mode))
    ticks = _ticks(run)
    assert all(np.isfinite(v) for t in ticks for k, v in t.items() if "/" in k)
    assert json.loads((path / "model.json").read_text())["training"]["config"]["augment"] == mode
    assert json.loads((run / "resume.json").read_text())["augment"] == mode
    # ADA's p is logged every tick and drawn on top of the curves; other modes have no p.
    assert ("stat/ada_p" in ticks[-1]) == (mode == "ada")
    assert (curve_keys(ticks)[0] == "stat/ada_p") == (mode == "ada")
    assert (run / "losses.png").stat().st_size > 0


def test_ada_p_survives_a_resume_and_passes_to_a_fine_tune(toy_dataset, tmp_path):
    # 5 steps: p has moved once (every 4 steps) and the next window is open.
    train(_cfg(toy_dataset, tmp_path / "run", kimg=0.080, augment="ada"))
    saved = json.loads((tmp_path / "run" / "resume.json").read_text())["extra"]
    assert saved["ada_steps"] == 1 and saved["ada_rt"] != 0
    resumed = TrainingRun(_cfg(toy_dataset, tmp_path / "run", resume=True))
    assert resumed.cfg.augment == "ada"
    assert resumed.trainer.augment.state() == {k: v for k, v in saved.items() if k.startswith("ada_")}
    child = TrainingRun(_cfg(toy_dataset, tmp_path / "child", init_from=str(tmp_path / "run" / "model")))
    assert child.cfg.augment == "ada" and child.trainer.augment.state() == resumed.trainer.augment.state()


def test_resume_and_fine_tune_keep_the_recorded_mode_and_older_files_the_familys(toy_dataset, tmp_path):
    train(_cfg(toy_dataset, tmp_path / "run", kimg=0.032, augment="none"))  # not dcgan's default
    assert TrainingRun(_cfg(toy_dataset, tmp_path / "run", resume=True)).cfg.augment == "none"
    parent = tmp_path / "run" / "model"
    assert TrainingRun(_cfg(toy_dataset, tmp_path / "child", init_from=str(parent))).cfg.augment == "none"
    explicit = _cfg(toy_dataset, tmp_path / "child", init_from=str(parent), augment="diffaugment")
    assert TrainingRun(explicit).cfg.augment == "diffaugment"
    # A model.json written before the mode was recorded fine-tunes with the family's default.
    older = tmp_path / "older"
    shutil.copytree(parent, older)
    meta = json.loads((older / "model.json").read_text())
    del meta["training"]["config"]["augment"]
    (older / "model.json").write_text(json.dumps(meta))
    assert augment_mode(get_family("dcgan"), _cfg(toy_dataset, tmp_path / "c", init_from=str(older))) == "ada"
    emoji = TrainConfig(family="projected", data=str(toy_dataset), init_from="checkpoints/emoji")
    assert augment_mode(get_family("projected"), emoji) == "diffaugment"


def test_a_new_run_on_pixel_art_at_its_grid_draws_from_the_data_palette(tmp_path):
    data = make_toy_dataset(tmp_path / "pixel", resolution=16, palette=True)
    ck = load_checkpoint(train(_cfg(data, tmp_path / "run")))
    assert ck.meta["arch"]["palette"] == 5
    reqs = [resolve(ck.schema, {}, seed) for seed in range(4)]
    raw = render(ck.G, ck.schema, reqs)  # the generator's own cells, before the served snap
    assert {tuple(c) for c in raw.reshape(-1, 3).tolist()} <= {tuple(c) for c in ck.output.palette.tolist()}


def test_a_few_colour_run_on_pixel_art_draws_each_picture_in_that_many_palette_colours(tmp_path):
    data = make_toy_dataset(tmp_path / "pixel", resolution=16, palette=True)
    ck = load_checkpoint(train(_cfg(data, tmp_path / "run", arch=(*TINY, ("colours_per_image", 3)))))
    assert ck.meta["arch"]["colours_per_image"] == 3 and ck.meta["arch"]["palette"] == 5
    raw = render(ck.G, ck.schema, [resolve(ck.schema, {}, seed) for seed in range(4)])
    for picture in raw:
        cells = {tuple(c) for c in picture.reshape(-1, 3).tolist()}
        assert len(cells) <= 3 and cells <= {tuple(c) for c in ck.output.palette.tolist()}


@pytest.mark.parametrize(
    "palette,resolution,message",
    [
        (True, 32, "'{data}' at 32 px has no palette"),  # a palette set away from its grid
        (False, 16, "'{data}' at 16 px has no palette"),
    ],
)
def test_a_palette_generator_without_that_palette_is_refused(tmp_path, palette, resolution, message):
    data = make_toy_dataset(tmp_path / "set", resolution=16, palette=palette)
    cfg = _cfg(data, tmp_path / "run", resolution=resolution, arch=(*TINY, ("palette", 5)))
    with pytest.raises(MascotError, match=re.escape(message.format(data=data))):
        TrainingRun(cfg)


def test_a_palette_generator_for_another_palette_size_is_refused(tmp_path):
    data = make_toy_dataset(tmp_path / "set", resolution=16, palette=True)
    with pytest.raises(MascotError, match=r"picks among 7 palette colours, but .* at 16 px has 5"):
        TrainingRun(_cfg(data, tmp_path / "run", arch=(*TINY, ("palette", 7))))


def test_a_bar_written_to_a_log_file_redraws_seldom_so_its_lines_stay_short(toy_dataset, tmp_path, capfd):
    # pytest's captured stderr is not a terminal, as a chunk's chunk.log is not
    train(
        _cfg(toy_dataset, tmp_path / "run", kimg=1000.0, tick_kimg=1000.0, snapshot_kimg=1000.0, minutes=0.04)
    )
    err = capfd.readouterr().err
    assert "dcgan" in err  # the bar was drawn ...
    assert err.count("\r") <= 6  # ... at its start and end, not ten times a second for 2.4 s
