"""engine/data/emoji.py: character-like emoji from the pinned npm packages.

The first run installs the packages into the default cache (~/.cache/mascotbot or
$MASCOT_CACHE); later runs reuse them, so these tests need the network only once.
"""

import json

import numpy as np
import pytest

from engine.cli import main
from engine.data import emoji
from engine.data.dataset import Dataset
from engine.errors import MascotError
from tests.node import needs_node, require_node

NOT_CHARACTERS = (
    "country-flag",
    "heart",
    "hand",
    "hands",
    "body-parts",
    "food",
    "time",
    "keycap",
    "family",
    "person-symbol",
)


@pytest.fixture(scope="module")
def noto(tmp_path_factory) -> Dataset:
    require_node()
    out = tmp_path_factory.mktemp("emoji") / "noto"
    assert (
        main(
            [
                "data",
                "emoji",
                "--source",
                "noto",
                "--out",
                str(out),
                "--size",
                "16",
                "--background",
                "#000000",
            ]
        )
        == 0
    )
    return Dataset(out)


def test_noto_keeps_characters_only(noto):
    categories = noto.schema.attribute("category").values
    assert {"face-smiling", "animal-mammal", "person-fantasy", "cat-face"} <= set(categories)
    assert not [c for c in categories if any(c == w or c.startswith(w + "-") for w in NOT_CHARACTERS)]
    assert 1000 < len(noto) < 3000 and noto.resolution == 16
    assert (noto.labels >= 0).all()


def test_noto_tags_keep_names_skin_tones_hair_and_base(noto):
    tags = noto.tags()
    names = {t["name"] for t in tags}
    assert "grinning face" in names
    toned = [t for t in tags if t.get("skin_tone") == "dark"]
    assert toned and all(t["variant_of"] != t["unified"] for t in toned)
    assert {"red", "curly", "white", "bald"} <= {t.get("hair") for t in tags}
    assert all(t["source"] == "noto" and t["group"] for t in tags)


def test_noto_licence_read_from_the_package(noto):
    sources = noto.card["sources"]
    assert sources[0]["licence"] == "Apache-2.0" and "Noto" in sources[0]["credit"]
    assert sources[0]["url"].startswith("https://github.com/")
    assert sources[1]["licence"] == "MIT" and "Cal Henderson" in sources[1]["credit"]


def test_transparency_becomes_the_background(noto):
    first = np.asarray(noto.images[0])  # grinning face: a round face on a transparent square
    assert (first[0, 0] < 20).all() and (first[-1, -1] < 20).all()  # corners are the black background
    assert first[8, 8].max() > 100  # the yellow face in the middle


@needs_node
def test_openmoji_rasterizes_svgs(tmp_path):
    out = tmp_path / "om"
    assert (
        main(
            [
                "data",
                "emoji",
                "--source",
                "openmoji",
                "--out",
                str(out),
                "--size",
                "16",
                "--skin-tones",
                "none",
            ]
        )
        == 0
    )
    ds = Dataset(out)
    assert 300 < len(ds) < 1000
    assert not any("skin_tone" in t for t in ds.tags())
    assert ds.card["sources"][0]["licence"] == "CC-BY-SA-4.0"
    assert "OpenMoji" in ds.card["sources"][0]["credit"]
    assert np.asarray(ds.images).std() > 20  # real pictures, not blank canvases


def test_cache_is_reused_without_npm(tmp_path, monkeypatch):
    pkg = emoji.PACKAGES["noto"]
    monkeypatch.setenv("MASCOT_CACHE", str(tmp_path))
    monkeypatch.setattr(emoji.shutil, "which", lambda name: None)  # no npm on this "machine"
    with pytest.raises(MascotError, match="npm is needed"):
        emoji.ensure_package(pkg)
    root = tmp_path / "npm-emoji" / "noto" / "node_modules" / pkg.package
    root.mkdir(parents=True)
    (root / "package.json").write_text(json.dumps({"version": pkg.version}))
    assert emoji.ensure_package(pkg) == root


def test_codepoint_tags():
    assert emoji.codepoint_tags("1F468-1F3FF-200D-1F9B0") == {"skin_tone": "dark", "hair": "red"}
    assert emoji.codepoint_tags("1F9D1-1F3FB-200D-1F91D-200D-1F9D1-1F3FF")["skin_tone"] == ["light", "dark"]
    assert emoji.codepoint_tags("1F646-200D-2640-FE0F") == {"gender": "female"}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--source", "twemoji"], "unknown emoji source"),
        (["--size", "0"], "--size"),
        (["--skin-tones", "some"], "--skin-tones"),
        (["--background", "nope"], "not a colour"),
    ],
)
def test_bad_input_exits_2(tmp_path, capsys, argv, message):
    assert main(["data", "emoji", "--out", str(tmp_path / "o"), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
