"""engine/data/autotag.py + data folder --auto-tag: the classifier labels a user's pictures."""

import csv
import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from PIL import Image

from engine import evalnet as E
from engine.cli import main
from engine.data.autotag import AutoTagger
from engine.data.dataset import Dataset
from engine.data.folder import FolderConfig, build_folder
from tests.toydata import HAIR_RGB, TOY_SCHEMA, make_toy_dataset

FAST = E.EvalNetConfig(size=32, width=16, epochs=12, batch_size=32)  # 6 epochs: right but unsure (< 0.8)


def toy_picture(hair: str, smile: bool, res: int = 32, mark: int = 0) -> Image.Image:
    """The toy data set's drawing (tests/toydata.py), as a file a user might have; ``mark``
    greys one corner pixel so that pictures with the same attributes are not duplicates."""
    img = np.full((res, res, 3), 255, np.uint8)
    img[0, 0] = 255 - mark
    q = res // 4
    img[q : 3 * q, q : 3 * q] = HAIR_RGB[hair]
    if smile:
        img[3 * q + 1 :, q : 3 * q] = 0
    return Image.fromarray(img)


class FixedReadings:
    """A stand-in classifier: the first picture is read confidently, the others are not."""

    schema = TOY_SCHEMA
    fingerprint = "stub"
    accuracy: ClassVar[dict[str, float]] = {"hair": 0.99, "smile": 0.97}

    def probabilities(self, images):
        hair = np.tile([0.4, 0.35, 0.25], (len(images), 1))
        hair[0] = [0.9, 0.05, 0.05]
        return [hair, np.tile([0.2, 0.8], (len(images), 1))]


@pytest.fixture
def folder(tmp_path) -> Path:
    src = tmp_path / "mine"
    src.mkdir()
    for i, (hair, smile) in enumerate([("red", True), ("green", False), ("blue", True)]):
        toy_picture(hair, smile).save(src / f"{i}.png")
    return src


def test_readings_below_the_threshold_are_unknown_and_every_confidence_is_written(folder, tmp_path):
    tagger = AutoTagger(FixedReadings(), threshold=0.8)
    result = build_folder(folder, tmp_path / "ds", FolderConfig(size=32, margin=0.0), tagger=tagger)
    ds = Dataset(tmp_path / "ds")
    assert result["count"] == 3 and ds.schema.names == ("hair", "smile")
    assert ds.labels.tolist() == [[0, 1], [-1, 1], [-1, 1]]
    # Unknown is what training already ignores: an all-zero block, as for hair under a hat.
    assert ds.conditioning()[1, :3].tolist() == [0, 0, 0] and ds.conditioning()[0, :3].tolist() == [1, 0, 0]
    assert ds.schema.attribute("hair").prior == (1.0, 0.0, 0.0)  # from the kept labels
    assert ds.tags()[1] == {"file": "1.png", "smile": "yes", "confidence": {"hair": 0.4, "smile": 0.8}}
    tags = json.loads((tmp_path / "ds" / "autotags.json").read_text())
    assert tags["threshold"] == 0.8 and tags["kept_share"] == {"hair": pytest.approx(1 / 3), "smile": 1.0}
    assert tags["files"]["1.png"]["hair"] == {"value": "red", "confidence": 0.4, "kept": False}
    rows = list(csv.reader((tmp_path / "ds" / "autotags.csv").open()))
    assert rows == [
        ["file", "hair", "smile"],
        ["0.png", "red", "yes"],
        ["1.png", "", "yes"],
        ["2.png", "", "yes"],
    ]


def test_threshold_zero_keeps_every_reading(folder, tmp_path):
    build_folder(
        folder, tmp_path / "ds", FolderConfig(size=32), tagger=AutoTagger(FixedReadings(), threshold=0.0)
    )
    assert (Dataset(tmp_path / "ds").labels >= 0).all()


def test_a_trained_classifier_tags_pictures_it_can_read(tmp_path):
    trained = E.train_evalnet(
        Dataset(make_toy_dataset(tmp_path / "toy", n=150, seed=3)), FAST, progress=False
    )
    src = tmp_path / "mine"
    src.mkdir()
    truth = {}
    for i in range(24):
        hair, smile = ["red", "green", "blue"][i % 3], i % 2 == 0
        toy_picture(hair, smile, res=48, mark=i).save(src / f"{i:02d}.png")  # another size than the tagger's
        truth[f"{i:02d}.png"] = (hair, "yes" if smile else "no")
    build_folder(src, tmp_path / "ds", FolderConfig(size=32, margin=0.0), tagger=AutoTagger(trained, 0.8))
    ds = Dataset(tmp_path / "ds")
    hair = ds.schema.attribute("hair").values
    got = {t["file"]: (hair[row[0]] if row[0] >= 0 else None) for t, row in zip(ds.tags(), ds.labels)}
    kept = [f for f, h in got.items() if h is not None]
    assert len(kept) >= 20 and all(got[f] == truth[f][0] for f in kept)


def test_cli_auto_tag_uses_the_taggers_classifier(folder, tmp_path, monkeypatch, capsys):
    toy = make_toy_dataset(tmp_path / "toy", n=150, seed=3)
    trained = E.train_evalnet(Dataset(toy), FAST, progress=False)
    monkeypatch.setattr(E, "get_evalnet", lambda ds, **kw: trained)
    argv = [
        "data",
        "folder",
        str(folder),
        "--out",
        str(tmp_path / "ds"),
        "--size",
        "32",
        "--auto-tag",
        "--tagger",
        str(toy),
        "--tag-threshold",
        "0.5",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "auto-tags" in out and "hair:" in out and "confident" in out
    written = json.loads((tmp_path / "ds" / "autotags.json").read_text())
    assert written["threshold"] == 0.5 and written["tagger"].startswith(str(toy))
    assert written["tagger_held_out_accuracy"] == trained.accuracy


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--auto-tag", "--tags", "t.csv"], "give one of them"),
        (["--tagger", "x"], "only apply with --auto-tag"),
        (["--auto-tag", "--tag-threshold", "1.5"], "--tag-threshold must be"),
        (["--auto-tag", "--tagger", "no-such-set"], "mascot-engine data dicebear --count 2000"),
        (["--auto-tag"], "data/dicebear-2k-64"),  # the default, absent here
    ],
)
def test_bad_tagging_flags_exit_2_with_a_message(folder, tmp_path, monkeypatch, capsys, extra, message):
    monkeypatch.chdir(tmp_path)  # no config.toml here: the built-in default tagger set
    monkeypatch.delenv("MASCOT_CONFIG", raising=False)
    assert main(["data", "folder", str(folder), "--out", str(tmp_path / "ds"), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "ds").exists()


def test_unlabelled_tagger_set_is_refused(folder, tmp_path, capsys):
    build_folder(folder, tmp_path / "unlabelled", FolderConfig(size=32))
    argv = [
        "data",
        "folder",
        str(folder),
        "--out",
        str(tmp_path / "ds"),
        "--auto-tag",
        "--tagger",
        str(tmp_path / "unlabelled"),
    ]
    assert main(argv) == 2
    assert "has no labels" in capsys.readouterr().err


def test_the_tagger_reads_pictures_without_the_padding_border(tmp_path):
    seen = []

    class Recording(FixedReadings):
        def probabilities(self, images):
            seen.append(np.asarray(images))
            return super().probabilities(images)

    (tmp_path / "bg").mkdir()
    Image.new("RGB", (40, 40), (0, 0, 255)).save(tmp_path / "bg" / "blue.png")
    build_folder(
        tmp_path / "bg", tmp_path / "ds", FolderConfig(size=32, margin=0.1), tagger=AutoTagger(Recording())
    )
    stored = np.asarray(Dataset(tmp_path / "ds").images[0])
    assert (stored[0, 0] == 255).all()  # the data set keeps its white border
    assert (
        seen[0].shape[1] < 32 and (seen[0][0, 0, 0] == (0, 0, 255)).all()
    )  # the tagger sees only the picture
