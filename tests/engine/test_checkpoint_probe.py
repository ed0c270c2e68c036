"""A checkpoint that loads but cannot draw is refused by the probe, with the reason."""

from __future__ import annotations

import pytest
import torch

from engine.checkpoint import load_checkpoint
from engine.checkpoint_probe import ProbeError, probe
from engine.errors import MascotError


@pytest.fixture
def ck(tiny_checkpoint):
    ck = load_checkpoint(tiny_checkpoint)
    with torch.no_grad():
        for p in ck.G.parameters():
            p.mul_(3)  # the barely trained tiny model, scaled so its seeds differ like a real one's
    return ck


def _damaged(ck, damage):
    with torch.no_grad():
        for p in ck.G.parameters():
            damage(p)
    return ck


def test_a_working_model_passes(ck):
    probe(ck)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(ck, value):
    with pytest.raises(MascotError, match="not finite"):
        probe(_damaged(ck, lambda p: p.fill_(value)))


def test_zeroed_weights_draw_flat_pictures_and_are_refused(ck):
    with pytest.raises(ProbeError, match="flat pictures"):
        probe(_damaged(ck, lambda p: p.zero_()))


def test_pictures_outside_the_pixel_range_are_refused(ck):
    G = ck.G
    forward = G.forward
    G.forward = lambda *a, **k: forward(*a, **k) * 50  # a broken output scale: everything clipped
    with pytest.raises(ProbeError, match="outside the pixel range"):
        probe(ck)


def test_a_model_drawing_nan_from_finite_weights_is_refused(ck):
    forward = ck.G.forward
    ck.G.forward = lambda *a, **k: forward(*a, **k) * float("nan")
    with pytest.raises(ProbeError, match="NaN or infinite"):
        probe(ck)
