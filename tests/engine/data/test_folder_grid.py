"""``data folder --grid auto``: pixel art read back at its own grid, with its palette."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli import main
from engine.data.dataset import Dataset
from engine.pixelgrid import cell_size, palette_array, to_cells

COLOURS = np.array([[255, 255, 255], [20, 20, 20], [230, 60, 60], [40, 90, 220]], dtype=np.uint8)


def drawing(grid: int, seed: int) -> np.ndarray:
    """A random ``grid`` x ``grid`` picture in four colours, one pixel per cell."""
    rng = np.random.default_rng(seed)
    return COLOURS[rng.integers(len(COLOURS), size=(grid, grid))]


def enlarged(cells: np.ndarray, scale: int) -> np.ndarray:
    return cells.repeat(scale, axis=0).repeat(scale, axis=1)


def _save(path: Path, pixels: np.ndarray, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, **kw)
    return path


@pytest.mark.parametrize("grid, scale", [(16, 1), (16, 8), (12, 5), (32, 3)])
def test_the_cell_of_a_nearest_enlargement_is_found(grid, scale):
    cells = drawing(grid, seed=grid + scale)
    assert cell_size(enlarged(cells, scale)) == scale
    np.testing.assert_array_equal(to_cells(enlarged(cells, scale)), cells)


def test_a_smoothed_or_noisy_picture_has_cell_one():
    big = Image.fromarray(enlarged(drawing(16, 0), 8)).resize((128, 128), Image.Resampling.BILINEAR)
    assert cell_size(np.asarray(big.resize((100, 100), Image.Resampling.BILINEAR))) == 1
    noise = np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    assert cell_size(noise) == 1


def test_a_flat_picture_is_one_cell_per_side_pair():
    assert cell_size(np.zeros((48, 32, 3), np.uint8)) == 16  # the largest cell both sides hold


@pytest.fixture
def art(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    src = tmp_path / "art"
    cells = {"a.png": drawing(16, 1), "b.png": drawing(16, 2), "small.png": drawing(8, 3)}
    _save(src / "a.png", enlarged(cells["a.png"], 16))  # 256px
    _save(src / "b.png", enlarged(cells["b.png"], 4))  # 64px
    _save(src / "small.png", enlarged(cells["small.png"], 8))  # an 8x8 drawing at 64px
    _save(src / "c-again.png", enlarged(cells["b.png"], 4))  # the same picture twice
    photo = np.random.default_rng(9).integers(0, 256, (400, 400, 3), dtype=np.uint8)
    _save(src / "photo.jpg", photo, quality=90)
    return src, cells


def test_grid_auto_builds_the_set_at_the_pictures_grid(art, tmp_path, capsys):
    src, cells = art
    assert main(["data", "folder", str(src), "--out", str(tmp_path / "ds"), "--grid", "auto"]) == 0
    out = capsys.readouterr()
    assert "pixel grid: 16x16 cells" in out.out and "skipped photo.jpg: no pixel grid" in out.err
    ds = Dataset(tmp_path / "ds")
    assert ds.resolution == 16 and [t["file"] for t in ds.tags()] == ["a.png", "b.png", "small.png"]
    np.testing.assert_array_equal(ds.images[0], cells["a.png"])
    np.testing.assert_array_equal(ds.images[1], cells["b.png"])
    # The 8x8 drawing is centred on the 16x16 grid, in whole cells, over the background.
    np.testing.assert_array_equal(ds.images[2][4:12, 4:12], cells["small.png"])
    assert (ds.images[2][:4] == 255).all()
    palette = {tuple(c) for c in palette_array(ds.palette).tolist()}
    assert palette == {tuple(c) for c in COLOURS.tolist()}


def test_grid_auto_refuses_a_size_and_a_folder_without_pixel_art(art, tmp_path, capsys):
    src, _ = art
    argv = ["data", "folder", str(src), "--out", str(tmp_path / "ds"), "--grid", "auto"]
    assert main([*argv, "--size", "64"]) == 2
    assert "leave out --size" in capsys.readouterr().err
    photos = tmp_path / "photos"
    _save(photos / "p.jpg", np.random.default_rng(1).integers(0, 256, (300, 300, 3), dtype=np.uint8))
    assert main(["data", "folder", str(photos), "--out", str(tmp_path / "p"), "--grid", "auto"]) == 2
    assert "no picture under" in capsys.readouterr().err and not (tmp_path / "p").exists()
