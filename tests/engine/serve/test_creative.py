"""The creative loop's endpoints: variations, fuse and render are repeatable identities."""

import base64
import io

import numpy as np
import pytest
import torch
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from engine import creative
from engine.models import stylegan2
from engine.sampling import render, resolve
from engine.schema import Schema, choice, flag
from engine.serve.app import EngineService, ServeConfig


def _service(ckpt, tmp_path, upscaler=""):
    return EngineService(
        ServeConfig(models=(("default", str(ckpt)),), jobs_dir=str(tmp_path / "jobs"), upscaler=str(upscaler))
    )


async def _post(ckpt, tmp_path, path, body, upscaler=""):
    """A fresh engine per call: equal answers are not the cache's doing."""
    async with TestClient(TestServer(_service(ckpt, tmp_path, upscaler).app())) as c:
        r = await c.post(path, json=body)
        return r.status, await r.json()


def _pixels(b64):
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64)))).astype(int)


async def test_variations_are_the_same_bytes_for_the_same_request(tiny_checkpoint, tmp_path):
    body = {"seed": 42, "attributes": "hair:blue", "count": 4, "strength": 0.3}
    s1, first = await _post(tiny_checkpoint, tmp_path, "/v1/variations", body)
    s2, again = await _post(tiny_checkpoint, tmp_path, "/v1/variations", body)
    assert s1 == s2 == 200
    assert [i["image"] for i in first["images"]] == [i["image"] for i in again["images"]]
    assert len({i["image"] for i in first["images"]}) == 4  # four different pictures
    assert [i["variation"] for i in first["images"]] == [1, 2, 3, 4]
    assert len({i["generation_id"] for i in first["images"]}) == 4
    parent = first["parent"]["attributes"]
    assert parent["hair"] == "blue" and all(i["attributes"] == parent for i in first["images"])
    assert first["images"][1]["latent"] == {"vary": {"seed": 42}, "index": 2, "step": 0.3}
    _, alone = await _post(tiny_checkpoint, tmp_path, "/v1/variations", {**body, "count": 1, "first": 2})
    assert alone["images"][0]["image"] == first["images"][1]["image"]  # V2 alone is V2 among four


async def test_strength_zero_is_the_parent_and_one_is_far(tiny_checkpoint, tmp_path):
    _, made = await _post(tiny_checkpoint, tmp_path, "/v1/generate", {"seed": 9, "attributes": "hair:red"})
    _, same = await _post(
        tiny_checkpoint,
        tmp_path,
        "/v1/variations",
        {"seed": 9, "attributes": "hair:red", "count": 1, "strength": 0},
    )
    _, near = await _post(
        tiny_checkpoint,
        tmp_path,
        "/v1/variations",
        {"seed": 9, "attributes": "hair:red", "count": 2, "strength": 0.3},
    )
    _, far = await _post(
        tiny_checkpoint,
        tmp_path,
        "/v1/variations",
        {"seed": 9, "attributes": "hair:red", "count": 2, "strength": 1},
    )
    parent = made["images"][0]
    assert same["images"][0]["image"] == parent["image"]
    assert same["images"][0]["generation_id"] != parent["generation_id"]  # a variation is its own identity
    diff = lambda b: np.mean(
        [np.abs(_pixels(i["image"]) - _pixels(parent["image"])).mean() for i in b["images"]]
    )
    assert 0 < diff(near) < diff(far)


async def test_render_draws_a_variation_of_a_variation_again(tiny_checkpoint, tmp_path):
    _, first = await _post(tiny_checkpoint, tmp_path, "/v1/variations", {"seed": 5, "count": 2})
    v2 = first["images"][1]
    _, second = await _post(
        tiny_checkpoint,
        tmp_path,
        "/v1/variations",
        {"latent": v2["latent"], "attributes": v2["attributes"], "count": 1},
    )
    child = second["images"][0]
    assert child["latent"] == {"vary": v2["latent"], "index": 1, "step": 0.4} and child["seed"] == 5
    _, again = await _post(
        tiny_checkpoint,
        tmp_path,
        "/v1/render",
        {"latent": child["latent"], "attributes": child["attributes"]},
    )
    assert again["images"][0]["image"] == child["image"]
    assert again["images"][0]["generation_id"] == child["generation_id"]


async def test_fuse_takes_every_attribute_from_a_parent_and_repeats(tiny_checkpoint, tmp_path):
    body = {
        "a": {"seed": 1, "attributes": "hair:blue smile:yes"},
        "b": {"seed": 2, "attributes": "hair:red smile:no"},
    }
    status, fused = await _post(tiny_checkpoint, tmp_path, "/v1/fuse", body)
    _, again = await _post(tiny_checkpoint, tmp_path, "/v1/fuse", body)
    assert status == 200 and fused["images"][0]["image"] == again["images"][0]["image"]
    child = fused["images"][0]
    assert child["latent"] == {"fuse": [{"seed": 1}, {"seed": 2}], "mix": 0.5}
    assert child["attributes"]["hair"] == {"a": "blue", "b": "red"}[child["from"]["hair"]]
    assert child["attributes"]["smile"] == {"a": "yes", "b": "no"}[child["from"]["smile"]]
    draws = [
        await _post(tiny_checkpoint, tmp_path, "/v1/fuse", {**body, "seed": s, "from": "hair:b"})
        for s in range(6)
    ]
    assert all(d["images"][0]["attributes"]["hair"] == "red" for _, d in draws)
    assert {d["images"][0]["from"]["smile"] for _, d in draws} == {"a", "b"}  # a fair draw, not one side
    _, redrawn = await _post(
        tiny_checkpoint,
        tmp_path,
        "/v1/render",
        {"latent": child["latent"], "attributes": child["attributes"]},
    )
    assert redrawn["images"][0]["image"] == child["image"]


async def test_variations_and_fuse_answer_at_the_asked_size(tiny_checkpoint, tmp_path, tiny_upscaler):
    _, v = await _post(
        tiny_checkpoint, tmp_path, "/v1/variations", {"seed": 3, "count": 1, "size": 128}, tiny_upscaler
    )
    _, f = await _post(
        tiny_checkpoint, tmp_path, "/v1/fuse", {"a": {"seed": 1}, "b": {"seed": 2}, "size": 64}, tiny_upscaler
    )
    assert _pixels(v["images"][0]["image"]).shape == (128, 128, 3) and v["images"][0]["size"] == 128
    assert _pixels(f["images"][0]["image"]).shape == (64, 64, 3)


@pytest.mark.parametrize(
    "path, body, code",
    [
        ("/v1/variations", {"seed": 1, "count": 5}, "invalid_count"),
        ("/v1/variations", {"seed": 1, "strength": 1.5}, "invalid_strength"),
        ("/v1/variations", {"attributes": "hair:blue"}, "invalid_seed"),
        ("/v1/variations", {"latent": {"vary": {"seed": 1}, "index": 0, "strength": 0.3}}, "invalid_latent"),
        ("/v1/variations", {"seed": 1, "size": 999}, "invalid_size"),
        ("/v1/fuse", {"a": {"seed": 1}}, "invalid_parent"),
        ("/v1/fuse", {"a": {"seed": 1}, "b": {"seed": 2}, "from": {"hair": "c"}}, "invalid_from"),
        ("/v1/fuse", {"a": {"seed": 1}, "b": {"seed": 2}, "from": "tail:a"}, "invalid_from"),
        ("/v1/fuse", {"a": {"seed": 1}, "b": {"seed": 2}, "mix": -1}, "invalid_mix"),
        ("/v1/render", {"attributes": "hair:blue"}, "invalid_latent"),
        ("/v1/render", {"latent": "not json"}, "invalid_latent"),
    ],
)
async def test_bad_input_is_a_400_naming_what_is_allowed(tiny_checkpoint, tmp_path, path, body, code):
    status, answer = await _post(tiny_checkpoint, tmp_path, path, body)
    assert status == 400 and answer["error"]["code"] == code and answer["error"]["message"]


# --- the latent math on a style-based generator -------------------------------------


@pytest.fixture(scope="module")
def style_g():
    torch.manual_seed(0)
    schema = Schema((choice("hair", ["blue", "red"]), flag("smile")))
    G = stylegan2.Generator(
        stylegan2.Arch(z_dim=16, w_dim=16, channel_base=64, channel_max=16), schema.dim, 8
    )
    return G.eval().double(), schema


def test_a_plain_seed_draws_what_generate_draws_on_a_style_model(style_g):
    G, schema = style_g
    req = resolve(schema, {"hair": "blue"}, 4)
    ours = creative.render(G, schema, [(creative.seed_recipe(4), req.attrs)])
    assert np.array_equal(ours, render(G, schema, [req]))


def test_fuse_mixes_styles_coarse_from_a_fine_from_b(style_g):
    G, _ = style_g
    layers = creative.style_layers(G)
    assert layers > 2
    a, b = creative.seed_recipe(1), creative.seed_recipe(2)
    z = creative.layer_latents(creative.fuse(a, b, 0.5), G.z_dim, layers)
    za, zb = creative.layer_latents(a, G.z_dim, 1)[0], creative.layer_latents(b, G.z_dim, 1)[0]
    cut = layers - round(0.5 * layers)
    assert all(torch.equal(z[i], za) for i in range(cut)) and all(
        torch.equal(z[i], zb) for i in range(cut, layers)
    )
    assert torch.equal(creative.layer_latents(creative.fuse(a, b, 0.0), G.z_dim, layers)[-1], za)


# --- the nightly curation draws a voted variation from its recipe ----------------------


async def test_curation_redraws_a_variation_as_served(tiny_checkpoint, tmp_path):
    from engine.checkpoint import load_checkpoint
    from engine.curate.curated_set import Models, draw
    from engine.curate.request import parse_items

    _, body = await _post(
        tiny_checkpoint, tmp_path, "/v1/variations", {"seed": 11, "count": 2, "strength": 0.6}
    )
    served = body["images"][1]
    ck = load_checkpoint(tiny_checkpoint)
    (item,) = parse_items(
        {
            "curated": [
                {
                    "seed": served["seed"],
                    "attributes": served["attributes"],
                    "version": ck.version,
                    "latent": served["latent"],
                }
            ]
        },
        "curated",
        True,
    )
    drawn = draw(item, Models(ck, tmp_path / "versions"))
    assert drawn.source == "regenerated" and np.array_equal(drawn.image, _pixels(served["image"]))
    plain = draw({**item, "latent": None}, Models(ck, tmp_path / "versions"))
    assert not np.array_equal(plain.image, drawn.image)  # the seed alone would have drawn the parent
    with pytest.raises(Exception, match="latent"):
        parse_items({"curated": [{**item, "latent": {"vary": 1}}]}, "curated", True)
