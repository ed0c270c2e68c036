import asyncio
import base64
import io
import shutil

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image, JpegImagePlugin

from engine.serve.app import EngineService, ServeConfig


def _service(ckpt, tmp_path, **kw):
    cfg = ServeConfig(
        models=(("default", str(ckpt)),),
        jobs_dir=str(tmp_path / "jobs"),
        path_roots=(str(tmp_path.parent),),
        **kw,
    )  # pytest's temporary folders
    return EngineService(cfg)


@pytest.fixture
async def client(tiny_checkpoint, tmp_path):
    async with TestClient(TestServer(_service(tiny_checkpoint, tmp_path).app())) as c:
        yield c


def _pixels(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))))


async def test_generate_returns_png_with_resolved_attributes(client):
    r = await client.post("/v1/generate", json={"attributes": "hair:blue", "seed": 42, "count": 2})
    assert r.status == 200
    body = await r.json()
    assert body["version"].startswith("dcgan-")
    first, second = body["images"]
    assert (first["seed"], second["seed"]) == (42, 43)
    assert first["attributes"]["hair"] == "blue" and first["attributes"]["smile"] in ("yes", "no")
    assert _pixels(first["image"]).shape == (32, 32, 3)
    assert first["generation_id"] != second["generation_id"]


async def test_webp_and_object_attributes(client):
    r = await client.post("/v1/generate", json={"attributes": {"hair": "red"}, "format": "webp", "seed": 1})
    body = await r.json()
    assert Image.open(io.BytesIO(base64.b64decode(body["images"][0]["image"]))).format == "WEBP"


async def test_jpeg_when_the_caller_names_it(client):
    r = await client.post("/v1/generate", json={"format": "jpeg", "seed": 1})
    image = (await r.json())["images"][0]
    assert image["format"] == "jpeg"
    picture = Image.open(io.BytesIO(base64.b64decode(image["image"])))
    assert picture.format == "JPEG"
    assert JpegImagePlugin.get_sampling(picture) == 0  # 4:4:4: colour at full resolution


async def test_concurrent_requests_are_byte_identical_to_a_lone_request(tiny_checkpoint, tmp_path):
    payloads = [{"attributes": "hair:green", "seed": s} for s in range(30, 62)]
    service = _service(tiny_checkpoint, tmp_path, batch_window_ms=50)
    async with TestClient(TestServer(service.app())) as c:
        responses = await asyncio.gather(*(c.post("/v1/generate", json=p) for p in payloads))
        assert all(r.status == 200 for r in responses)
        bodies = [await r.json() for r in responses]
        sizes = service.metrics.batch_sizes.collect()[0].samples
        assert max(s.value for s in sizes if s.name.endswith("_sum")) == 32
    batched = next(b for b in bodies if b["images"][0]["seed"] == 42)["images"][0]["image"]
    async with TestClient(TestServer(_service(tiny_checkpoint, tmp_path).app())) as c:
        alone = await (await c.post("/v1/generate", json={"attributes": "hair:green", "seed": 42})).json()
    assert alone["images"][0]["image"] == batched


@pytest.mark.parametrize(
    "payload,status,code,words",
    [
        ({"attributes": "hat:yes"}, 400, "invalid_attributes", "known attributes: hair, smile"),
        ({"attributes": "hair:blu"}, 400, "invalid_attributes", "Did you mean 'blue'?"),
        ({"attributes": 5}, 400, "invalid_attributes", "hair:blue"),
        ({"seed": -1}, 400, "invalid_seed", "0 to 2147483647"),
        ({"seed": 2**31}, 400, "invalid_seed", "0 to 2147483647"),
        ({"seed": "x"}, 400, "invalid_seed", "whole number"),
        ({"count": 0}, 400, "invalid_count", "1 to 4"),
        ({"count": 5}, 400, "invalid_count", "1 to 4"),
        ({"truncation": 3}, 400, "invalid_truncation", "0 to 1"),
        ({"format": "gif"}, 400, "invalid_format", "png, webp"),
        ({"model": "nope"}, 404, "unknown_model", "available models: default"),
    ],
)
async def test_bad_generate_input_is_a_4xx(client, payload, status, code, words):
    r = await client.post("/v1/generate", json=payload)
    assert r.status == status
    err = (await r.json())["error"]
    assert err["code"] == code and words in err["message"]


async def test_malformed_and_oversized_bodies(client):
    r = await client.post("/v1/generate", data=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status == 400 and (await r.json())["error"]["code"] == "malformed_json"
    r = await client.post("/v1/generate", data=b"[1, 2]")
    assert r.status == 400
    r = await client.post("/v1/generate", data=b"x" * 200_000)
    assert r.status == 413 and (await r.json())["error"]["code"] == "body_too_large"
    r = await client.get("/v1/nothing")
    assert r.status == 404 and "error" in await r.json()


async def test_full_queue_answers_429_with_retry_after(tiny_checkpoint, tmp_path):
    service = _service(tiny_checkpoint, tmp_path, queue_size=4, batch_window_ms=300, max_batch=4)
    async with TestClient(TestServer(service.app())) as c:
        rs = await asyncio.gather(
            *(c.post("/v1/generate", json={"seed": s, "count": 4}) for s in range(0, 40, 4))
        )
        statuses = [r.status for r in rs]
        assert 429 in statuses and 200 in statuses
        busy = next(r for r in rs if r.status == 429)
        assert int(busy.headers["Retry-After"]) >= 1


async def test_interpolate_returns_frames_and_gif(client):
    r = await client.post(
        "/v1/interpolate",
        json={
            "a": {"seed": 1, "attributes": "hair:red"},
            "b": {"seed": 2, "attributes": "hair:blue"},
            "frames": 4,
        },
    )
    body = await r.json()
    assert r.status == 200 and len(body["frames"]) == 4
    gif = Image.open(io.BytesIO(base64.b64decode(body["gif"])))
    # There and back: 6 frames of 80 ms (identical neighbours are stored once, their times summed).
    shown = []
    for i in range(gif.n_frames):
        gif.seek(i)
        shown.append(gif.info["duration"])
    assert sum(shown) == 6 * 80
    r = await client.post("/v1/interpolate", json={"a": {"seed": 1}})
    assert r.status == 400


async def test_models_health_ready_metrics(client):
    models = await (await client.get("/v1/models")).json()
    assert models["default"] == "default" and models["limits"] == {"count": 4}  # one count limit for clients
    assert models["models"][0]["schema"]["attributes"][0]["name"] == "hair"
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/readyz")).status == 200
    await client.post("/v1/generate", json={"seed": 1})
    text = await (await client.get("/metrics")).text()
    assert 'mascot_requests_total{route="/v1/generate",status="200"}' in text
    assert "mascot_batch_size_bucket" in text and "mascot_model_info" in text


async def test_models_lists_the_posted_figures_where_the_model_carries_them(tiny_checkpoint, tmp_path):
    import json

    posted = {"metrics": {"prc": {"precision": 0.26}}, "evaluation": {"size": 512, "protocol": "posted"}}
    shutil.copytree(tiny_checkpoint, tmp_path / "measured")
    meta = json.loads((tmp_path / "measured" / "model.json").read_text())
    (tmp_path / "measured" / "model.json").write_text(json.dumps({**meta, "posted": posted}))
    cfg = ServeConfig(
        models=(("default", str(tiny_checkpoint)), ("measured", str(tmp_path / "measured"))),
        jobs_dir=str(tmp_path / "jobs"),
    )
    async with TestClient(TestServer(EngineService(cfg).app())) as c:
        cards = {m["name"]: m for m in (await (await c.get("/v1/models")).json())["models"]}
    assert cards["measured"]["posted"] == posted
    assert cards["default"]["posted"] is None


async def test_reload_swaps_and_a_corrupt_checkpoint_is_refused(tiny_checkpoint, tmp_path):
    live = shutil.copytree(tiny_checkpoint, tmp_path / "live")
    async with TestClient(TestServer(_service(live, tmp_path).app())) as c:
        before = (await (await c.post("/v1/generate", json={"seed": 5})).json())["version"]
        (live / "model.safetensors").write_bytes(b"garbage")
        r = await c.post("/v1/models/default/reload")
        assert r.status == 422 and "keeps serving" in (await r.json())["error"]["message"]
        after = await c.post("/v1/generate", json={"seed": 5})
        assert after.status == 200 and (await after.json())["version"] == before
        r = await c.post("/v1/models/default/reload", json={"path": str(tiny_checkpoint)})
        assert r.status == 200
        assert (await c.post("/v1/models/ghost/reload")).status == 404


async def test_reload_accepts_a_moved_prior_but_not_a_changed_attribute_set(tiny_checkpoint, tmp_path):
    import json

    from engine.schema import Schema

    live = shutil.copytree(tiny_checkpoint, tmp_path / "live")
    meta = json.loads((live / "model.json").read_text())
    schema = Schema.from_json(meta["schema"])
    async with TestClient(TestServer(_service(live, tmp_path).app())) as c:
        hair = schema.attribute("hair")
        moved = schema.with_priors_moved([[len(hair.values) - 1] + [-1] * (len(schema.attributes) - 1)], 0.5)
        (live / "model.json").write_text(json.dumps({**meta, "schema": moved.to_json()}))
        assert (await c.post("/v1/models/default/reload")).status == 200
        renamed = {**moved.to_json()}
        renamed["attributes"] = [{**a, "name": a["name"] + "x"} for a in renamed["attributes"]]
        (live / "model.json").write_text(json.dumps({**meta, "schema": renamed}))
        r = await c.post("/v1/models/default/reload")
        assert r.status == 422 and "different attribute schema" in (await r.json())["error"]["message"]
