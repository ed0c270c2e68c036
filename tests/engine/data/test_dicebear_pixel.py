"""Pixel art at its native grid: one pixel per cell, exact colours, the palette in the card."""

from __future__ import annotations

import numpy as np
import pytest

from engine.cli import main
from engine.data.dataset import Dataset
from engine.pixelgrid import palette_array
from tests.node import needs_node

pytestmark = needs_node

COUNT = 24


def build(out, size: int, *extra: str) -> int:
    argv = ["data", "dicebear", "--count", str(COUNT), "--size", str(size), "--styles", "pixel-art"]
    return main([*argv, "--seed", "5", "--out", str(out), *extra])


@pytest.fixture(scope="module")
def grids(tmp_path_factory):
    root = tmp_path_factory.mktemp("pixel")
    assert build(root / "16", 16, "--palette") == 0
    assert build(root / "64", 64) == 0
    return Dataset(root / "16"), Dataset(root / "64")


def test_a_16px_build_is_the_grid_itself(grids):
    # The same avatars drawn at 64px are each 16px cell as a flat 4x4 block, nothing blended.
    small, large = grids
    assert small.resolution == 16 and len(small) == COUNT
    np.testing.assert_array_equal(small.labels, large.labels)
    np.testing.assert_array_equal(large.images, small.images.repeat(4, axis=1).repeat(4, axis=2))


def test_the_card_carries_every_colour_and_only_those(grids):
    small, large = grids
    palette = small.palette
    assert large.palette is None  # recorded only when asked for
    assert palette == sorted(set(palette)) and len(palette) > 10
    drawn = {tuple(p) for p in np.asarray(small.images).reshape(-1, 3).tolist()}
    assert drawn == {tuple(p) for p in palette_array(palette).tolist()}


@pytest.mark.parametrize(
    "args", [["--styles", "micah", "--size", "16"], ["--styles", "pixel-art", "--size", "24"]]
)
def test_palette_outside_pixel_art_at_its_grid_is_refused(tmp_path, capsys, args):
    argv = ["data", "dicebear", "--count", "4", "--out", str(tmp_path / "out"), "--palette", *args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "--palette is for pixel art at its grid" in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
