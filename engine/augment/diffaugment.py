"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training").

The same family of random, differentiable transforms is applied to real *and* fake images
before the discriminator, in both the D and the G step, so D cannot memorise a small
training set and G still receives gradients through the augmentation (§3). The three
policies are the paper's: ``color`` (brightness, saturation, contrast), ``translation``
(1/8 of the image, zero fill) and ``cutout`` (a square of half the side, zero fill).

Every sample draws its own parameters (vectorised, no Python loop over the batch).
Images are expected in [-1, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")


def _uniform(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    return torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).uniform_(low, high)


def rand_brightness(x: torch.Tensor) -> torch.Tensor:
    return x + _uniform(x, -0.5, 0.5)


def rand_saturation(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * _uniform(x, 0.0, 2.0) + mean


def rand_contrast(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * _uniform(x, 0.5, 1.5) + mean


def rand_color(x: torch.Tensor) -> torch.Tensor:
    return rand_contrast(rand_saturation(rand_brightness(x)))


def _pixel_index(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    h, w = x.shape[2:]
    iy = torch.arange(h, device=x.device).view(1, h, 1)
    ix = torch.arange(w, device=x.device).view(1, 1, w)
    return iy, ix


def rand_translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by an integer offset up to ``ratio`` of its side; vacated pixels are 0."""
    b, c, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sy, sy + 1, (b, 1, 1), device=x.device)
    tx = torch.randint(-sx, sx + 1, (b, 1, 1), device=x.device)
    iy, ix = _pixel_index(x)
    # Read from a 1-pixel zero border: indices clamped to it give the zero fill.
    src_y = (iy + ty + 1).clamp(0, h + 1)
    src_x = (ix + tx + 1).clamp(0, w + 1)
    padded = F.pad(x, (1, 1, 1, 1))
    flat = (src_y * (w + 2) + src_x).view(b, 1, h * w).expand(b, c, h * w)
    return padded.flatten(2).gather(2, flat).view(b, c, h, w)


def rand_cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero one square of ``ratio`` x side at a random place (it may hang over the border)."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device)
    ox = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device)
    iy, ix = _pixel_index(x)
    ry, rx = iy - oy + ch // 2, ix - ox + cw // 2  # position inside the square
    inside = (ry >= 0) & (ry < ch) & (rx >= 0) & (rx < cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


_OPS = {"color": rand_color, "translation": rand_translation, "cutout": rand_cutout}


def parse_policy(policy: str) -> tuple[str, ...]:
    """``"color,translation,cutout"`` -> the ops in order; unknown names are refused."""
    names = tuple(p.strip() for p in policy.split(",") if p.strip())
    unknown = [n for n in names if n not in _OPS]
    if unknown:
        raise ValueError(f"unknown DiffAugment policies {unknown}; known: {', '.join(POLICIES)}")
    return names


def diff_augment(x: torch.Tensor, policy: str = "color,translation,cutout") -> torch.Tensor:
    """Apply the comma-separated ``policy`` to a batch (B, C, H, W); "" is the identity."""
    for name in parse_policy(policy):
        x = _OPS[name](x)
    return x.contiguous()
