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
    paths = {
        "MISSING": tmp_path / "nope",
        "EMPTY": tmp_path / "empty",
        "PICS": pictures,
        "OUT": tmp_path / "out",
        "NOTAGS": tmp_path / "none.csv",
        "BADTAGS": tmp_path / "bad.csv",
    }
    assert main(["data", "folder", *[str(paths.get(a, a)) for a in argv]]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20" viewBox="0 0 40 20">'
    '<rect width="40" height="20" fill="#ff0000"/></svg>'
)


def test_svg_gif_bmp_tiff_are_read_and_other_kinds_refused_by_name(tmp_path, capsys):
    src = tmp_path / "kinds"
    src.mkdir()
    (src / "drawn.svg").write_text(SVG)
    frames = [Image.new("RGB", (32, 32), c) for c in ((0, 0, 255), (0, 255, 0), (255, 255, 0))]
    frames[0].save(src / "moving.gif", save_all=True, append_images=frames[1:])
    _save(src / "old.bmp", Image.new("RGB", (32, 32), (0, 255, 0)))
    _save(src / "scan.tiff", Image.new("RGB", (32, 32), (255, 0, 255)))
    (src / "phone.heic").write_bytes(b"not read")
    (src / "broken.svg").write_text("<svg")
    (src / "readme.txt").write_text("not a picture")
    result = build_folder(src, tmp_path / "ds", FolderConfig(size=32, background="#ffffff", margin=0.0))
    err = capsys.readouterr().err
    assert result["count"] == 4
    assert dict(result["skipped"]).keys() == {"phone.heic", "broken.svg"}
    assert (
        "HEIC pictures are not read" in dict(result["skipped"])["phone.heic"] and "skipped phone.heic" in err
    )
    assert "not a drawable SVG" in dict(result["skipped"])["broken.svg"]
    assert result["report"].first_frames == [("moving.gif", 3)]
    assert result["report"].ignored == {".txt": 1}
    ds = Dataset(tmp_path / "ds")
    by_name = {t["file"]: np.asarray(img).astype(int) for t, img in zip(ds.tags(), ds.images)}
    svg = by_name["drawn.svg"]
    assert (svg[16, 16] > (230, -1, -1)).all() and svg[16, 16, 1] < 30  # red inside, drawn sharp at 32px
    assert (svg[2, 16] > 240).all()  # the 2:1 drawing is padded with the background, not stretched
    assert by_name["moving.gif"][16, 16, 2] > 200 and by_name["moving.gif"][16, 16, 1] < 50  # the first frame


def test_small_pictures_are_reported_and_tiny_ones_skipped(tmp_path):
    _save(tmp_path / "s" / "small.png", Image.new("RGB", (20, 20), (255, 0, 0)))  # 1.6x to 32
    _save(tmp_path / "s" / "tiny.png", Image.new("RGB", (6, 6), (0, 255, 0)))  # 5.3x: too much
    _save(tmp_path / "s" / "fine.png", Image.new("RGB", (40, 40), (0, 0, 255)))
    result = build_folder(tmp_path / "s", tmp_path / "ds", FolderConfig(size=32))
    assert result["count"] == 2
    assert result["report"].enlarged == [("small.png", "20x20 px, enlarged 1.6x")]
    ((name, reason),) = result["skipped"]
    assert name == "tiny.png" and "too small: 6x6 px" in reason and "--size 24" in reason


def test_cli_prints_enlarged_pictures_and_first_frames(tmp_path, capsys):
    _save(tmp_path / "c" / "small.png", Image.new("RGB", (20, 20), (255, 0, 0)))
    frames = [Image.new("RGB", (40, 40), c) for c in ((0, 0, 255), (0, 255, 0))]
    frames[0].save(tmp_path / "c" / "anim.gif", save_all=True, append_images=frames[1:])
    assert main(["data", "folder", str(tmp_path / "c"), "--out", str(tmp_path / "ds"), "--size", "32"]) == 0
    out = capsys.readouterr().out
    assert "small.png: 20x20 px, enlarged 1.6x" in out and "anim.gif: first of 2 frames" in out


def test_only_refused_kinds_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "h").mkdir()
    (tmp_path / "h" / "a.heic").write_bytes(b"x")
    assert main(["data", "folder", str(tmp_path / "h"), "--out", str(tmp_path / "ds")]) == 2
    err = capsys.readouterr().err
    assert "HEIC pictures are not read" in err and "1 of a kind not read" in err and ".svg" in err
