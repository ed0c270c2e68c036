"""engine/data/folder.py: a user's pictures become a data set; bad files never stop it."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli import main
from engine.data.dataset import Dataset
from engine.data.folder import FolderConfig, build_folder


def _save(path: Path, image: Image.Image, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kw)
    return path


@pytest.fixture
def pictures(tmp_path: Path) -> Path:
    src = tmp_path / "pics"
    _save(src / "cats" / "red.png", Image.new("RGB", (30, 30), (255, 0, 0)))
    _save(src / "cats" / "red_again.webp", Image.new("RGB", (30, 30), (255, 0, 0)), lossless=True)
    _save(src / "dogs" / "blue.jpg", Image.new("RGB", (30, 30), (0, 0, 255)))
    _save(src / "dogs" / "deep" / "green.png", Image.new("RGBA", (30, 30), (0, 255, 0, 255)))
    (src / "dogs" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    (src / "notes.txt").write_text("not a picture")
    return src


def test_corrupt_skipped_and_listed_duplicates_removed(pictures, tmp_path, capsys):
    result = build_folder(pictures, tmp_path / "ds", FolderConfig(size=16))
    assert result["count"] == 3
    assert [name for name, _ in result["skipped"]] == ["dogs/broken.png"]
    assert result["duplicates"] == [("cats/red_again.webp", "cats/red.png")]
    assert "skipped dogs/broken.png" in capsys.readouterr().err
    ds = Dataset(tmp_path / "ds")
    assert len(ds) == 3 and ds.resolution == 16
    assert [t["file"] for t in ds.tags()] == ["cats/red.png", "dogs/blue.jpg", "dogs/deep/green.png"]


def test_subfolders_become_the_folder_attribute(pictures, tmp_path):
    build_folder(pictures, tmp_path / "ds", FolderConfig(size=16))
    ds = Dataset(tmp_path / "ds")
    assert ds.schema.names == ("folder",)
    assert ds.schema.attribute("folder").values == ("cats", "dogs")
    assert ds.labels[:, 0].tolist() == [0, 1, 1]


def test_flat_folder_is_unlabelled(tmp_path):
    for i in range(3):
        _save(tmp_path / "flat" / f"{i}.png", Image.new("RGB", (8, 8), (i * 80, 0, 0)))
    build_folder(tmp_path / "flat", tmp_path / "ds", FolderConfig(size=8))
    ds = Dataset(tmp_path / "ds")
    assert ds.schema.names == ("class",)
    assert (ds.labels == -1).all()


def test_wide_picture_is_padded_not_cropped(tmp_path):
    wide = np.zeros((20, 80, 3), dtype=np.uint8)
    wide[:, :4] = (255, 0, 0)  # red left edge
    wide[:, -4:] = (0, 0, 255)  # blue right edge
    _save(tmp_path / "w" / "wide.png", Image.fromarray(wide))
    build_folder(tmp_path / "w", tmp_path / "ds", FolderConfig(size=64, background="#00ff00"))
    img = np.asarray(Dataset(tmp_path / "ds").images[0]).astype(int)
    middle = img[32]
    assert middle[:8, 0].max() > 200 and middle[:8, 2].max() < 60  # red survives at the left
    assert middle[-8:, 2].max() > 200 and middle[-8:, 0].max() < 60  # blue survives at the right
    assert (img[2, 32] == (0, 255, 0)).all() and (img[-3, 32] == (0, 255, 0)).all()  # padded above and below


def test_transparency_composited_over_background(tmp_path):
    _save(tmp_path / "t" / "clear.png", Image.new("RGBA", (16, 16), (255, 0, 0, 0)))
    build_folder(tmp_path / "t", tmp_path / "ds", FolderConfig(size=16, background="#123456"))
    img = np.asarray(Dataset(tmp_path / "ds").images[0])
    assert (img == (0x12, 0x34, 0x56)).all()


def test_tags_csv_builds_the_schema(pictures, tmp_path, capsys):
    tags = tmp_path / "tags.csv"
    tags.write_text(
        "file,Hair Colour,smile,mood\n"
        "cats/red.png,Light Blue,yes,happy\n"
        "blue.jpg,red,no,happy\n"  # a bare name, unique in the folder
        "dogs/deep/green.png,,true,happy\n"  # empty cell: not visible
        "ghost.png,red,no,happy\n"
    )
    build_folder(pictures, tmp_path / "ds", FolderConfig(size=16), tags=tags)
    ds = Dataset(tmp_path / "ds")
    err = capsys.readouterr().err
    assert "ghost.png" in err and "'mood'" in err  # unknown file noted; single-valued column dropped
    assert ds.schema.names == ("hair-colour", "smile")
    assert ds.schema.attribute("smile").kind == "flag"
    assert ds.schema.attribute("hair-colour").values == ("light-blue", "red")
    assert ds.labels.tolist() == [[0, 1], [1, 0], [-1, 1]]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["MISSING", "--out", "OUT"], "does not exist"),
        (["EMPTY", "--out", "OUT"], "no pictures"),
        (["PICS", "--out", "OUT", "--background", "blurple"], "not a colour"),
        (["PICS", "--out", "OUT", "--size", "3"], "--size"),
        (["PICS", "--out", "OUT", "--tags", "NOTAGS"], "does not exist"),
        (["PICS", "--out", "OUT", "--tags", "BADTAGS"], "'file' column"),
    ],
)
def test_bad_input_exits_2_with_a_message(pictures, tmp_path, capsys, argv, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.csv").write_text("name,hair\na.png,red\n")
    paths = {"MISSING": tmp_path / "nope", "EMPTY": tmp_path / "empty", "PICS": pictures, "OUT": tmp_path / "out",
             "NOTAGS": tmp_path / "none.csv", "BADTAGS": tmp_path / "bad.csv"}
    assert main(["data", "folder", *[str(paths.get(a, a)) for a in argv]]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
