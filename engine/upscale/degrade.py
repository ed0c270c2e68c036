"""The generator's defects, applied to clean small renders so the upscaler learns to restore.

Looked at side by side with the flagship's 128px samples (``mascot-engine upscale degrade-sheet``),
its pictures differ from renders in six ways, each drawn here per image with a random
strength: soft edges (Gaussian blur), colour that bleeds across regions (chroma blurred more
than luma), wobbly outlines (a smooth random warp of up to two pixels), blotches of wrong
colour (a smooth random colour field), grain (Gaussian noise), and blocky compression
(JPEG, as pictures are often re-encoded). A clean image stays in the mix too, so the
network does not smear what is already sharp. Broken anatomy (a missing mouth) is the
generator's to fix: no restoration can invent it reliably.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


@dataclass(frozen=True)
class Degradations:
    p_clean: float = 0.1  # images left as rendered
    blur_sigma: tuple[float, float] = (0.2, 1.2)  # in small-side pixels
    bleed_sigma: tuple[float, float] = (0.5, 2.5)  # chroma blur, on top of the blur
    p_bleed: float = 0.7
    # Largest displacement of the smooth warp. Kept under a pixel: the network cannot know where a
    # warped line truly was, and L1 answers that ambiguity with blur.
    warp_px: tuple[float, float] = (0.0, 0.75)
    blotch: tuple[float, float] = (0.0, 0.1)  # amplitude of the smooth colour field, [-1, 1] units
    noise_std: tuple[float, float] = (0.0, 0.05)  # in [-1, 1] units
    p_jpeg: float = 0.4
    jpeg_quality: tuple[int, int] = (55, 95)


def _uniform(gen: torch.Generator, lo_hi: tuple[float, float], n: int) -> torch.Tensor:
    lo, hi = lo_hi
    return lo + (hi - lo) * torch.rand(n, generator=gen)


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Each image blurred with its own sigma (a separable kernel, reflect-padded)."""
    b, c, h, w = x.shape
    radius = int(torch.ceil(3 * sigma.max()).clamp(min=1))
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (offsets[None] / sigma.clamp(min=1e-3)[:, None].to(x.dtype)) ** 2)
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (b*c, k)
    y = F.pad(x.reshape(1, b * c, h, w), (radius, radius, radius, radius), mode="reflect")
    y = F.conv2d(y, kernel[:, None, None, :], groups=b * c)
    y = F.conv2d(y, kernel[:, None, :, None], groups=b * c)
    return y.reshape(b, c, h, w)


_RGB_TO_YCC = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def colour_bleed(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    ycc = torch.einsum("ij,bjhw->bihw", _RGB_TO_YCC.to(x.dtype), x)
    chroma = gaussian_blur(ycc[:, 1:], sigma)
    ycc = torch.cat([ycc[:, :1], chroma], dim=1)
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(_RGB_TO_YCC).to(x.dtype), ycc)


def smooth_warp(x: torch.Tensor, pixels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Displace pixels by a smooth random field (a 4x4 grid of offsets, upsampled)."""
    b, _, h, w = x.shape
    coarse = torch.randn(b, 2, 4, 4, generator=gen).to(x.dtype)
    field = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True)
    field = field / field.abs().amax(dim=(1, 2, 3), keepdim=True).clamp(min=1e-6)
    field = field * (pixels.to(x.dtype) * 2 / h)[:, None, None, None]
    theta = torch.eye(2, 3, dtype=x.dtype)[None].expand(b, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False) + field.permute(0, 2, 3, 1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def colour_blotches(shape: torch.Size, amplitude: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A smooth random colour field (an 8x8 grid of colours, upsampled) of the given amplitude."""
    b, c, h, w = shape
    coarse = torch.randn(b, c, 8, 8, generator=gen)
    field = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True)
    return (
        field / field.abs().amax(dim=(1, 2, 3), keepdim=True).clamp(min=1e-6) * amplitude[:, None, None, None]
    )


def jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    pixels = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
    back = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    return torch.from_numpy(back.copy()).permute(2, 0, 1).to(x.dtype) / 127.5 - 1


def degrade(x: torch.Tensor, gen: torch.Generator, d: Degradations = Degradations()) -> torch.Tensor:
    """A degraded copy of a batch of clean (B, 3, h, w) images in [-1, 1] (CPU tensors)."""
    n = x.shape[0]
    y = gaussian_blur(x, _uniform(gen, d.blur_sigma, n))
    bleed = torch.rand(n, generator=gen) < d.p_bleed
    y = torch.where(bleed[:, None, None, None], colour_bleed(y, _uniform(gen, d.bleed_sigma, n)), y)
    y = smooth_warp(y, _uniform(gen, d.warp_px, n), gen)
    y = y + colour_blotches(y.shape, _uniform(gen, d.blotch, n), gen).to(y.dtype)
    y = y + _uniform(gen, d.noise_std, n)[:, None, None, None] * torch.randn(y.shape, generator=gen)
    use_jpeg = (torch.rand(n, generator=gen) < d.p_jpeg).tolist()
    qualities = torch.randint(d.jpeg_quality[0], d.jpeg_quality[1] + 1, (n,), generator=gen).tolist()
    y = torch.stack([jpeg(img, q) if use else img for img, use, q in zip(y, use_jpeg, qualities)])
    clean = torch.rand(n, generator=gen) < d.p_clean
    return torch.where(clean[:, None, None, None], x, y.clamp(-1, 1))
