"""The held-out pairs the upscaler is judged on, and the plain enlargements it is shown beside.

The last ``holdout`` pairs of a pairs folder are never trained on. They are degraded with a
fixed seed, so every measurement (``measure.py``) and every training preview (``train.py``)
sees the same inputs, next to what nearest-neighbour and Lanczos make of them.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from engine.data.dataset import Dataset
from engine.pixels import to_tensor, to_uint8
from engine.upscale.degrade import degrade

HOLDOUT_SEED = 12345  # the held-out pairs' degradations are the same at every measurement


def held_out(
    small: Dataset, large: Dataset, n: int, holdout: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(clean small, degraded small, clean large) uint8 images of the first n held-out pairs."""
    first = len(small) - holdout
    idx = list(range(first, first + min(n, holdout)))
    clean = np.stack([small.images[i] for i in idx])
    degraded = to_uint8(degrade(to_tensor(clean), torch.Generator().manual_seed(HOLDOUT_SEED)))
    return clean, degraded, np.stack([large.images[i] for i in idx])


def lanczos(images: np.ndarray, size: int) -> np.ndarray:
    return np.stack([np.asarray(Image.fromarray(img).resize((size, size), Image.LANCZOS)) for img in images])


def nearest(images: np.ndarray, size: int) -> np.ndarray:
    return np.stack([np.asarray(Image.fromarray(img).resize((size, size), Image.NEAREST)) for img in images])
