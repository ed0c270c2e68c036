"""Shared fixtures for every test."""

from __future__ import annotations

import pytest

from tests.toydata import make_toy_dataset


@pytest.fixture(scope="session")
def toy_dataset(tmp_path_factory):
    return make_toy_dataset(tmp_path_factory.mktemp("data") / "toy")


@pytest.fixture(scope="session")
def tiny_checkpoint(toy_dataset, tmp_path_factory):
    """A dcgan trained for a few steps on the toy set: a real, loadable checkpoint."""
    from engine.train.config import TrainConfig
    from engine.train.loop import train

    out = tmp_path_factory.mktemp("run") / "tiny"
    cfg = TrainConfig().with_overrides(
        dict(
            family="dcgan",
            data=str(toy_dataset),
            out=str(out),
            kimg=0.064,
            batch_size=16,
            tick_kimg=1,
            snapshot_kimg=1,
            grid_seeds=2,
            arch=(("g_ch", 8), ("d_ch", 8)),
        )
    )
    return train(cfg)


@pytest.fixture(scope="session")
def tiny_pixel_checkpoint(tmp_path_factory):
    """A dcgan trained for a few steps on a 16px toy set with a palette: a pixel-art model."""
    from engine.train.config import TrainConfig
    from engine.train.loop import train

    data = make_toy_dataset(tmp_path_factory.mktemp("data") / "pixel", resolution=16, palette=True)
    cfg = TrainConfig().with_overrides(
        dict(
            family="dcgan",
            data=str(data),
            out=str(tmp_path_factory.mktemp("run") / "pixel"),
            kimg=0.256,  # a palette generator this small draws one flat colour before that
            batch_size=16,
            tick_kimg=1,
            snapshot_kimg=1,
            grid_seeds=2,
            arch=(("g_ch", 8), ("d_ch", 8)),
        )
    )
    return train(cfg)


@pytest.fixture(scope="session")
def dicebear_small(tmp_path_factory):
    """24 real DiceBear avatars at 32px (node + npm; the npm cache is shared across runs)."""
    from engine.cli import main
    from tests.node import require_node

    require_node()

    out = tmp_path_factory.mktemp("dicebear") / "small"
    assert main(["data", "dicebear", "--count", "24", "--size", "32", "--seed", "3", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def tiny_upscaler(tmp_path_factory):
    """A small x4 upscaler with random weights everywhere (its output is not plain bicubic)."""
    import torch

    from engine.upscale.checkpoint import save_upscaler
    from engine.upscale.model import Upscaler, UpscalerArch

    torch.manual_seed(0)
    model = Upscaler(UpscalerArch(channels=16, blocks=1))
    torch.nn.init.normal_(model.to_pixels.weight, std=0.05)
    out = tmp_path_factory.mktemp("upscaler") / "upscale"
    save_upscaler(out, model)
    return out
