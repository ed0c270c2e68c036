"""Corrupt and oversized checkpoints are refused with one line, before anything large is allocated."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file

from engine.checkpoint import file_sha256, load_checkpoint
from engine.checkpoint_bounds import planned_state
from engine.errors import MascotError
from engine.models import FAMILY_NAMES, get_family


@pytest.fixture
def copy(tiny_checkpoint, tmp_path):
    return shutil.copytree(tiny_checkpoint, tmp_path / "ck")


def _edit_meta(folder, **changes):
    meta = json.loads((folder / "model.json").read_text())
    for key, value in changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    (folder / "model.json").write_text(json.dumps(meta))
    return meta


def _edit_weights(folder, change):
    state = {
        k: change(v.clone()) if v.is_floating_point() else v
        for k, v in load_file(folder / "model.safetensors").items()
    }
    save_file(state, folder / "model.safetensors")
    _edit_meta(folder, weights_sha256=file_sha256(folder / "model.safetensors"))


def _refused(folder, words):
    with pytest.raises(MascotError) as exc:
        load_checkpoint(folder)
    assert words in str(exc.value), str(exc.value)
    assert "\n" not in str(exc.value)


def test_the_tiny_checkpoint_still_loads(copy):
    assert load_checkpoint(copy).version


def test_a_model_json_without_version_is_refused(copy):
    _edit_meta(copy, version=None)
    _refused(copy, 'needs a "version"')


@pytest.mark.parametrize("version", ["bad\x00name", "", "a/b", "x" * 65, 5, "é"])
def test_a_version_that_is_not_short_printable_text_is_refused(copy, version):
    _edit_meta(copy, version=version)
    _refused(copy, 'needs a "version"')


def test_unknown_fields_are_refused(copy):
    _edit_meta(copy, colour="blue")
    _refused(copy, "fields this engine does not know")


@pytest.mark.parametrize("resolution", [2**30, 0, 100, 2048, "64", 64.0])
def test_resolution_out_of_bounds_is_refused(copy, resolution):
    _edit_meta(copy, resolution=resolution)
    _refused(copy, "resolution must be one of")


def test_an_architecture_asking_for_gigabytes_is_refused_before_allocating(copy):
    meta = json.loads((copy / "model.json").read_text())
    _edit_meta(copy, arch={**meta["arch"], "g_ch": 60_000, "max_ch": 60_000})  # gigabytes of weights
    _refused(copy, "a generator may have at most")


def test_an_architecture_value_past_the_bound_is_refused(copy):
    meta = json.loads((copy / "model.json").read_text())
    _edit_meta(copy, arch={**meta["arch"], "g_ch": 10**12})
    _refused(copy, "architecture values are")


def test_a_truncated_weights_file_is_refused(copy):
    data = (copy / "model.safetensors").read_bytes()
    (copy / "model.safetensors").write_bytes(data[: len(data) - 100])
    _edit_meta(copy, weights_sha256=file_sha256(copy / "model.safetensors"))  # even with a matching hash
    _refused(copy, "corrupt (truncated or padded)")


def test_a_reshaped_tensor_is_refused_by_the_header(copy):
    state = load_file(copy / "model.safetensors")
    name = next(k for k, v in state.items() if v.dim() >= 2)
    state[name] = torch.zeros(3, 3)
    save_file(state, copy / "model.safetensors")
    _edit_meta(copy, weights_sha256=file_sha256(copy / "model.safetensors"))
    _refused(copy, "do not fit the network")


def test_a_garbage_header_is_refused(copy):
    (copy / "model.safetensors").write_bytes(b"\xff" * 64)
    _edit_meta(copy, weights_sha256=file_sha256(copy / "model.safetensors"))
    with pytest.raises(MascotError):
        load_checkpoint(copy)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_planning_gives_each_family_the_shapes_it_builds(family):
    fam = get_family(family)
    build = lambda: fam.Generator(fam.Arch(), 5, 64)
    assert planned_state(build) == {k: tuple(v.shape) for k, v in build().state_dict().items()}


def test_planning_a_network_does_not_load_the_compiler(tmp_path):
    # Torch's reference kernels for meta tensors import torch._dynamo on first use: seconds of
    # engine start-up spent on a compiler serving never runs.
    code = (
        "import sys\n"
        "from engine.checkpoint_bounds import planned_state\n"
        "from engine.models import FAMILY_NAMES, get_family\n"
        "for name in FAMILY_NAMES:\n"
        "    fam = get_family(name)\n"
        "    planned_state(lambda: fam.Generator(fam.Arch(), 5, 64))\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
