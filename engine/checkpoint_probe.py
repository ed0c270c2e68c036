"""A checkpoint must draw before it serves: a probe batch, checked.

Weights that load can still draw nothing: NaN or infinite values give black pictures,
zeroed or collapsed weights one flat colour, a broken scale pictures that are all clipped.
Start-up, reload, promotion and rollback draw PROBE_SEEDS with the candidate (off the
event loop, before it replaces anything) and refuse it, with the reason, unless every
value is finite, the pictures are within the pixel range and they are not flat.
"""

from __future__ import annotations

import torch

from engine.checkpoint import Checkpoint
from engine.checkpoint_bounds import check_finite
from engine.errors import MascotError
from engine.sampling import inputs, resolve

PROBE_SEEDS = (0, 1, 2, 3)
MAX_OUTSIDE = 0.5  # share of values a generator may put outside [-1.1, 1.1] (its pixel range is [-1, 1])
MIN_SPREAD = 0.01  # a picture whose values vary less than this (about one uint8 level) is flat


class ProbeError(MascotError):
    """A checkpoint that loads but does not draw pictures."""


@torch.no_grad()
def probe(ck: Checkpoint) -> None:
    """Draw PROBE_SEEDS with ``ck``; ProbeError names what is wrong with the pictures."""
    check_finite(ck.G.state_dict(), ck.path)
    reqs = [resolve(ck.schema, {}, seed) for seed in PROBE_SEEDS]
    z, c = inputs(ck.schema, ck.G.z_dim, reqs)
    param = next(ck.G.parameters())
    x = ck.G(z.to(param.device, param.dtype), c.to(param.device, param.dtype)).float()
    where = f"the model in '{ck.path}' ({ck.version})"
    if not bool(torch.isfinite(x).all()):
        raise ProbeError(f"{where} draws NaN or infinite values: its pictures would be black")
    outside = float((x.abs() > 1.1).float().mean())
    if outside > MAX_OUTSIDE:
        raise ProbeError(
            f"{where} draws {outside:.0%} of its values outside the pixel range [-1, 1]: "
            "its pictures would be clipped to flat colour"
        )
    spread = x.clamp(-1, 1).flatten(1).std(dim=1)
    if float(spread.max()) < MIN_SPREAD:
        raise ProbeError(f"{where} draws flat pictures (one colour for every seed): are its weights zero?")
