"""From a request (seed, attributes, truncation) to pixels, deterministically.

An image is a pure function of (model version, seed, attributes, truncation): the latent
for a seed comes from its own torch generator, and unset attributes are drawn
(``Schema.sample``: from a training label row that agrees with the request, or from the
priors) with a numpy generator seeded by the same seed. The service keeps "same request, same
bytes" whatever the batch (engine/serve/forward.py); the CLI and training grids draw the same
pictures, up to one grey level of fp32 rounding where their batch sizes differ.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from engine.errors import MascotError
from engine.pixels import to_uint8
from engine.schema import Schema

MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class Request:
    """One image to draw: a seed and the full, resolved attributes."""

    seed: int
    attributes: tuple[tuple[str, str], ...]
    truncation: float = 1.0

    @property
    def attrs(self) -> dict[str, str]:
        return dict(self.attributes)


def check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise MascotError(f"seed must be a whole number from 0 to {MAX_SEED}, got {seed!r}")
    return seed


def check_truncation(truncation: float) -> float:
    if (
        isinstance(truncation, bool)
        or not isinstance(truncation, (int, float))
        or not 0.0 <= truncation <= 1.0
    ):
        raise MascotError(f"truncation must be a number from 0 to 1, got {truncation!r}")
    return float(truncation)


def resolve(schema: Schema, given: Mapping[str, str], seed: int, truncation: float = 1.0) -> Request:
    """Fill unset attributes as the schema draws them, seeded by ``seed`` so it is repeatable."""
    full = schema.sample(given, np.random.default_rng(check_seed(seed)))
    return Request(seed, tuple(full.items()), check_truncation(truncation))


def latent(seed: int, z_dim: int) -> torch.Tensor:
    """The latent of a seed: (z_dim,) standard normal from the seed's own generator."""
    return torch.randn(z_dim, generator=torch.Generator().manual_seed(seed))


def inputs(schema: Schema, z_dim: int, requests: Sequence[Request]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stacked (z, c) for a batch of requests."""
    z = torch.stack([latent(r.seed, z_dim) for r in requests])
    c = torch.from_numpy(np.stack([schema.encode(r.attrs) for r in requests]))
    return z, c


@torch.no_grad()
def render(
    G: nn.Module, schema: Schema, requests: Sequence[Request], device: str | torch.device = "cpu"
) -> np.ndarray:
    """Draw a batch of requests; one truncation per batch call (group requests by it)."""
    truncs = {r.truncation for r in requests}
    if len(truncs) != 1:
        raise ValueError("render() takes requests of one truncation value; group them first")
    z, c = inputs(schema, G.z_dim, requests)
    dtype = next(G.parameters()).dtype
    return to_uint8(G(z.to(device, dtype), c.to(device, dtype), truncation=truncs.pop()))


def interpolation_inputs(
    schema: Schema, z_dim: int, a: Request, b: Request, frames: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(z, c) of the frames between two requests: spherical in z, linear in conditioning."""
    (za, zb), (ca, cb) = inputs(schema, z_dim, [a, b])
    t = torch.linspace(0, 1, frames)[:, None]
    omega = torch.arccos((za / za.norm() * zb / zb.norm()).sum().clamp(-1, 1))
    if omega.abs() < 1e-4:
        z = za + t * (zb - za)
    else:
        z = (torch.sin((1 - t) * omega) * za + torch.sin(t * omega) * zb) / torch.sin(omega)
    return z, ca + t * (cb - ca)


@torch.no_grad()
def interpolate(
    G: nn.Module, schema: Schema, a: Request, b: Request, frames: int, device: str | torch.device = "cpu"
) -> np.ndarray:
    """Frames between two requests: spherical in z, linear in conditioning."""
    z, c = interpolation_inputs(schema, G.z_dim, a, b, frames)
    dtype = next(G.parameters()).dtype
    return to_uint8(G(z.to(device, dtype), c.to(device, dtype), truncation=a.truncation))
