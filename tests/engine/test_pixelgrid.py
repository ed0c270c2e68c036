"""Pixel-art output: the palette snap, the nearest-neighbour enlargement, and their validation."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import MascotError
from engine.pixelgrid import GridOutput, palette_array, palette_hex, palette_of

PALETTE = ["#000000", "#ff0000", "#ffffff", "#2563eb"]


def output(grid: int = 4) -> GridOutput:
    return GridOutput.from_json({"grid": grid, "palette": PALETTE}, grid)


def test_every_snapped_cell_is_its_nearest_palette_colour():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 4, 4, 3), dtype=np.uint8)
    snapped = output().snap(images)
    palette = palette_array(PALETTE).astype(int)
    for cell, done in zip(images.reshape(-1, 3).astype(int), snapped.reshape(-1, 3).astype(int)):
        distances = ((palette - cell) ** 2).sum(axis=1)
        assert tuple(done) == tuple(palette[distances.argmin()])


def test_palette_colours_stay_as_they_are():
    cells = np.tile(palette_array(PALETTE), (4, 1)).reshape(1, 4, 4, 3)
    np.testing.assert_array_equal(output().snap(cells), cells)


def test_near_colours_snap_to_the_expected_one():
    cells = np.array([[[[250, 10, 5], [10, 10, 10], [40, 100, 230], [240, 240, 240]]]], dtype=np.uint8)
    snapped = palette_hex(output(4).snap(np.tile(cells, (1, 4, 1, 1))).reshape(-1, 3)[:4])
    assert snapped == ["#ff0000", "#000000", "#2563eb", "#ffffff"]


@pytest.mark.parametrize("size", [4, 128, 512])
def test_enlarging_makes_each_cell_an_exact_block(size):
    rng = np.random.default_rng(1)
    images = output().snap(rng.integers(0, 256, (2, 4, 4, 3), dtype=np.uint8))
    big = output().enlarge(images, size)
    scale = size // 4
    assert big.shape == (2, size, size, 3)
    for y in range(4):
        for x in range(4):
            block = big[:, y * scale : (y + 1) * scale, x * scale : (x + 1) * scale]
            assert (block == images[:, y : y + 1, x : x + 1]).all()
    np.testing.assert_array_equal(big[:, ::scale, ::scale], images)


def test_sizes_are_the_grid_and_the_posted_sizes_it_divides():
    assert output(16).sizes() == [16, 128, 256, 512]
    assert output(24).sizes() == [24]
    with pytest.raises(MascotError, match="size must be one of 16, 128, 256, 512"):
        output(16).enlarge(np.zeros((1, 16, 16, 3), np.uint8), 100)


@pytest.mark.parametrize(
    "value, message",
    [
        ([], "must be an object"),
        ({"grid": 16}, "exactly"),
        ({"grid": 32, "palette": PALETTE}, "must be the model's resolution 16"),
        ({"grid": True, "palette": PALETTE}, "must be the model's resolution"),
        ({"grid": 16, "palette": []}, "list of 1 to"),
        ({"grid": 16, "palette": "#000000"}, "list of 1 to"),
        ({"grid": 16, "palette": ["#00000"]}, "holds '#00000'"),
        ({"grid": 16, "palette": ["#FFFFFF"]}, "lower case"),
        ({"grid": 16, "palette": [255, 0, 0]}, "holds 255"),
        ({"grid": 16, "palette": ["#000000", "#000000"]}, "twice"),
        ({"grid": 16, "palette": PALETTE, "scale": 2}, "exactly"),
    ],
)
def test_a_bad_declaration_is_refused_in_one_line(value, message):
    with pytest.raises(MascotError, match=message) as err:
        GridOutput.from_json(value, 16)
    assert "\n" not in str(err.value)


def test_json_round_trip():
    once = output(16)
    again = GridOutput.from_json(once.to_json(), 16)
    assert again.to_json() == {"grid": 16, "palette": PALETTE}
    np.testing.assert_array_equal(again.palette, once.palette)


def test_palette_of_lists_every_colour_once_in_order():
    images = np.zeros((3, 2, 2, 3), np.uint8)
    images[1, 0, 0] = (255, 0, 0)
    images[2, 1, 1] = (0, 0, 1)
    assert palette_of(images) == ["#000000", "#000001", "#ff0000"]
    with pytest.raises(MascotError, match="3 colours, more than a pixel-art palette's 2"):
        palette_of(images, limit=2)
