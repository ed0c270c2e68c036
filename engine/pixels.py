"""Pictures as uint8 arrays and as the networks' [-1, 1] tensors: one conversion each way.

Every network here (generators, the upscale stage, the translators) reads and writes
(N, 3, H, W) floats in [-1, 1]; files, metrics and the service hold (N, H, W, 3) uint8.
Rounding happens here only, so the same tensor gives the same bytes wherever it is saved.
"""

from __future__ import annotations

import numpy as np
import torch


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, H, W) in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) in [-1, 1] -> (N, H, W, 3) uint8, rounding the same way everywhere."""
    x = (images.detach().float().clamp(-1, 1) + 1) * 127.5
    return x.round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
