"""Pixel-art output: a generator that draws the grid itself, one pixel per cell.

A model whose ``model.json`` declares ``"output": {"grid": 16, "palette": ["#rrggbb", ...]}``
draws ``grid`` x ``grid`` pictures (its resolution). Every picture it serves is then
finished in two exact steps, so it is crisp by construction:

* snap: each cell becomes the palette colour nearest to it (squared RGB distance; a tie
  goes to the colour listed first), so no served cell is a colour the data never had;
* enlarge: each cell becomes a square block of the requested size (nearest neighbour),
  never through the learned upscale stage, which would soften the cell edges again.

The palette is every colour of the training data (the data set's card carries it), so the
step is a property of the data as much as of the model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.errors import MascotError

SIZES = (128, 256, 512)  # the posted sizes a grid model offers beside its own grid
MAX_COLOURS = 4096  # a palette this long is no longer pixel art's few flat colours
_HEX = re.compile(r"#[0-9a-f]{6}")


@dataclass(frozen=True)
class GridOutput:
    """How a pixel-art model's pictures are finished: snapped to ``palette``, enlarged."""

    grid: int
    palette: np.ndarray  # (K, 3) uint8, in the order model.json lists it

    @classmethod
    def from_json(cls, value: Any, resolution: int) -> GridOutput:
        """The declared output, checked; MascotError with one line saying what is wrong."""
        if not isinstance(value, dict) or set(value) != {"grid", "palette"}:
            raise MascotError('"output" must be an object with exactly "grid" and "palette"')
        grid, palette = value["grid"], value["palette"]
        if isinstance(grid, bool) or not isinstance(grid, int) or grid != resolution:
            raise MascotError(
                f'"output.grid" must be the model\'s resolution {resolution} (one pixel per cell), '
                f"got {grid!r}"
            )
        if not isinstance(palette, list) or not 1 <= len(palette) <= MAX_COLOURS:
            raise MascotError(f'"output.palette" must be a list of 1 to {MAX_COLOURS} colours')
        bad = next((c for c in palette if not isinstance(c, str) or not _HEX.fullmatch(c)), None)
        if bad is not None:
            raise MascotError(f'"output.palette" holds {bad!r}; each colour is "#rrggbb" in lower case')
        if len(set(palette)) != len(palette):
            raise MascotError('"output.palette" lists a colour twice')
        return cls(grid, palette_array(palette))

    def to_json(self) -> dict[str, Any]:
        return {"grid": self.grid, "palette": palette_hex(self.palette)}

    def sizes(self) -> list[int]:
        """The sides this model serves: its grid, and each posted size the grid divides."""
        return [self.grid] + [s for s in SIZES if s > self.grid and s % self.grid == 0]

    def snap(self, images: np.ndarray) -> np.ndarray:
        """(N, grid, grid, 3) uint8 (an array or a list of images) with every cell replaced by
        its nearest palette colour."""
        images = np.asarray(images)
        pixels = images.reshape(-1, 3).astype(np.int32)
        palette = self.palette.astype(np.int32)
        # |p - q|^2 = |p|^2 - 2 p.q + |q|^2; |p|^2 is the same for every q, so it is left out.
        distance = (palette**2).sum(axis=1)[None, :] - 2 * pixels @ palette.T
        return self.palette[distance.argmin(axis=1)].reshape(images.shape)

    def enlarge(self, images: np.ndarray, size: int) -> np.ndarray:
        """Each cell as a (size / grid)-pixel square block."""
        if size not in self.sizes():
            raise MascotError(f"size must be one of {', '.join(map(str, self.sizes()))}, got {size}")
        scale = size // self.grid
        return images.repeat(scale, axis=1).repeat(scale, axis=2)

    def finish(self, images: np.ndarray, size: int) -> np.ndarray:
        """What is served: the generator's pixels snapped, then enlarged to ``size``."""
        return self.enlarge(self.snap(images), size)


def palette_of(images: np.ndarray, limit: int = MAX_COLOURS) -> list[str]:
    """Every colour in (N, H, W, 3) uint8 ``images``, sorted, as "#rrggbb"; MascotError past ``limit``."""
    colours = np.zeros(1 << 24, dtype=bool)
    for start in range(0, len(images), 4096):
        chunk = np.asarray(images[start : start + 4096]).reshape(-1, 3).astype(np.int32)
        colours[(chunk[:, 0] << 16) | (chunk[:, 1] << 8) | chunk[:, 2]] = True
    found = np.flatnonzero(colours)
    if len(found) > limit:
        raise MascotError(
            f"the pictures hold {len(found)} colours, more than a pixel-art palette's {limit}: "
            "they are not flat-coloured pixel art"
        )
    return [f"#{int(c):06x}" for c in found]


def palette_array(colours: list[str]) -> np.ndarray:
    return np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in colours], dtype=np.uint8)


def palette_hex(palette: np.ndarray) -> list[str]:
    return [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in palette.tolist()]


def cell_size(image: np.ndarray) -> int:
    """The side of the largest square cells, aligned at the top left, on which the (H, W, 3)
    picture is constant: 8 for a 16x16 drawing saved at 128px by nearest neighbour, 1 for a
    photo. Every run of one colour along a row or a column is a whole number of cells, so the
    cell is the greatest common divisor of the run lengths (and of the sides)."""
    image = np.asarray(image)
    cell = int(np.gcd(image.shape[0], image.shape[1]))
    for lines in (image, image.transpose(1, 0, 2)):
        change = (lines[:, 1:] != lines[:, :-1]).any(axis=2)  # (rows, W-1): a new colour starts here
        starts = np.flatnonzero(change.any(axis=0)) + 1  # columns where any row changes colour
        cell = int(np.gcd.reduce(np.concatenate([[cell], starts])))
        if cell == 1:
            break
    return cell


def to_cells(image: np.ndarray) -> np.ndarray:
    """The picture at its grid: one pixel per cell."""
    cell = cell_size(image)
    return np.ascontiguousarray(np.asarray(image)[::cell, ::cell])
