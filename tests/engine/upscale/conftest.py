"""Tiny (small, large) pairs the upscaler tests make themselves: discs drawn at two sizes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.data.dataset import DatasetWriter, Source
from tests.toydata import TOY_SCHEMA

COLOURS = [(220, 40, 40), (40, 200, 40), (40, 40, 220)]


def disc(size: int, colour, centre: float, radius: float) -> np.ndarray:
    """A flat-coloured disc with a black outline on white, drawn at ``size`` pixels."""
    yy, xx = (np.mgrid[0:size, 0:size] + 0.5) / size
    d = np.hypot(yy - centre, xx - centre)
    img = np.full((size, size, 3), 255, np.uint8)
    img[d < radius] = colour
    img[(d >= radius) & (d < radius + 0.04)] = 0
    return img


def make_pairs(out, n: int = 12, small: int = 32, scale: int = 4):
    rng = np.random.default_rng(0)
    params = [(COLOURS[i % 3], rng.uniform(0.4, 0.6), rng.uniform(0.15, 0.3)) for i in range(n)]
    for side, size in (("lr", small), ("hr", small * scale)):
        with DatasetWriter(out / side, resolution=size, schema=TOY_SCHEMA, capacity=n) as w:
            for i, (colour, centre, radius) in enumerate(params):
                w.add(
                    disc(size, colour, centre, radius),
                    {"hair": ["red", "green", "blue"][i % 3], "smile": "no"},
                )
            w.sources = [Source("discs", "CC0", "the tests")]
    (out / "pairs.json").write_text(json.dumps({"count": n, "lr": small, "hr": small * scale, "seed": 0}))
    return out


@pytest.fixture(scope="session")
def pairs(tmp_path_factory):
    return make_pairs(tmp_path_factory.mktemp("pairs"))
