"""CycleGAN's networks (Zhu et al. 2017), sized for a 2-core CPU at 64 px.

The generator is the paper's ResNet translator: c7s1-k, two stride-2 downsamples, residual
blocks at a quarter of the side, two upsamples, c7s1-3 with tanh. The discriminator is the
70x70 PatchGAN (here a smaller patch, as the pictures are 64 px): one real/fake score per
overlapping patch, so it judges texture and local shape rather than the whole layout.

Instance norm (affine-free, no running statistics, as the paper's code): an image's output
depends on that image alone, so translating one picture at a time serves what training saw.
Upsampling is nearest + conv rather than transposed conv: no checkerboard patterns on the
flat colour fields both domains are made of.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from engine.errors import MascotError


@dataclass(frozen=True)
class TranslatorArch:
    channels: int = 32  # generator's first width; the residual body runs at 4x this
    blocks: int = 6  # residual blocks in the generator's body
    disc_channels: int = 32  # discriminator's first width
    disc_layers: int = 3  # stride-2 layers in the discriminator (the patch it sees grows with this)
    resolution: int = 64  # the side pictures are translated at

    def validate(self) -> TranslatorArch:
        if not (4 <= self.channels <= 128 and 1 <= self.blocks <= 16):
            raise MascotError(
                f"translator channels must be 4..128 and blocks 1..16, got {self.channels}, {self.blocks}"
            )
        if not (4 <= self.disc_channels <= 128 and 1 <= self.disc_layers <= 4):
            raise MascotError(
                f"discriminator channels must be 4..128 and layers 1..4, got {self.disc_channels}, "
                f"{self.disc_layers}"
            )
        if not 16 <= self.resolution <= 256 or self.resolution % 4:
            raise MascotError(
                f"translator resolution must be 16..256 and a multiple of 4, got {self.resolution}"
            )
        if self.resolution >> self.disc_layers < 4:  # the last two 4x4 convolutions need a 4 px map
            raise MascotError(
                f"{self.disc_layers} discriminator layers halve {self.resolution} px below 4 px: "
                f"use at most {(self.resolution // 4).bit_length() - 1}"
            )
        return self

    def to_json(self) -> dict:
        return asdict(self)


def _norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class ResnetBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            _norm(channels),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            _norm(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """(B, 3, S, S) in [-1, 1] -> (B, 3, S, S) in [-1, 1]; S a multiple of 4."""

    def __init__(self, arch: TranslatorArch = TranslatorArch()) -> None:
        super().__init__()
        self.arch = arch.validate()
        c = arch.channels
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(3, c, 7), _norm(c), nn.ReLU(True)]
        for k in (1, 2):
            layers += [nn.Conv2d(c * k, c * 2 * k, 3, stride=2, padding=1), _norm(c * 2 * k), nn.ReLU(True)]
        layers += [ResnetBlock(4 * c) for _ in range(arch.blocks)]
        for k in (4, 2):
            layers += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(c * k, c * k // 2, 3, padding=1),
                _norm(c * k // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(c, 3, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PatchDiscriminator(nn.Module):
    """(B, 3, S, S) -> (B, 1, P, P) raw scores, one per patch (LSGAN: real 1, fake 0)."""

    def __init__(self, arch: TranslatorArch = TranslatorArch()) -> None:
        super().__init__()
        self.arch = arch.validate()
        c = arch.disc_channels
        layers: list[nn.Module] = [nn.Conv2d(3, c, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        width = c
        for i in range(1, arch.disc_layers):
            nxt = c * min(2**i, 8)
            layers += [nn.Conv2d(width, nxt, 4, stride=2, padding=1), _norm(nxt), nn.LeakyReLU(0.2, True)]
            width = nxt
        nxt = c * min(2**arch.disc_layers, 8)
        layers += [
            nn.Conv2d(width, nxt, 4, stride=1, padding=1),
            _norm(nxt),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(nxt, 1, 4, stride=1, padding=1),
        ]
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def init_weights(module: nn.Module, gain: float = 0.02) -> None:
    """N(0, 0.02) convolutions, zero biases: the paper's initialisation."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
