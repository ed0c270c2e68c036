"""POST /v1/invert: a picture in, its nearest mascot and variations out, as identities the loop can use."""

import asyncio
import base64
import io
import time

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from engine.serve.app import EngineService, ServeConfig


def _service(ckpt, tmp_path, **kw):
    cfg = ServeConfig(models=(("default", str(ckpt)),), jobs_dir=str(tmp_path / "jobs"), invert_steps=5, **kw)
    return EngineService(cfg)


def _b64(image: Image.Image, fmt: str = "PNG", **kw) -> str:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kw)
    return base64.b64encode(buf.getvalue()).decode()


PICTURE = Image.new("RGB", (48, 40), (30, 40, 220))


async def test_a_picture_becomes_a_mascot_with_variations_that_render_again(tiny_checkpoint, tmp_path):
    async with TestClient(TestServer(_service(tiny_checkpoint, tmp_path).app())) as c:
        r = await c.post("/v1/invert", json={"image": _b64(PICTURE), "attributes": "hair:blue", "variations": 3})
        assert r.status == 200, await r.text()
        out = await r.json()
        assert len(out["images"]) == 4 and out["steps"] == 5 and out["read"] == {}  # no tagger: nothing read
        mascot = out["images"][0]
        assert mascot["attributes"]["hair"] == "blue" and len(mascot["latent"]["z"]) > 0
        assert [i["latent"]["index"] for i in out["images"][1:]] == [1, 2, 3]
        again = await (await c.post("/v1/render", json={"latent": mascot["latent"],
                                                        "attributes": mascot["attributes"]})).json()  # fmt: skip
        assert again["images"][0]["image"] == mascot["image"]
        same = await (await c.post("/v1/invert", json={"image": _b64(PICTURE), "attributes": "hair:blue",
                                                       "variations": 3})).json()  # fmt: skip
        assert [i["image"] for i in same["images"]] == [i["image"] for i in out["images"]]
        kids = await (await c.post("/v1/variations", json={"latent": mascot["latent"],
                                                           "attributes": mascot["attributes"]})).json()  # fmt: skip
        assert len(kids["images"]) == 4


@pytest.mark.parametrize(
    "body, code",
    [
        ({}, "invalid_image"),
        ({"image": 5}, "invalid_image"),
        ({"image": "%%% not base64"}, "invalid_image"),
        ({"image": base64.b64encode(b"plain text").decode()}, "bad_request"),
        ({"image": _b64(PICTURE, "GIF")}, "bad_request"),
        ({"image": _b64(PICTURE), "variations": 99}, "invalid_variations"),
        ({"image": _b64(PICTURE), "strength": "x"}, "invalid_strength"),
        ({"image": _b64(PICTURE), "attributes": "hair:plaid"}, "invalid_attributes"),
    ],
)
async def test_what_is_not_a_usable_picture_is_a_clear_4xx(tiny_checkpoint, tmp_path, body, code):
    async with TestClient(TestServer(_service(tiny_checkpoint, tmp_path).app())) as c:
        r = await c.post("/v1/invert", json=body)
        out = await r.json()
        assert 400 <= r.status < 500 and out["error"]["code"] == code and out["error"]["message"]


async def test_a_data_url_is_accepted_and_a_second_search_meanwhile_is_told_to_wait(tiny_checkpoint, tmp_path,
                                                                                   monkeypatch):  # fmt: skip
    from engine import invert

    search = invert.Inverter.__call__

    def slow(self, *args, **kw):
        time.sleep(1.0)
        return search(self, *args, **kw)

    monkeypatch.setattr(invert.Inverter, "__call__", slow)
    async with TestClient(TestServer(_service(tiny_checkpoint, tmp_path).app())) as c:
        other = Image.new("RGB", (32, 32), (200, 30, 30))
        first = asyncio.create_task(c.post("/v1/invert", json={"image": "data:image/png;base64," + _b64(other)}))
        await asyncio.sleep(0.5)
        started = time.monotonic()
        r = await c.post("/v1/invert", json={"image": _b64(PICTURE)})
        assert r.status == 429 and time.monotonic() - started < 0.5 and int(r.headers["Retry-After"]) > 0
        assert (await first).status == 200
