import json
import re
import shutil

import numpy as np
import pytest
import torch

from engine.checkpoint import CheckpointError, load_checkpoint, save_generator
from engine.errors import MascotError
from engine.sampling import render, resolve


@pytest.fixture
def ckpt_copy(tiny_checkpoint, tmp_path):
    return shutil.copytree(tiny_checkpoint, tmp_path / "ckpt")


def test_loads_eval_mode_with_schema(tiny_checkpoint):
    ckpt = load_checkpoint(tiny_checkpoint)
    assert not ckpt.G.training
    assert ckpt.schema.names == ("hair", "smile")
    assert ckpt.version.startswith("dcgan-")


def test_truncated_weights_are_refused(ckpt_copy):
    w = ckpt_copy / "model.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(ckpt_copy)


def test_mismatched_architecture_is_refused(ckpt_copy):
    meta = json.loads((ckpt_copy / "model.json").read_text())
    meta["arch"]["g_ch"] = 16
    (ckpt_copy / "model.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="do not fit the network"):
        load_checkpoint(ckpt_copy)


@pytest.mark.parametrize(
    "arch,message",
    [
        ({"g_ch": "8"}, "model.json's arch g_ch takes a whole number, got '8'"),
        ({"g_ch": 8.0}, "g_ch takes a whole number, got 8.0"),
        ({"z_dim": 128, "g_wide": True}, "unknown model.json's arch setting(s) g_wide for dcgan"),
        ([8, 8], "model.json's arch must be a table of settings, got list"),
    ],
)
def test_an_arch_value_of_the_wrong_type_is_refused(ckpt_copy, arch, message):
    meta = json.loads((ckpt_copy / "model.json").read_text())
    meta["arch"] = {**meta["arch"], **arch} if isinstance(arch, dict) else arch
    (ckpt_copy / "model.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=re.escape(message)):
        load_checkpoint(ckpt_copy)


@pytest.mark.parametrize("damage", ["not json", "{}", '{"format_version": 99}'])
def test_damaged_json_is_refused(ckpt_copy, damage):
    (ckpt_copy / "model.json").write_text(damage)
    with pytest.raises(CheckpointError):
        load_checkpoint(ckpt_copy)


def test_missing_folder_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path)


def test_unknown_family_is_refused(ckpt_copy):
    meta = json.loads((ckpt_copy / "model.json").read_text())
    meta["family"] = "pickled"
    (ckpt_copy / "model.json").write_text(json.dumps(meta))
    with pytest.raises(MascotError, match="unknown model family"):
        load_checkpoint(ckpt_copy)


def test_half_precision_round_trip(tiny_checkpoint, tmp_path):
    ckpt = load_checkpoint(tiny_checkpoint)
    meta = ckpt.meta
    from engine.models import get_family

    arch = get_family("dcgan").Arch(**meta["arch"])
    save_generator(
        tmp_path / "half",
        ckpt.G,
        family="dcgan",
        arch=arch,
        c_dim=meta["c_dim"],
        resolution=meta["resolution"],
        schema=ckpt.schema,
        half=True,
    )
    half = load_checkpoint(tmp_path / "half")
    assert (tmp_path / "half" / "model.safetensors").stat().st_size < (
        tiny_checkpoint / "model.safetensors"
    ).stat().st_size
    assert next(half.G.parameters()).dtype == torch.float32  # served in float32
    reqs = [resolve(ckpt.schema, {}, 5)]
    diff = np.abs(
        render(ckpt.G, ckpt.schema, reqs).astype(int) - render(half.G, half.schema, reqs).astype(int)
    )
    assert diff.max() <= 3


def test_no_pickle_anywhere_in_the_folder(tiny_checkpoint):
    names = sorted(p.name for p in tiny_checkpoint.iterdir())
    assert names == ["discriminator.safetensors", "model.json", "model.safetensors"]


def test_export_half_is_loadable_and_readable_by_others(tiny_checkpoint, tmp_path):
    from engine.cli import main

    assert (
        main(["export", "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "ship"), "--half"]) == 0
    )
    shipped = load_checkpoint(tmp_path / "ship")
    assert shipped.meta["weights_dtype"] == "float16"
    assert shipped.meta["exported_from"] == load_checkpoint(tiny_checkpoint).version
    assert (tmp_path / "ship").stat().st_mode & 0o777 == 0o755


def test_export_carries_the_metrics_of_its_own_report_only(tiny_checkpoint, tmp_path, capsys):
    import json

    from engine.cli import main
    from engine.metrics.report import compare_markdown

    version = load_checkpoint(tiny_checkpoint).version
    report = tmp_path / "eval"
    report.mkdir()
    body = {"model_version": version, "samples": 64, "metrics": {"kid_effl0": {"kid": 0.0123}}}
    (report / "report.json").write_text(json.dumps(body))
    args = [
        "export",
        "--checkpoint",
        str(tiny_checkpoint),
        "--out",
        str(tmp_path / "ship"),
        "--report",
        str(report),
    ]
    assert main(args) == 0
    meta = json.loads((tmp_path / "ship" / "model.json").read_text())
    assert meta["metrics"]["kid_effl0"]["kid"] == 0.0123 and meta["evaluation"]["samples"] == 64
    assert "| samples | 64 |" in compare_markdown([tmp_path / "ship"])
    (report / "report.json").write_text(json.dumps({**body, "model_version": "dcgan-other"}))
    assert main([*args[:3], "--out", str(tmp_path / "ship2"), "--report", str(report)]) == 2
    assert "evaluates dcgan-other, not this checkpoint" in capsys.readouterr().err


def test_export_carries_the_posted_report_beside_the_one_at_its_own_size(tiny_checkpoint, tmp_path, capsys):
    from engine.cli import main

    version = load_checkpoint(tiny_checkpoint).version
    own, posted = tmp_path / "eval", tmp_path / "eval-posted"
    for folder, body in (
        (own, {"samples": 64, "metrics": {"memorization": {"near_copy_fraction": 0.0}}}),
        (posted, {"samples": 32, "size": 512, "protocol": "posted", "metrics": {"prc": {"precision": 0.3}}}),
    ):
        folder.mkdir()
        (folder / "report.json").write_text(json.dumps({"model_version": version, **body}))
    ship = tmp_path / "ship"
    flags = ["export", "--checkpoint", str(tiny_checkpoint), "--out", str(ship), "--half"]
    assert main([*flags, "--report", str(posted), "--report", str(own)]) == 0
    meta = json.loads((ship / "model.json").read_text())
    assert meta["metrics"] == {"memorization": {"near_copy_fraction": 0.0}}
    assert meta["posted"]["metrics"]["prc"]["precision"] == 0.3
    assert meta["posted"]["evaluation"]["size"] == 512 and meta["evaluation"]["samples"] == 64
    assert load_checkpoint(ship).meta["posted"] == meta["posted"]  # a known, validated field
    again = [*flags[:4], str(tmp_path / "ship2"), "--report", str(posted), "--report", str(posted)]
    assert main(again) == 2
    assert "two reports for model.json's 'posted'" in capsys.readouterr().err
    meta["posted"] = [0.3]
    (ship / "model.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="posted must hold"):
        load_checkpoint(ship)


def test_a_corrupt_discriminator_is_refused_and_export_carries_it(ckpt_copy, tmp_path):
    from safetensors.torch import load_file

    from engine.checkpoint import export_checkpoint, load_discriminator

    meta = json.loads((ckpt_copy / "model.json").read_text())
    assert meta["discriminator_sha256"]
    out = export_checkpoint(ckpt_copy, tmp_path / "half", half=True)
    half = load_file(tmp_path / "half" / "discriminator.safetensors")
    assert out["discriminator_sha256"] and all(
        v.dtype == torch.float16 for v in half.values() if v.is_floating_point()
    )
    with pytest.raises(CheckpointError, match="does not fit"):
        load_discriminator(ckpt_copy, torch.nn.Linear(1, 1))
    path = ckpt_copy / "discriminator.safetensors"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="does not match the hash"):
        load_discriminator(ckpt_copy, torch.nn.Linear(1, 1))
    (ckpt_copy / "model.json").write_text(
        json.dumps({k: v for k, v in meta.items() if k != "discriminator_sha256"})
    )
    assert load_discriminator(ckpt_copy, torch.nn.Linear(1, 1)) is None  # none recorded: a fresh D


def _record_discriminator(folder, D: torch.nn.Module) -> None:
    from engine.checkpoint import _write_discriminator

    meta = json.loads((folder / "model.json").read_text())
    meta["discriminator_sha256"] = _write_discriminator(D.state_dict(), folder, half=False)
    (folder / "model.json").write_text(json.dumps(meta))


def test_a_discriminator_part_the_parent_lacks_starts_fresh_and_a_reshaped_one_is_refused(ckpt_copy):
    from engine.checkpoint import load_discriminator

    parent = torch.nn.Sequential(torch.nn.Linear(2, 3))
    _record_discriminator(ckpt_copy, parent)
    grown = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    assert load_discriminator(ckpt_copy, grown) == (["1"], [])
    assert torch.equal(grown[0].weight, parent[0].weight)
    assert load_discriminator(ckpt_copy, torch.nn.Sequential(torch.nn.Linear(2, 3))) == ([], [])
    with pytest.raises(CheckpointError, match=r"0.bias is \(3,\) there, \(4,\) here"):
        load_discriminator(ckpt_copy, torch.nn.Sequential(torch.nn.Linear(2, 4)))


def test_a_part_only_the_parent_discriminator_has_is_reported_unused(ckpt_copy):
    from engine.checkpoint import load_discriminator

    _record_discriminator(ckpt_copy, torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1)))
    shrunk = torch.nn.Sequential(torch.nn.Linear(2, 3))
    assert load_discriminator(ckpt_copy, shrunk) == ([], ["1"])


# --- compact resume points ------------------------------------------------------

PROJECTED_TINY = (("g_channels", 16), ("d_channels", 16), ("d_input", 32))


def _projected_cfg(data, out, **overrides):
    from engine.train.config import TrainConfig

    base = dict(
        family="projected",
        data=str(data),
        out=str(out),
        kimg=0.008,
        batch_size=4,
        tick_kimg=1,
        snapshot_kimg=1,
        grid_seeds=2,
        arch=PROJECTED_TINY,
        seed=0,
    )
    return TrainConfig().with_overrides({**base, **overrides})


@pytest.fixture(scope="module")
def projected_run(toy_dataset, tmp_path_factory):
    """A projected run of two steps: its resume pair holds Adam moments for G and D."""
    from engine.train.loop import train

    out = tmp_path_factory.mktemp("projected") / "run"
    train(_projected_cfg(toy_dataset, out))
    return out


@pytest.fixture(scope="module")
def compact(projected_run, tmp_path_factory):
    from engine.checkpoint import compact_resume

    return compact_resume(projected_run, tmp_path_factory.mktemp("compact") / "resume")


def test_compact_resume_is_smaller_bf16_and_without_optimizer_state(projected_run, compact):
    from safetensors.torch import load_file

    full, small = load_file(projected_run / "resume.safetensors"), load_file(compact / "resume.safetensors")
    assert any(k.startswith("opt_") for k in full)  # the test can fail: the full point has them
    assert not any(k.startswith("opt_") for k in small)
    assert small.keys() == {k for k in full if not k.startswith("opt_")}
    assert all(v.dtype == torch.bfloat16 for v in small.values() if v.is_floating_point())
    assert all(v.dtype == full[k].dtype for k, v in small.items() if not v.is_floating_point())
    sizes = [(folder / "resume.safetensors").stat().st_size for folder in (compact, projected_run)]
    assert sizes[0] < sizes[1]
    meta, full_meta = (json.loads((d / "resume.json").read_text()) for d in (compact, projected_run))
    assert meta["optimizers"] == {} and "compact" in meta
    assert meta["state"] == full_meta["state"] and meta["arch"] == full_meta["arch"]


def test_compact_weights_are_the_full_ones_rounded_to_bf16(projected_run, compact):
    from safetensors.torch import load_file

    full, small = load_file(projected_run / "resume.safetensors"), load_file(compact / "resume.safetensors")
    for key, value in small.items():
        if value.is_floating_point():
            assert torch.equal(value, full[key].to(torch.bfloat16)), key


def test_a_run_resumes_from_a_compact_point(toy_dataset, projected_run, compact, tmp_path):
    from safetensors.torch import load_file

    from engine.train.loop import TrainingRun

    run = shutil.copytree(projected_run / "model", tmp_path / "run" / "model").parent
    for name in ("resume.safetensors", "resume.json"):
        shutil.copy(compact / name, run / name)
    saved = json.loads((compact / "resume.json").read_text())["state"]

    resumed = TrainingRun(_projected_cfg(toy_dataset, run, kimg=0.012, resume=True, arch=()))
    assert resumed.state.nimg == saved["nimg"] == 8
    assert all(not opt.state for opt in resumed.trainer.optimizers().values())  # the moments start afresh
    weights = load_file(compact / "resume.safetensors")
    assert all(torch.equal(v, weights[f"G.{k}"].float()) for k, v in resumed.G.state_dict().items())

    path = resumed.run()
    assert json.loads((path / "model.json").read_text())["training"]["kimg"] == pytest.approx(0.012)
    after = json.loads((run / "resume.json").read_text())
    assert after["state"]["nimg"] == 12 and after["state"]["step"] == saved["step"] + 1
    assert set(after["optimizers"]) == {"opt_g", "opt_d"}  # a full point again once it has trained


def test_saved_optimizer_device_options_give_way_to_the_current_ones():
    from engine.checkpoint import flatten_optimizer, unflatten_optimizer

    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 2)
    saved_opt = torch.optim.Adam(layer.parameters(), lr=1e-3, betas=(0.0, 0.99), foreach=True)
    layer(torch.randn(4, 3)).sum().backward()
    saved_opt.step()
    tensors, meta = flatten_optimizer("opt", saved_opt)
    assert meta["param_groups"][0]["foreach"] is True

    here = torch.optim.Adam(layer.parameters(), lr=5.0, foreach=False)
    unflatten_optimizer("opt", here, tensors, meta)
    assert here.param_groups[0]["foreach"] is False  # how this machine runs Adam
    assert here.param_groups[0]["lr"] == 1e-3  # what was trained with
    assert here.param_groups[0]["betas"] == (0.0, 0.99)
    saved_state = saved_opt.state_dict()["state"]
    for idx, slots in here.state_dict()["state"].items():
        for key, value in slots.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(saved_state[idx][key]))


def _declare_output(folder, output) -> None:
    meta = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**meta, "output": output}))


def test_a_declared_pixel_output_is_loaded_with_its_palette(ckpt_copy):
    _declare_output(ckpt_copy, {"grid": 32, "palette": ["#000000", "#ffffff"]})
    output = load_checkpoint(ckpt_copy).output
    assert output.grid == 32 and output.palette.tolist() == [[0, 0, 0], [255, 255, 255]]


def test_a_model_without_a_declared_output_has_none(tiny_checkpoint):
    assert load_checkpoint(tiny_checkpoint).output is None


@pytest.mark.parametrize(
    "output, message",
    [
        ({"grid": 16, "palette": ["#000000"]}, "must be the model's resolution 32"),
        ({"grid": 32, "palette": ["black"]}, "holds 'black'"),
        ({"grid": 32, "palette": []}, "list of 1 to 4096 colours"),
        ("pixels", "must be an object"),
    ],
)
def test_a_bad_pixel_output_is_refused_naming_the_file(ckpt_copy, output, message):
    _declare_output(ckpt_copy, output)
    with pytest.raises(CheckpointError, match=re.escape(message)) as err:
        load_checkpoint(ckpt_copy)
    assert str(ckpt_copy / "model.json") in str(err.value) and "\n" not in str(err.value)


@pytest.fixture
def few_colour_checkpoint(tiny_checkpoint, tmp_path):
    """A pixel-art generator drawing each picture in a few palette colours (untrained)."""
    from engine.models.dcgan import Arch, Generator

    ckpt = load_checkpoint(tiny_checkpoint)
    arch = Arch(g_ch=8, d_ch=8, max_ch=16, palette=5, colours_per_image=3)
    G = Generator(arch, ckpt.schema.dim, 16).eval()
    G.head.palette.fill(torch.tensor([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]))
    torch.nn.init.normal_(G.head.colours[2].weight, std=1.0)  # a picture's colours apart, as once trained
    torch.nn.init.normal_(G.net[-1].weight, std=1.0)  # and cells that disagree with their neighbours
    save_generator(
        tmp_path / "few",
        G,
        family="dcgan",
        arch=arch,
        c_dim=ckpt.schema.dim,
        resolution=16,
        schema=ckpt.schema,
    )
    return tmp_path / "few"


def test_export_serve_sets_the_cell_vote_and_names_a_new_version(few_colour_checkpoint, tmp_path):
    from engine.cli import main

    plain = load_checkpoint(few_colour_checkpoint)
    assert main(["export", "--checkpoint", str(few_colour_checkpoint), "--out", str(tmp_path / "vote"),
                 "--serve", "cell_vote=0.1"]) == 0  # fmt: skip
    voted = load_checkpoint(tmp_path / "vote")
    assert (
        voted.meta["arch"]["cell_vote"] == 0.1
        and voted.meta["weights_sha256"] == plain.meta["weights_sha256"]
    )
    assert voted.version != plain.version  # the same weights draw other pictures
    requests = [resolve(plain.schema, {}, seed) for seed in range(8)]
    assert not np.array_equal(
        render(plain.G, plain.schema, requests), render(voted.G, voted.schema, requests)
    )
    # Exported again as it is, it keeps the version its pictures were measured under.
    assert main(["export", "--checkpoint", str(tmp_path / "vote"), "--out", str(tmp_path / "again")]) == 0
    assert load_checkpoint(tmp_path / "again").version == voted.version


@pytest.mark.parametrize(
    "serve,message",
    [
        (
            "g_ch=4",
            "sets only how a dcgan model's weights are served (cell_vote); g_ch would need the network",
        ),
        ("cell_vote=0.2", "cell_vote takes 0 to under 0.125, got 0.2"),
        ("cell_vote", "--serve takes KEY=VALUE (e.g. --serve cell_vote=0.1), got 'cell_vote'"),
    ],
)
def test_export_serve_refuses_what_is_not_a_served_setting(
    few_colour_checkpoint, tmp_path, capsys, serve, message
):
    from engine.cli import main

    assert main(["export", "--checkpoint", str(few_colour_checkpoint), "--out", str(tmp_path / "x"),
                 "--serve", serve]) == 2  # fmt: skip
    assert message in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_export_serve_with_a_report_is_refused(few_colour_checkpoint, tmp_path):
    from engine.checkpoint import export_checkpoint

    with pytest.raises(MascotError, match="evaluate the copy, then export the copy with its --report"):
        export_checkpoint(few_colour_checkpoint, tmp_path / "x", report=tmp_path, serve={"cell_vote": 0.1})
