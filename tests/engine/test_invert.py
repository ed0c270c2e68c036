"""engine/invert.py: uploaded pictures read or refused clearly, and the latent search gets nearer."""

import io

import numpy as np
import pytest
from PIL import Image

from engine.checkpoint import load_checkpoint
from engine.errors import MascotError
from engine.invert import MAX_BYTES, InvertConfig, Inverter, fit_square, read_picture
from engine.sampling import render, resolve


def _encoded(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_still_pictures_are_read_and_transparency_lies_on_white():
    rgba = Image.new("RGBA", (20, 10), (255, 0, 0, 0))
    rgba.putpixel((3, 3), (0, 0, 255, 255))
    out = read_picture(_encoded(rgba, "PNG"))
    assert (
        out.shape == (10, 20, 3) and tuple(out[0, 0]) == (255, 255, 255) and tuple(out[3, 3]) == (0, 0, 255)
    )
    assert read_picture(_encoded(Image.new("RGB", (8, 8), "green"), "JPEG")).shape == (8, 8, 3)
    assert read_picture(_encoded(Image.new("RGB", (8, 8), "green"), "WEBP")).shape == (8, 8, 3)


@pytest.mark.parametrize(
    "data, says",
    [
        (b"", "empty"),
        (b"hello, not a picture", "not a picture"),
        (_encoded(Image.new("RGB", (8, 8)), "GIF"), "GIF"),
        (_encoded(Image.new("RGB", (8, 8)), "BMP"), "BMP"),
        (_encoded(Image.new("RGB", (5000, 4)), "PNG"), "at most 4096"),
        (b"\x89PNG" + bytes(MAX_BYTES), "MiB"),
        (
            _encoded(
                Image.new("RGB", (8, 8), "red"),
                "WEBP",
                save_all=True,
                append_images=[Image.new("RGB", (8, 8), "blue")],
            ),
            "animated",
        ),
        (
            _encoded(
                Image.new("RGB", (8, 8), "red"),
                "PNG",
                save_all=True,
                append_images=[Image.new("RGB", (8, 8), "blue")],
            ),
            "animated",
        ),
    ],
)
def test_what_is_not_a_still_picture_is_refused_by_name(data, says):
    with pytest.raises(MascotError, match=says):
        read_picture(data)


def test_fit_square_pads_with_the_border_colour_and_keeps_everything():
    wide = np.full((10, 40, 3), 200, np.uint8)
    wide[4:6, 0] = 0  # a mark at the very left edge must survive
    out = fit_square(wide, 32)
    assert out.shape == (32, 32, 3)
    assert tuple(out[0, 16]) == (200, 200, 200)  # padding, not black
    assert out[14:18, 0].min() < 150


def test_the_search_ends_nearer_than_its_best_start_and_is_repeatable(tiny_checkpoint):
    ck = load_checkpoint(tiny_checkpoint)
    target = render(ck.G, ck.schema, [resolve(ck.schema, {"hair": "blue"}, seed=999)])[0]
    cfg = InvertConfig(steps=25, candidates=4, lr=0.1, budget_s=120, feature_size=64)
    inverter = Inverter(ck.G, ck.schema, ck.resolution, cfg=cfg)
    first = inverter(target, {"hair": "blue"})
    starts_only = Inverter(ck.G, ck.schema, ck.resolution, cfg=InvertConfig(**{**cfg.__dict__, "steps": 1}))(
        target, {"hair": "blue"}
    )
    assert first.steps == 25 and first.attributes["hair"] == "blue"
    assert first.distance < starts_only.distance
    again = inverter(target, {"hair": "blue"})
    assert np.array_equal(first.latent, again.latent)
    assert first.latent.dtype == np.float32 and first.latent.shape == (ck.G.z_dim,)


def test_the_time_budget_stops_the_search(tiny_checkpoint):
    ck = load_checkpoint(tiny_checkpoint)
    target = np.full((40, 40, 3), 128, np.uint8)
    out = Inverter(
        ck.G,
        ck.schema,
        ck.resolution,
        cfg=InvertConfig(steps=2000, candidates=2, budget_s=0.5, feature_size=64),
    )(target)
    assert out.steps < 2000 and out.seconds < 30 and np.isfinite(out.distance)


def test_a_latent_given_in_full_draws_what_its_seed_draws(tiny_checkpoint):
    from engine import creative
    from engine.sampling import latent

    ck = load_checkpoint(tiny_checkpoint)
    attrs = resolve(ck.schema, {"hair": "green"}, seed=5).attrs
    z = [float(v) for v in latent(5, ck.G.z_dim).numpy()]
    by_seed = creative.render(ck.G, ck.schema, [(creative.seed_recipe(5), attrs)])
    given = creative.parse({"z": z})
    assert np.array_equal(creative.render(ck.G, ck.schema, [(given, attrs)]), by_seed)
    assert creative.parse(given.to_json()) == given  # the JSON form is the identity
    child = creative.vary(given, 1, 0.3)
    assert not np.array_equal(creative.render(ck.G, ck.schema, [(child, attrs)]), by_seed)
    with pytest.raises(creative.RecipeError, match="takes"):
        creative.render(ck.G, ck.schema, [(creative.parse({"z": z[:-1]}), attrs)])


@pytest.mark.parametrize(
    "bad",
    [
        {"z": [float("nan")]},
        {"z": [9.0]},
        {"z": "x"},
        {"z": [True]},
        {"z": []},
        {"z": [0.0], "seed": 1},
        {"z": [10**5000]},
    ],
)
def test_a_given_latent_is_checked(bad):
    from engine import creative

    with pytest.raises(creative.RecipeError):
        creative.parse(bad)
