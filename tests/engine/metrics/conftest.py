"""Test helpers for the metrics: varied synthetic images, damage to apply to them, and
fake generators with known behaviour (obeys its conditioning / ignores it / copies)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

from tests.toydata import HAIR_RGB, TOY_SCHEMA


@pytest.fixture(autouse=True)
def metrics_cache(tmp_path, monkeypatch) -> Path:
    """Every test gets its own empty cache: no test can pass because of another's files."""
    root = tmp_path / "cache"
    monkeypatch.setenv("MASCOT_CACHE", str(root))
    return root / "metrics"


def blob_images(n: int, res: int = 32, seed: int = 0) -> np.ndarray:
    """Random coloured ellipses on random pale backgrounds: a varied image distribution."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:res, :res]
    out = np.empty((n, res, res, 3), np.uint8)
    for i in range(n):
        img = np.ones((res, res, 3)) * rng.uniform(150, 255, 3)
        for _ in range(3):
            cy, cx = rng.uniform(0, res, 2)
            ry, rx = rng.uniform(res / 8, res / 3, 2)
            mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
            img[mask] = rng.uniform(0, 255, 3)
        out[i] = img.astype(np.uint8)
    return out


def box_blur(images: np.ndarray, radius: int) -> np.ndarray:
    """Blur with a (2r+1)^2 box filter: damage that grows with ``radius``."""
    if radius == 0:
        return images.copy()
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    k = 2 * radius + 1
    x = nn.functional.avg_pool2d(nn.functional.pad(x, (radius,) * 4, mode="replicate"), k, stride=1)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def colour_shift(images: np.ndarray, amount: int) -> np.ndarray:
    """Push red up and blue down by ``amount`` levels."""
    x = images.astype(np.int16)
    x[..., 0] += amount
    x[..., 2] -= amount
    return x.clip(0, 255).astype(np.uint8)


def toy_image(hair: int, smile: int, res: int, jitter: float) -> torch.Tensor:
    """The toy data set's drawing (tests/toydata.py), in [-1, 1], with a little brightness jitter."""
    img = np.full((res, res, 3), 255.0)
    q = res // 4
    img[q : 3 * q, q : 3 * q] = HAIR_RGB[["red", "green", "blue"][hair]]
    if smile:
        img[3 * q + 1 :, q : 3 * q] = 0
    img = np.clip(img * (1 + 0.05 * jitter), 0, 255)
    return torch.from_numpy(img / 127.5 - 1).permute(2, 0, 1).float()


class ToyGenerator(nn.Module):
    """Draws toy images. ``mode``: "obey" follows c, "ignore" picks hair/smile from z instead."""

    def __init__(self, mode: str, res: int = 32) -> None:
        super().__init__()
        self.mode, self.res, self.z_dim = mode, res, 8
        self.anchor = nn.Parameter(torch.zeros(()))  # render() reads the dtype off the parameters

    def forward(self, z: torch.Tensor, c: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        out = []
        for zi, ci in zip(z, c):
            if self.mode == "obey":
                hair, smile = int(ci[:3].argmax()), int(ci[3:5].argmax())
            else:
                hair, smile = int(torch.bucketize(zi[0], torch.tensor([-0.43, 0.43]))), int(zi[1] > 0)
            out.append(toy_image(hair, smile, self.res, float(zi[2].clamp(-1, 1))))
        return torch.stack(out)


class CopyGenerator(nn.Module):
    """A "generator" that hands back training images: image ``seed % N`` of the set."""

    def __init__(self, images: np.ndarray) -> None:
        super().__init__()
        self.images = torch.from_numpy(np.asarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1
        self.z_dim = 4
        self.anchor = nn.Parameter(torch.zeros(()))  # render() reads the dtype off the parameters

    def forward(self, z: torch.Tensor, c: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        # The latent of a seed is fixed, so hash it to an index: same seed, same image.
        idx = (z[:, 0].abs() * 1e6).long() % len(self.images)
        return self.images[idx]


def fake_checkpoint(G: nn.Module, schema=TOY_SCHEMA, res: int = 32, path: str = "fake"):
    from engine.checkpoint import Checkpoint

    meta = {"version": f"fake-{path}", "family": "fake", "resolution": res, "metrics": {}}
    return Checkpoint(G.eval(), meta, schema, Path(path))
