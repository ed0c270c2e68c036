"""One side of a translator: a data set folder's pictures at the translator's side, split once.

Training draws from ``train_idx``; the ``holdout`` pictures, picked by a fixed shuffle, are
only measured on (``measure.py``) and shown in the training previews.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine.data.dataset import Dataset
from engine.errors import MascotError
from engine.pixels import to_tensor

HOLDOUT_SEED = 1234  # the same held-out pictures for every run and measurement


class Domain:
    """One data set folder's pictures as [-1, 1] tensors at the translator's side."""

    def __init__(self, path: str, resolution: int, holdout: int, flag: str) -> None:
        self.path, self.data, self.resolution = path, Dataset(path), resolution
        if len(self.data) <= holdout:
            raise MascotError(
                f"{flag} '{path}' has {len(self.data)} pictures; at least {holdout + 1} are needed "
                f"({holdout} are held out for measuring: lower --holdout)"
            )
        # Held out by a fixed shuffle, not the folder's tail: data sets are written in order
        # (the emoji set ends with 200 skin-tone variants of a few people), and a tail would
        # measure on a handful of subjects.
        order = np.random.default_rng(HOLDOUT_SEED).permutation(len(self.data))
        self.train_idx, self.held_idx = order[:-holdout].tolist(), sorted(order[-holdout:].tolist())
        self.n_train, self.holdout = len(self.train_idx), holdout

    def tensors(self, idx: list[int]) -> torch.Tensor:
        return resize(to_tensor(np.stack([self.data.images[i] for i in idx])), self.resolution)

    def train_batch(self, positions: list[int]) -> torch.Tensor:
        return self.tensors([self.train_idx[p] for p in positions])

    def held_out(self, n: int) -> torch.Tensor:
        return self.tensors(self.held_idx[:n])

    def describe(self) -> dict:
        return {
            "name": Path(self.path).name,
            "path": self.path,
            "fingerprint": self.data.fingerprint,
            "count": len(self.data),
            "resolution": self.data.resolution,
        }


def resize(x: torch.Tensor, side: int) -> torch.Tensor:
    if x.shape[-1] == side and x.shape[-2] == side:
        return x
    return F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False, antialias=True).clamp(
        -1, 1
    )
