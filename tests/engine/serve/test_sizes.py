"""The ``size`` field: the generator's own side, or 2x / 4x through the upscale stage."""

import asyncio
import base64
import io

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from engine.serve.app import EngineService, ServeConfig


@pytest.fixture
def upscaler(tiny_upscaler):
    return tiny_upscaler


def _service(ckpt, tmp_path, upscaler="", **kw):
    cfg = ServeConfig(
        models=(("default", str(ckpt)),), jobs_dir=str(tmp_path / "jobs"), upscaler=str(upscaler), **kw
    )
    return EngineService(cfg)


def _side(b64: str) -> int:
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    assert image.size[0] == image.size[1]
    return image.size[0]


async def test_models_list_the_sizes_the_stage_offers(tiny_checkpoint, tmp_path, upscaler):
    async with TestClient(TestServer(_service(tiny_checkpoint, tmp_path, upscaler).app())) as c:
        body = await (await c.get("/v1/models")).json()
    assert body["models"][0]["sizes"] == [32, 64, 128]
    assert body["upscaler"]["scale"] == 4 and body["upscaler"]["version"].startswith("upscaler-")


@pytest.mark.parametrize("size", [32, 64, 128])
async def test_generate_answers_at_the_asked_size(tiny_checkpoint, tmp_path, upscaler, size):
    async with TestClient(TestServer(_service(tiny_checkpoint, tmp_path, upscaler).app())) as c:
        r = await c.post("/v1/generate", json={"attributes": "hair:blue", "seed": 3, "size": size})
        assert r.status == 200
        image = (await r.json())["images"][0]
    assert image["size"] == size and _side(image["image"]) == size


async def test_upscaled_images_are_the_same_bytes_alone_and_batched(tiny_checkpoint, tmp_path, upscaler):
    payloads = [{"attributes": "hair:green", "seed": s, "size": 128} for s in range(10, 22)]
    async with TestClient(
        TestServer(_service(tiny_checkpoint, tmp_path, upscaler, batch_window_ms=50).app())
    ) as c:
        bodies = [
            await r.json() for r in await asyncio.gather(*(c.post("/v1/generate", json=p) for p in payloads))
        ]
        together = await (
            await c.post(
                "/v1/generate", json={"attributes": "hair:green", "seed": 10, "count": 4, "size": 128}
            )
        ).json()
    batched = {b["images"][0]["seed"]: b["images"][0]["image"] for b in bodies}
    async with TestClient(TestServer(_service(tiny_checkpoint, tmp_path, upscaler).app())) as c:
        for seed in (10, 13, 21):
            alone = await (
                await c.post("/v1/generate", json={"attributes": "hair:green", "seed": seed, "size": 128})
            ).json()
            assert alone["images"][0]["image"] == batched[seed]
    assert [i["image"] for i in together["images"]] == [batched[s] for s in range(10, 14)]


async def test_the_stage_changes_pixels_beyond_a_plain_enlargement(tiny_checkpoint, tmp_path, upscaler):
    async with TestClient(TestServer(_service(tiny_checkpoint, tmp_path, upscaler).app())) as c:
        small, big = [
            (
                await (
                    await c.post("/v1/generate", json={"seed": 5, "attributes": "hair:red", "size": s})
                ).json()
            )
            for s in (32, 128)
        ]
    small_px = Image.open(io.BytesIO(base64.b64decode(small["images"][0]["image"])))
    big_px = np.asarray(Image.open(io.BytesIO(base64.b64decode(big["images"][0]["image"]))), np.int16)
    bicubic = np.asarray(small_px.resize((128, 128), Image.BICUBIC), np.int16)
    assert np.abs(big_px - bicubic).mean() > 0.5


async def test_interpolate_frames_come_at_the_asked_size(tiny_checkpoint, tmp_path, upscaler):
    async with TestClient(TestServer(_service(tiny_checkpoint, tmp_path, upscaler).app())) as c:
        r = await c.post(
            "/v1/interpolate", json={"a": {"seed": 1}, "b": {"seed": 2}, "frames": 3, "size": 64}
        )
        assert r.status == 200
        body = await r.json()
    assert [_side(f) for f in body["frames"]] == [64, 64, 64]


@pytest.mark.parametrize("size", [48, 256, 0, -32, "128", 64.0, True, None, [64]])
async def test_a_size_not_offered_is_a_400_listing_the_sizes(tiny_checkpoint, tmp_path, upscaler, size):
    async with TestClient(TestServer(_service(tiny_checkpoint, tmp_path, upscaler).app())) as c:
        r = await c.post("/v1/generate", json={"seed": 1, "size": size})
        assert r.status == 400
        error = (await r.json())["error"]
    # A whole number is checked against the model's sizes; anything else is refused by its type.
    offered = "32, 64, 128" if type(size) is int else "the sizes GET /v1/models lists"
    assert error["code"] == "invalid_size" and offered in error["message"]


async def test_without_the_stage_only_the_native_size_is_offered(tiny_checkpoint, tmp_path):
    async with TestClient(TestServer(_service(tiny_checkpoint, tmp_path, tmp_path / "absent").app())) as c:
        models = await (await c.get("/v1/models")).json()
        r = await c.post("/v1/generate", json={"seed": 1, "size": 64})
        error = (await r.json())["error"]
    assert models["models"][0]["sizes"] == [32] and models["upscaler"] is None
    assert r.status == 400 and "upscale stage" in error["message"]


async def test_the_start_measures_each_size_and_the_stage_once(tiny_checkpoint, tmp_path, upscaler):
    service = _service(tiny_checkpoint, tmp_path, upscaler, workers=2)
    measured = []
    measure = service.admission.measure

    async def counted(draw, images):
        measured.append(images)
        return await measure(draw, images)

    service.admission.measure = counted
    async with TestClient(TestServer(service.app())):
        pass
    # The native size at the largest bucket, then one image through the stage for 64 and 128 alike.
    assert sorted(measured) == [1, max(service.cfg.buckets)]
    assert set(service.size_cost) == {32, 64, 128} and service.size_cost[32] == 1.0
    assert service.size_cost[64] == service.size_cost[128] > 0
