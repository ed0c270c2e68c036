"""The CUDA path of the loop (bf16 autocast, channels_last) for every family: runs only where a GPU is.

CI has no GPU, so these skip there; they run on the device machine with
``python -m pytest -q tests/engine/train/test_cuda.py``.
"""

import json

import numpy as np
import pytest
import torch

from engine.checkpoint import load_checkpoint
from engine.models import FAMILY_NAMES
from engine.sampling import render, resolve
from engine.train.config import TrainConfig
from engine.train.loop import train
from tests.engine.train.test_families import TINY, _train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_family_trains_in_bf16_on_cuda_and_serves_on_cpu(family, toy_dataset, tmp_path):
    path = _train(family, toy_dataset, tmp_path / "run", device="cuda", precision="bf16")
    ticks = [json.loads(line) for line in (tmp_path / "run" / "stats.jsonl").read_text().splitlines()]
    assert all(np.isfinite(v) for t in ticks for k, v in t.items() if "/" in k)
    ck = load_checkpoint(path, device="cpu")
    pixels = render(ck.G, ck.schema, [resolve(ck.schema, {"hair": "blue"}, s) for s in (1, 2)])
    assert pixels.shape[0] == 2 and pixels.std() > 0  # a trained generator, not a constant


def test_resume_on_cuda_continues_from_the_saved_kimg(toy_dataset, tmp_path):
    base = dict(
        family="projected",
        data=str(toy_dataset),
        out=str(tmp_path / "run"),
        batch_size=16,
        tick_kimg=0.032,
        snapshot_kimg=0.032,
        grid_seeds=2,
        arch=TINY["projected"],
        device="cuda",
    )
    train(TrainConfig().with_overrides({**base, "kimg": 0.032}))
    path = train(TrainConfig().with_overrides({**base, "kimg": 0.064, "resume": True}))
    assert json.loads((path / "model.json").read_text())["training"]["kimg"] == pytest.approx(0.064)


def test_r1_through_ada_geometry_differentiates_twice_on_cuda():
    # The bug this guards: CUDA's grid_sample has no double backward, so stylegan2's R1 with
    # ADA's geometric augmentations on (p > 0) raised once p left zero.
    from engine.augment.ada import AugmentPipe

    real = (torch.rand(4, 3, 32, 32, device="cuda") * 2 - 1).requires_grad_(True)
    out = AugmentPipe("bgc")(real, p=1.0)
    (grads,) = torch.autograd.grad(out.square().sum(), real, create_graph=True)
    grads.square().sum().backward()
    assert torch.isfinite(real.grad).all()
