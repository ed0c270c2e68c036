"""engine/data/augment.py: YuruGAN's offline augmentation multiplies a set, keeping labels."""

from pathlib import Path

import numpy as np
import pytest

from engine.cli import main
from engine.data.augment import Jitter, apply_jitter, border_colour
from engine.data.dataset import Dataset, DatasetWriter, Source
from engine.schema import Schema, choice


def _mascot(colour, size=32) -> np.ndarray:
    img = np.full((size, size, 3), 250, dtype=np.uint8)  # plain light background
    img[8:24, 10:22] = colour  # a body
    return img


@pytest.fixture
def small_set(tmp_path: Path) -> Path:
    schema = Schema((choice("colour", ["red", "blue"]),))
    with DatasetWriter(tmp_path / "src", resolution=32, schema=schema, capacity=3) as w:
        w.sources = [Source("test pictures", "CC0", "the tests")]
        w.add(_mascot((255, 0, 0)), {"colour": "red"}, tags={"name": "r"})
        w.add(_mascot((0, 0, 255)), {"colour": "blue"}, tags={"name": "b"})
        w.add(_mascot((200, 0, 0)), {}, tags={"name": "unknown"})
    return tmp_path / "src"


def test_factor_multiplies_count_keeps_labels_tags_and_originals(small_set, tmp_path):
    assert (
        main(
            [
                "data",
                "augment",
                str(small_set),
                "--factor",
                "5",
                "--out",
                str(tmp_path / "aug"),
                "--seed",
                "3",
            ]
        )
        == 0
    )
    src, aug = Dataset(small_set), Dataset(tmp_path / "aug")
    assert len(aug) == 15
    assert aug.labels[:, 0].tolist() == [0] * 5 + [1] * 5 + [-1] * 5
    assert [t["name"] for t in aug.tags()] == ["r"] * 5 + ["b"] * 5 + ["unknown"] * 5
    for i in range(3):  # each original is written unchanged, first in its group
        assert np.array_equal(aug.images[5 * i], src.images[i])
        assert aug.tags()[5 * i]["augment"] == {"source": i}
    copies = [aug.images[j] for j in (1, 2, 3, 4)]
    assert all(not np.array_equal(c, src.images[0]) for c in copies)  # the copies really move
    assert aug.card["sources"] == src.card["sources"]


def test_same_seed_same_pixels(small_set, tmp_path):
    for name in ("a", "b"):
        main(
            ["data", "augment", str(small_set), "--factor", "3", "--out", str(tmp_path / name), "--seed", "7"]
        )
    assert Dataset(tmp_path / "a").fingerprint == Dataset(tmp_path / "b").fingerprint


def test_jitter_parameters_stay_in_the_papers_ranges(small_set, tmp_path):
    main(["data", "augment", str(small_set), "--factor", "20", "--out", str(tmp_path / "aug")])
    params = [t["augment"] for t in Dataset(tmp_path / "aug").tags() if "rotate_deg" in t["augment"]]
    assert len(params) == 3 * 19
    assert all(abs(p["rotate_deg"]) <= 8 and 0.9 <= p["zoom"] <= 1.1 for p in params)
    assert all(abs(s) <= 0.05 for p in params for s in p["shift"])
    assert max(abs(p["rotate_deg"]) for p in params) > 4  # the range is used, not just its middle


def test_uncovered_corners_take_the_border_colour():
    img = _mascot((255, 0, 0))
    out = apply_jitter(img, Jitter(rotate_deg=8.0, shift=(0.05, 0.05), zoom=0.9))
    assert border_colour(img) == (250, 250, 250)
    assert (out[0, 0] == 250).all() and (out[-1, -1] == 250).all()  # no black wedges
    assert (out.reshape(-1, 3) == (255, 0, 0)).all(axis=1).sum() > 100  # the body is still there


def test_shift_moves_the_content():
    img = _mascot((255, 0, 0))
    out = apply_jitter(img, Jitter(rotate_deg=0.0, shift=(0.125, 0.0), zoom=1.0))  # 4 pixels right
    cols = np.flatnonzero((out[16] == (255, 0, 0)).all(axis=1))
    assert cols.min() == 14 and cols.max() == 25


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--factor", "0"], "--factor"),
        (["--factor", "1000"], "--factor"),
    ],
)
def test_bad_input_exits_2(small_set, tmp_path, capsys, argv, message):
    assert main(["data", "augment", str(small_set), *argv, "--out", str(tmp_path / "o")]) == 2
    assert message in capsys.readouterr().err


def test_missing_set_and_same_folder_exit_2(small_set, tmp_path, capsys):
    assert main(["data", "augment", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")]) == 2
    assert "no data set" in capsys.readouterr().err
    assert main(["data", "augment", str(small_set), "--out", str(small_set)]) == 2
    assert "--out must differ" in capsys.readouterr().err
