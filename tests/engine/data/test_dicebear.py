"""The DiceBear builder: real renders (node + resvg) at small sizes, and its refusals.

The npm packages install once into the default cache (~/.cache/mascotbot/npm, or
$MASCOT_CACHE/npm) and are reused by every later run.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from engine.cli import main
from engine.data import dicebear
from engine.data.dataset import Dataset
from engine.data.dicebear import (
    DICEBEAR_SCHEMA,
    EYES,
    HAIR,
    STYLES,
    colour_name,
    dicebear_schema,
    far_colour,
    rasterize,
    styles_for,
)
from engine.errors import MascotError
from engine.schema import UNKNOWN
from tests.node import needs_node

pytestmark = needs_node

COUNT, SIZE = 36, 48


def build(out, *extra: str) -> int:
    return main(["data", "dicebear", "--count", str(COUNT), "--size", str(SIZE), "--out", str(out), *extra])


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("dicebear")
    assert build(root / "a", "--seed", "7") == 0
    return Dataset(root / "a")


@pytest.fixture(scope="session")
def blue(tmp_path_factory):
    root = tmp_path_factory.mktemp("dicebear_blue")
    assert build(root / "blue", "--seed", "3", "--force", "hair=blue", "smile=yes") == 0
    return Dataset(root / "blue")


def column(ds: Dataset, name: str) -> np.ndarray:
    return ds.labels[:, ds.schema.names.index(name)]


def values(ds: Dataset, name: str) -> list[str | None]:
    attr = ds.schema.attribute(name)
    return [attr.values[i] if i != UNKNOWN else None for i in column(ds, name)]


# --- a normal build ---------------------------------------------------------------------
def test_build_writes_every_image_with_valid_labels(built):
    assert len(built) == COUNT and built.resolution == SIZE
    assert json.loads((built.root / "schema.json").read_text()) == DICEBEAR_SCHEMA.to_json()
    assert built.schema.joint is not None  # derived from the labels on loading, not stored
    for i, attr in enumerate(built.schema.attributes):
        col = built.labels[:, i]
        assert ((col == UNKNOWN) | ((col >= 0) & (col < len(attr.values)))).all(), attr.name
    for always_known in ("style", "skin", "smile", "glasses", "hat", "background"):
        assert (column(built, always_known) != UNKNOWN).all(), always_known
    assert len(set(values(built, "style"))) >= 4  # several styles in 36 draws


def test_unknown_only_where_the_part_cannot_be_seen(built):
    for style, hair, eyes, hat, glasses in zip(
        *(values(built, n) for n in ("style", "hair", "eyes", "hat", "glasses"))
    ):
        if hair is None:
            assert hat == "yes", "hair may only be hidden by a hat"
        if STYLES[style].eyes_option is None:
            assert eyes is None, f"{style} has no eye colour, so eyes must be UNKNOWN"
        elif eyes is None:
            assert glasses == "yes", "eyes may only be hidden by glasses"
        if hat == "yes":
            assert STYLES[style].has_hats


def test_pixels_look_like_avatars_on_their_background(built):
    images = np.asarray(built.images)
    assert images.dtype == np.uint8 and images.shape == (COUNT, SIZE, SIZE, 3)
    assert images.reshape(COUNT, -1).std(axis=1).min() > 10  # nothing rendered blank
    from engine.data.dicebear import BACKGROUND

    for image, bg in zip(images, values(built, "background")):
        corner = image[0, 0].astype(int)  # DiceBear styles leave the top-left corner empty
        expect = [int(BACKGROUND[bg][i : i + 2], 16) for i in (0, 2, 4)]
        assert np.abs(corner - expect).max() <= 2


def test_card_credits_each_style_from_its_package(built):
    sources = {s["name"]: s for s in built.card["sources"]}
    adventurer = next(s for n, s in sources.items() if "@dicebear/adventurer 9.4.3" in n)
    assert adventurer["licence"] == "CC BY 4.0" and "Lisa Wischofsky" in adventurer["credit"]
    assert len(sources) == len(STYLES)
    assert built.card["attribute_counts"]["hair"]["(not visible)"] <= COUNT // 3


def test_labels_and_pixels_are_deterministic_for_a_seed(built, tmp_path):
    assert build(tmp_path / "again", "--seed", "7") == 0
    again = Dataset(tmp_path / "again")
    assert np.array_equal(again.labels, built.labels)
    assert again.fingerprint == built.fingerprint


def test_another_seed_draws_other_avatars(built, tmp_path):
    assert build(tmp_path / "other", "--seed", "8", "--styles", "micah", "lorelei") == 0
    other = Dataset(tmp_path / "other")
    assert not np.array_equal(other.labels, built.labels)
    assert set(values(other, "style")) <= {"micah", "lorelei"}
    style = other.schema.attribute("style")
    assert style.values == tuple(STYLES)  # one layout for every DiceBear data set
    assert {v for v, p in zip(style.values, style.prior) if p > 0} == {"micah", "lorelei"}


# --- forced attributes ------------------------------------------------------------------
def test_forced_values_are_in_every_label(blue):
    assert values(blue, "hair") == ["blue"] * COUNT
    assert values(blue, "smile") == ["yes"] * COUNT


def test_forced_hair_colour_is_really_drawn(blue):
    palette = np.array([[int(h[i : i + 2], 16) for i in (0, 2, 4)] for h in HAIR["blue"]])
    for n, image in enumerate(np.asarray(blue.images)):
        pixels = image.reshape(-1, 1, 3).astype(int)
        near = (np.abs(pixels - palette[None]).max(axis=2) <= 6).any(axis=1)
        assert near.sum() >= 4, f"image {n} shows no blue hair"


def test_styles_that_cannot_draw_a_forced_value_are_left_out():
    everything = tuple(STYLES)
    assert set(styles_for({"hat": "yes"}, everything)) == {"avataaars", "pixel-art"}
    # avataaars draws its hats instead of hair, so forced hair under a hat needs pixel-art
    assert styles_for({"hat": "yes", "hair": "blue"}, everything) == ("pixel-art",)
    assert set(styles_for({"eyes": "green"}, everything)) == {"lorelei", "pixel-art", "micah"}
    with pytest.raises(MascotError, match="can draw hat=yes"):
        styles_for({"hat": "yes"}, ("lorelei", "micah"))


def _scene(hair: str, hat_height: int) -> str:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">'
        '<rect x="20" y="20" width="60" height="40" '
        f'fill="#{hair}"/><rect x="10" y="10" width="80" height="{hat_height}" fill="#333333"/></svg>'
    )


@pytest.mark.parametrize("hat_height, shows", [(60, False), (40, True), (0, True)])
def test_probe_sees_whether_a_part_shows(hat_height, shows):
    # Hair drawn, then a hat over it; the probe redraws the hair in another colour.
    svg, probe = _scene("2563eb", hat_height), _scene(far_colour("2563eb"), hat_height)
    image, visible = rasterize((svg, {"hairColor": probe}, 32, "ffffff"))
    assert visible == {"hairColor": shows}
    assert image.shape == (32, 32, 3) and tuple(image[0, 0]) == (255, 255, 255)


# --- the schema and colour helpers --------------------------------------------------------
def test_schema_covers_the_promised_values():
    hair = DICEBEAR_SCHEMA.attribute("hair").values
    for colour in ("black", "blonde", "brown", "red", "blue", "pink", "green", "purple", "white"):
        assert colour in hair
    assert DICEBEAR_SCHEMA.names == ("style", "hair", "eyes", "skin", "smile", "glasses", "hat", "background")
    # only two of six styles have hats, so the hat prior is a third of the in-style rate
    hat = dicebear_schema(("lorelei", "micah")).attribute("hat")
    assert hat.prior[1] == 0.0


def test_colour_helpers():
    assert colour_name(EYES, "#2F80ED") == "blue"
    with pytest.raises(RuntimeError):
        colour_name(HAIR, "#123456")
    for hex_colour in ("000000", "808080", "ffffff", "2563eb"):
        alt = far_colour(hex_colour)
        assert all(abs(int(hex_colour[i : i + 2], 16) - int(alt[i : i + 2], 16)) >= 127 for i in (0, 2, 4))


# --- bad input: one line, exit 2, nothing left behind -------------------------------------
@pytest.mark.parametrize(
    "args, message",
    [
        (["--count", "0"], "--count must be at least 1"),
        (["--count", "-5"], "--count must be at least 1"),
        (["--size", "8"], "--size must be at least 16"),
        (["--styles", "advnturer"], "Did you mean 'adventurer'"),
        (["--force", "hair=plaid"], "allowed: black, blonde"),
        (["--force", "wings=yes"], "unknown attribute 'wings'"),
        (["--force", "hat=yes", "--styles", "lorelei"], "can draw hat=yes"),
        (["--force", "style=micah", "--styles", "lorelei"], "is not among --styles lorelei"),
        (["--force", "style=robot"], "allowed: adventurer, lorelei"),
    ],
)
def test_bad_input_exits_2_with_one_clear_line(tmp_path, capsys, args, message):
    # argparse keeps the last --count / --size, so the bad one given after the good one wins
    argv = ["data", "dicebear", "--count", "4", "--size", "32", "--out", str(tmp_path / "out"), *args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # no data set, no staging folder


def test_unwritable_out_is_refused(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert build(blocker / "out") == 2
    assert "cannot write" in capsys.readouterr().err
    other = tmp_path / "photos"
    other.mkdir()
    (other / "me.jpg").write_text("x")
    assert build(other) == 2
    assert "not a data set" in capsys.readouterr().err
    assert (other / "me.jpg").exists()


def test_missing_node_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    assert build(tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "Node.js" in err and "npm" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("answer", "ok"), [("v12.22.9", False), ("v17.9.1", False), ("v18.0.0", True)])
def test_an_old_node_is_refused_by_name_before_npm_runs(tmp_path, monkeypatch, answer, ok):
    fake = tmp_path / "node"
    fake.write_text(f"#!/bin/sh\necho {answer}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    if ok:
        assert dicebear.require_tool("node") == str(fake)
    else:
        with pytest.raises(MascotError, match=rf"needs Node\.js 18\+, but '.*node' is {answer}"):
            dicebear.require_tool("node")
