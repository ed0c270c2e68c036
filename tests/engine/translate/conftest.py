"""Two toy domains the translator tests make themselves: red squares and blue discs on white."""

from __future__ import annotations

import numpy as np
import pytest

from engine.data.dataset import DatasetWriter, Source
from tests.toydata import TOY_SCHEMA


def shape(size: int, kind: str, centre: float, radius: float) -> np.ndarray:
    yy, xx = (np.mgrid[0:size, 0:size] + 0.5) / size
    img = np.full((size, size, 3), 255, np.uint8)
    if kind == "square":
        img[(np.abs(yy - centre) < radius) & (np.abs(xx - centre) < radius)] = (220, 40, 40)
    else:
        img[np.hypot(yy - centre, xx - centre) < radius] = (40, 40, 220)
    return img


def make_domain(out, kind: str, n: int = 12, size: int = 32, seed: int = 0):
    rng = np.random.default_rng(seed)
    with DatasetWriter(out, resolution=size, schema=TOY_SCHEMA, capacity=n) as w:
        for _ in range(n):
            w.add(
                shape(size, kind, rng.uniform(0.4, 0.6), rng.uniform(0.15, 0.3)),
                {"hair": "red", "smile": "no"},
            )
        w.sources = [Source(kind, "CC0", "the tests")]
    return out


@pytest.fixture(scope="session")
def domains(tmp_path_factory):
    root = tmp_path_factory.mktemp("domains")
    return make_domain(root / "squares", "square"), make_domain(root / "discs", "disc", seed=1)
