"""engine/data/cluster.py and xmeans.py: pseudo-classes that find the groups a set really has."""

import json
from pathlib import Path

import numpy as np
import pytest

from engine.cli import main
from engine.data.cluster import representatives, sobel_edges
from engine.data.dataset import Dataset, DatasetWriter, Source
from engine.data.xmeans import estimate_k
from engine.schema import Schema, choice

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


def _write_groups(out: Path, per_group: int = 10, shades: int = 1, seed: int = 0) -> Path:
    """Pictures in clearly separated colour groups (optionally two shades each), plus pixel noise."""
    rng = np.random.default_rng(seed)
    schema = Schema((choice("colour", list(COLOURS)),))
    n = len(COLOURS) * shades * per_group
    with DatasetWriter(out, resolution=16, schema=schema, capacity=n) as w:
        w.sources = [Source("synthetic", "CC0")]
        for name, rgb in COLOURS.items():
            for shade in range(shades):
                base = np.clip(np.array(rgb) * (1.0 - 0.45 * shade), 0, 255)
                for i in range(per_group):
                    img = base + rng.normal(0, 6, (16, 16, 3))
                    w.add(
                        np.clip(img, 0, 255).astype(np.uint8),
                        {"colour": name},
                        tags={"group": f"{name}{shade}", "i": i},
                    )
    return out


def _pure(labels: np.ndarray, truth: list[str]) -> bool:
    """Every class holds one true group only."""
    return all(len({t for t, c in zip(truth, labels) if c == k}) == 1 for k in set(labels))


def test_auto_finds_three_colour_groups(tmp_path, capsys):
    src = _write_groups(tmp_path / "src")
    assert main(["data", "cluster", str(src), "--features", "rgb", "--k", "auto"]) == 0
    out = tmp_path / "src-clustered"  # the default --out
    ds = Dataset(out)
    assert ds.schema.names == ("class",) and ds.schema.attribute("class").values == ("0", "1", "2")
    truth = [t["group"] for t in ds.tags()]
    assert _pure(ds.labels[:, 0], truth) and len(set(ds.labels[:, 0])) == 3
    assert [t["original_labels"]["colour"] for t in ds.tags()] == [g[:-1] for g in truth]
    assert sorted(p.name for p in (out / "clusters").glob("class_*.png")) == [
        "class_0.png",
        "class_1.png",
        "class_2.png",
    ]
    record = json.loads((out / "clusters" / "clusters.json").read_text())
    assert record["level1"]["xmeans_runs"] == [3] * 10 and record["sizes"] == [10, 10, 10]
    assert "3 classes" in capsys.readouterr().out


def test_fixed_k_and_class_prior_from_sizes(tmp_path):
    src = _write_groups(tmp_path / "src")
    assert (
        main(["data", "cluster", str(src), "--features", "rgb", "--k", "3", "--out", str(tmp_path / "o")])
        == 0
    )
    ds = Dataset(tmp_path / "o")
    assert _pure(ds.labels[:, 0], [t["group"] for t in ds.tags()])
    assert ds.schema.attribute("class").prior == pytest.approx((1 / 3,) * 3)


def test_two_levels_split_each_colour_into_its_shades(tmp_path):
    src = _write_groups(tmp_path / "src", per_group=8, shades=2)
    argv = [
        "data",
        "cluster",
        str(src),
        "--features",
        "rgb",
        "--k",
        "3",
        "--levels",
        "2",
        "--out",
        str(tmp_path / "o"),
    ]
    assert main(argv) == 0
    ds = Dataset(tmp_path / "o")
    assert len(set(ds.labels[:, 0])) == 6
    assert _pure(ds.labels[:, 0], [t["group"] for t in ds.tags()])


def test_augmented_copies_take_their_originals_class(tmp_path):
    src = _write_groups(tmp_path / "src")
    main(["data", "augment", str(src), "--factor", "3", "--out", str(tmp_path / "aug")])
    main(
        [
            "data",
            "cluster",
            str(tmp_path / "aug"),
            "--features",
            "rgb",
            "--k",
            "3",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    ds = Dataset(tmp_path / "o")
    labels = ds.labels[:, 0]
    assert len(ds) == 90 and all(labels[i] == labels[i - i % 3] for i in range(90))
    assert _pure(labels, [t["group"] for t in ds.tags()])


def test_representatives_follow_augment_source_and_variant_of():
    tags = [
        {"unified": "A", "augment": {"source": 0}},
        {"unified": "A", "augment": {"source": 0, "rotate_deg": 1.0}},
        {"unified": "A-1", "variant_of": "A", "augment": {"source": 1}},
        {"unified": "A-1", "variant_of": "A", "augment": {"source": 1, "rotate_deg": 2.0}},
        {"unified": "B"},
    ]
    assert representatives(tags).tolist() == [0, 0, 0, 0, 4]


def test_effnet_features_separate_colour_groups(tmp_path):
    src = _write_groups(tmp_path / "src", per_group=6)
    assert (
        main(["data", "cluster", str(src), "--features", "effnet", "--k", "3", "--out", str(tmp_path / "o")])
        == 0
    )
    ds = Dataset(tmp_path / "o")
    assert _pure(ds.labels[:, 0], [t["group"] for t in ds.tags()])


def test_sobel_edges_light_up_only_at_the_boundary():
    img = np.zeros((1, 16, 16, 3), dtype=np.uint8)
    img[0, :, 8:] = 255
    edges = sobel_edges(img)[0, :, :, 0]
    assert edges[:, 7:9].min() == 255 and edges[:, :6].max() == 0 and edges[:, 10:].max() == 0


def test_xmeans_estimates_k_of_gaussian_blobs():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 10, (4, 8))
    x = np.concatenate([rng.normal(c, 1.0, (60, 8)) for c in centres])
    k, runs = estimate_k(x, 2, 20, seed=0)
    assert k == 4 and len(runs) == 10
    one_blob = rng.normal(0, 1.0, (200, 8))
    assert estimate_k(one_blob, 1, 20, seed=0)[0] == 1


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--features", "sift"], "unknown --features"),
        (["--k", "1"], "--k must be"),
        (["--k", "lots"], "--k must be"),
        (["--k", "99"], "more than the 30 distinct"),
        (["--levels", "3"], "--levels"),
    ],
)
def test_bad_input_exits_2(tmp_path, capsys, argv, message):
    src = _write_groups(tmp_path / "src")
    assert main(["data", "cluster", str(src), "--features", "rgb", *argv, "--out", str(tmp_path / "o")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_missing_set_exits_2(tmp_path, capsys):
    assert main(["data", "cluster", str(tmp_path / "nothing")]) == 2
    assert "no data set" in capsys.readouterr().err


def test_classes_are_named_after_their_members_categories(tmp_path):
    # Emoji carry a "category" label (their Unicode subgroup); the classes take readable names
    # from it and keep their numbers as aliases, so class:0 and class:<name> mean the same.
    rng = np.random.default_rng(0)
    schema = Schema((choice("category", ["face-smiling", "animal-mammal", "animal-bird"]),))
    groups = {"red": "face-smiling", "green": "animal-mammal", "blue": "animal-mammal"}
    src = tmp_path / "src"
    with DatasetWriter(src, resolution=16, schema=schema, capacity=30) as w:
        w.sources = [Source("synthetic", "CC0")]
        for colour, category in groups.items():
            for i in range(10):
                img = np.array(COLOURS[colour]) + rng.normal(0, 6, (16, 16, 3))
                # one bird among the blue mammals: a class is named by its most common category
                cat = "animal-bird" if (colour == "blue" and i == 0) else category
                w.add(np.clip(img, 0, 255).astype(np.uint8), {"category": cat}, tags={"group": colour})
    assert (
        main(["data", "cluster", str(src), "--features", "rgb", "--k", "3", "--out", str(tmp_path / "o")])
        == 0
    )
    ds = Dataset(tmp_path / "o")
    cls = ds.schema.attribute("class")
    assert sorted(cls.values) == ["animal-mammal", "animal-mammal+animal-bird", "face-smiling"]
    by_group = {t["group"]: cls.values[c] for t, c in zip(ds.tags(), ds.labels[:, 0])}
    assert by_group["red"] == "face-smiling"
    assert cls.canonical("0") == cls.values[0] and cls.canonical("face-smiling") == "face-smiling"
    record = json.loads((tmp_path / "o" / "clusters" / "clusters.json").read_text())
    assert record["names"] == list(cls.values)
