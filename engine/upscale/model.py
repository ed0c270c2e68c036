"""A small residual restoration network with pixel-shuffle upsampling (ESRGAN's shape, sized
for a 2-core CPU).

The body works at half the input's resolution (pixel-unshuffle, as Real-ESRGAN does for its
x2 model): four times fewer positions for the same receptive field. One pixel shuffle then
draws each output block from the body's features, and the network only adds a residual to
a bicubic enlargement of its input, so an untrained network already serves a plain upscale.
Everything is per-pixel-local and batch-independent: no normalisation layers, so an image's
output never depends on its batch-mates.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.data.pairs import SCALES
from engine.errors import MascotError


@dataclass(frozen=True)
class UpscalerArch:
    scale: int = 4  # output side / input side
    channels: int = 32  # width of the body (a multiple of 16: oneDNN's fast CPU kernels)
    blocks: int = 6  # residual blocks in the body
    unshuffle: int = 2  # the body runs at input side / unshuffle

    def validate(self) -> UpscalerArch:
        if self.scale not in SCALES or self.unshuffle not in (1, 2):
            raise MascotError(
                f"upscaler scale must be 2, 4 or 8 and unshuffle 1 or 2, got {self.scale}, {self.unshuffle}"
            )
        if not (4 <= self.channels <= 256 and 1 <= self.blocks <= 32):
            raise MascotError(
                f"upscaler channels must be 4..256 and blocks 1..32, got {self.channels}, {self.blocks}"
            )
        return self

    def to_json(self) -> dict:
        return asdict(self)


class ResidualBlock(nn.Module):
    """conv -> LeakyReLU -> conv, added back at a small scale (EDSR's residual scaling keeps
    a deep stack stable without normalisation)."""

    def __init__(self, channels: int, res_scale: float = 0.2) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.conv2(F.leaky_relu(self.conv1(x), 0.2))


class Upscaler(nn.Module):
    """(B, 3, S, S) in [-1, 1] -> (B, 3, scale*S, scale*S) in [-1, 1] (not clamped while training)."""

    def __init__(self, arch: UpscalerArch = UpscalerArch()) -> None:
        super().__init__()
        self.arch = arch.validate()
        c = arch.channels
        self.head = nn.Conv2d(3 * arch.unshuffle**2, c, 3, padding=1)
        self.body = nn.Sequential(*(ResidualBlock(c) for _ in range(arch.blocks)))
        self.body_out = nn.Conv2d(c, c, 3, padding=1)
        shuffle = arch.scale * arch.unshuffle
        self.to_pixels = nn.Conv2d(c, 3 * shuffle**2, 3, padding=1)
        self.shuffle = shuffle
        nn.init.zeros_(self.to_pixels.weight)  # starts as the bicubic enlargement exactly
        nn.init.zeros_(self.to_pixels.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = F.interpolate(x, scale_factor=self.arch.scale, mode="bicubic", align_corners=False)
        h = F.pixel_unshuffle(x, self.arch.unshuffle) if self.arch.unshuffle > 1 else x
        h = self.head(h)
        h = h + self.body_out(self.body(h))
        return base + F.pixel_shuffle(self.to_pixels(F.leaky_relu(h, 0.2)), self.shuffle)
