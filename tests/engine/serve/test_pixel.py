"""A pixel-art model served beside the default: every cell a palette colour, enlarged exactly."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from engine.checkpoint import load_checkpoint
from engine.cli import main
from engine.sampling import render, resolve
from engine.serve.app import EngineService, ServeConfig


def _service(default, pixel, tmp_path, upscaler="", **kw):
    cfg = ServeConfig(
        models=(("default", str(default)), ("pixel", str(pixel))),
        jobs_dir=str(tmp_path / "jobs"),
        path_roots=(str(tmp_path.parent),),
        upscaler=str(upscaler),
        **kw,
    )
    return EngineService(cfg)


def _pixels(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB"))


def _colours(images: np.ndarray) -> set[tuple[int, int, int]]:
    return {tuple(c) for c in images.reshape(-1, 3).tolist()}


@pytest.fixture
async def client(tiny_checkpoint, tiny_pixel_checkpoint, tmp_path, tiny_upscaler):
    service = _service(tiny_checkpoint, tiny_pixel_checkpoint, tmp_path, tiny_upscaler)
    async with TestClient(TestServer(service.app())) as c:
        yield c


def test_training_on_a_palette_set_declares_the_output(tiny_pixel_checkpoint):
    ck = load_checkpoint(tiny_pixel_checkpoint)
    assert ck.output.grid == ck.resolution == 16
    assert ck.output.to_json()["palette"] == ["#000000", "#2828dc", "#28c828", "#dc2828", "#ffffff"]


async def test_models_list_the_grid_and_posted_sizes(client):
    body = await (await client.get("/v1/models")).json()
    sizes = {m["name"]: m["sizes"] for m in body["models"]}
    assert sizes == {"default": [32, 64, 128], "pixel": [16, 128, 256, 512]}


@pytest.mark.parametrize("size", [16, 128, 512])
async def test_every_served_cell_is_a_palette_colour_in_an_exact_block(client, tiny_pixel_checkpoint, size):
    palette = {tuple(c) for c in load_checkpoint(tiny_pixel_checkpoint).output.palette.tolist()}
    r = await client.post("/v1/generate", json={"model": "pixel", "seed": 1, "count": 4, "size": size})
    assert r.status == 200
    for image in (await r.json())["images"]:
        big = _pixels(image["image"])
        scale = size // 16
        assert image["size"] == size and big.shape == (size, size, 3)
        assert _colours(big) <= palette
        cells = big[::scale, ::scale]
        np.testing.assert_array_equal(big, cells.repeat(scale, axis=0).repeat(scale, axis=1))


async def test_pixel_pictures_are_the_same_bytes_alone_and_batched(
    tiny_checkpoint, tiny_pixel_checkpoint, tmp_path
):
    payloads = [{"model": "pixel", "attributes": "hair:red", "seed": s, "size": 256} for s in range(8)]
    service = _service(tiny_checkpoint, tiny_pixel_checkpoint, tmp_path, batch_window_ms=50)
    async with TestClient(TestServer(service.app())) as c:
        bodies = [
            await r.json() for r in await asyncio.gather(*(c.post("/v1/generate", json=p) for p in payloads))
        ]
    async with TestClient(TestServer(_service(tiny_checkpoint, tiny_pixel_checkpoint, tmp_path).app())) as c:
        alone = [await (await c.post("/v1/generate", json=p)).json() for p in payloads[:3]]
    assert [b["images"][0]["image"] for b in alone] == [b["images"][0]["image"] for b in bodies[:3]]


async def test_a_size_the_grid_does_not_offer_is_a_clear_400(client):
    r = await client.post("/v1/generate", json={"model": "pixel", "seed": 1, "size": 64})
    assert r.status == 400
    assert (await r.json())["error"]["message"] == "size must be one of 16, 128, 256, 512, got 64"


async def test_interpolation_frames_are_snapped_too(client, tiny_pixel_checkpoint):
    palette = {tuple(c) for c in load_checkpoint(tiny_pixel_checkpoint).output.palette.tolist()}
    body = {"model": "pixel", "a": {"seed": 1}, "b": {"seed": 2}, "frames": 3, "size": 128}
    r = await client.post("/v1/interpolate", json=body)
    assert r.status == 200
    frames = (await r.json())["frames"]
    assert all(_colours(_pixels(f)) <= palette for f in frames)


async def test_a_reload_with_a_bad_palette_is_refused_and_the_old_model_keeps_serving(
    tiny_checkpoint, tiny_pixel_checkpoint, tmp_path
):
    bad = shutil.copytree(tiny_pixel_checkpoint, tmp_path / "bad")
    meta = json.loads((bad / "model.json").read_text())
    (bad / "model.json").write_text(json.dumps({**meta, "output": {**meta["output"], "palette": ["red"]}}))
    async with TestClient(TestServer(_service(tiny_checkpoint, tiny_pixel_checkpoint, tmp_path).app())) as c:
        r = await c.post("/v1/models/pixel/reload", json={"path": str(bad)})
        assert r.status == 422
        assert "holds 'red'" in (await r.json())["error"]["message"]
        ok = await c.post("/v1/generate", json={"model": "pixel", "seed": 1, "size": 128})
        assert ok.status == 200


def test_the_cli_writes_what_the_service_serves(tiny_pixel_checkpoint, tmp_path):
    out = tmp_path / "p.png"
    argv = ["generate", "--checkpoint", str(tiny_pixel_checkpoint), "--seed", "3", "--size", "512"]
    assert main([*argv, "-o", str(out)]) == 0
    image = np.asarray(Image.open(out).convert("RGB"))
    palette = load_checkpoint(tiny_pixel_checkpoint).output.palette
    assert image.shape == (512, 512, 3) and _colours(image) <= {tuple(c) for c in palette.tolist()}


def test_the_shipped_pixel_model_draws_only_its_palette_in_exact_blocks():
    ck = load_checkpoint(Path(__file__).resolve().parents[3] / "checkpoints" / "pixel")
    assert ck.output.grid == ck.resolution == 16 and len(ck.output.palette) > 100
    requests = [resolve(ck.schema, {"hair": "blue"}, seed) for seed in range(1, 5)]
    big = ck.output.finish(render(ck.G, ck.schema, requests), 512)
    assert _colours(big) <= {tuple(c) for c in ck.output.palette.tolist()}
    np.testing.assert_array_equal(big, big[:, ::32, ::32].repeat(32, axis=1).repeat(32, axis=2))
