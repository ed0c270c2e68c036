"""The batcher's promise: a request gets the same bytes alone, in any bucket, at any position.

Checked on the shipped projected model (the family the service runs batched), whose seeds
differ visibly, with every bucket size actually formed; and on a dcgan (one sample at a time).
"""

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.checkpoint import load_checkpoint
from engine.errors import MascotError
from engine.sampling import inputs, resolve
from engine.serve.app import encode_image
from engine.serve.batcher import Batcher, check_buckets, plan
from engine.serve.forward import ProjectedForward, RowForward, serving_forward

SHIPPED = Path("checkpoints/default")


def _configured_buckets() -> tuple[int, ...]:
    """The CPU buckets config.toml serves with (every shape that serves must pass these tests)."""
    from engine.config import load_config, section

    config = load_config("config.toml") if Path("config.toml").is_file() else {}
    return check_buckets(section(config, "engine").get("buckets", [1, 2, 4, 8]))


BUCKETS = tuple(sorted({1, 2, 4, 8, *_configured_buckets()}))


@pytest.fixture(scope="module")
def shipped():
    if not (SHIPPED / "model.json").is_file():
        pytest.skip("the shipped checkpoint is not in this checkout")
    return load_checkpoint(SHIPPED, "cpu", torch.float32)


def test_plan_uses_bucket_shapes_only():
    assert plan(13, (1, 2, 4, 8)) == [8, 4, 1]
    assert plan(15, (1, 2, 4, 8)) == [8, 4, 2, 1]
    assert plan(13, (4, 8)) == [8, 4, 4]  # the last 4 carries 3 spare rows
    assert plan(20, (8,)) == [8, 8, 8]


@pytest.mark.parametrize("bad", [[], [0, 4], [2, "8"], "1,2", [True], [2000]])
def test_bad_buckets_are_a_clear_error(bad):
    with pytest.raises(MascotError, match="buckets must be a list of whole numbers"):
        check_buckets(bad)


async def _served(ckpt, requests, channels_last=False, buckets=BUCKETS, **kw):
    batcher = Batcher(buckets=buckets, channels_last=channels_last, **kw)
    batcher.start()
    try:
        images = await batcher.submit(ckpt, requests)
    finally:
        await batcher.stop()
    return [encode_image(p, "png") for p in images], batcher.bucket_counts


@pytest.mark.parametrize("channels_last", [False, True])
async def test_same_bytes_alone_and_in_every_bucket_at_every_position(shipped, channels_last):
    await _every_bucket(shipped, channels_last)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
async def test_same_bytes_alone_and_in_every_bucket_on_cuda_in_bf16():
    from engine.config import load_config, section

    config = load_config("config.toml") if Path("config.toml").is_file() else {}
    buckets = check_buckets(section(config, "engine").get("buckets_cuda", [1, 4, 16, 64]))
    await _every_bucket(load_checkpoint(SHIPPED, "cuda", torch.bfloat16), False, tuple(sorted({1, *buckets})))


async def _every_bucket(shipped, channels_last, buckets=BUCKETS):
    schema = shipped.schema
    target = resolve(schema, {}, 42, 0.8)
    others = [
        resolve(schema, {"style": "pixel-art"} if s % 2 else {}, s, 1.0)
        for s in range(100, 100 + max(buckets))
    ]
    (alone,), counts = await _served(shipped, [target], channels_last, buckets)
    assert dict(counts) == {1: 1}
    # Seeds must differ visibly, or equal bytes would prove nothing.
    mates, _ = await _served(shipped, others[:2], channels_last, (1,))
    pixels = [np.asarray(_decode(b), dtype=float) for b in (alone, *mates)]
    assert min(np.abs(a - b).mean() for i, a in enumerate(pixels) for b in pixels[i + 1 :]) > 5
    for bucket in buckets[1:]:
        for position in sorted({0, bucket // 2, bucket - 1}):
            batch = others[: bucket - 1]
            batch = [*batch[:position], target, *batch[position:]]
            images, counts = await _served(shipped, batch, channels_last, buckets)
            assert dict(counts) == {bucket: 1}, f"a batch of {bucket} did not run as one bucket"
            assert images[position] == alone, f"bucket {bucket}, position {position}: bytes differ from alone"


async def test_padded_bucket_and_a_full_queue_split_into_buckets(shipped):
    schema = shipped.schema
    target = resolve(schema, {}, 7)
    (alone,), _ = await _served(shipped, [target])
    # Three requests with buckets (4, 8): one forward of 4 with a spare row.
    images, counts = await _served(
        shipped, [resolve(schema, {}, 8), target, resolve(schema, {}, 9)], buckets=(4, 8)
    )
    assert dict(counts) == {4: 1} and images[1] == alone
    # Fifteen queued at once run as 8 + 4 + 2 + 1, and each image matches its lone self.
    requests = [resolve(schema, {}, s) for s in range(200, 215)]
    images, counts = await _served(shipped, requests)
    assert dict(counts) == {8: 1, 4: 1, 2: 1, 1: 1}
    for i in (0, 9, 13, 14):
        (lone,), _ = await _served(shipped, [requests[i]])
        assert images[i] == lone


def test_serving_forward_draws_the_model_itself(shipped):
    """Folded batch norm and per-sample steps compute the same network as the module."""
    requests = [resolve(shipped.schema, {}, s, 0.7) for s in range(3)]
    fast = ProjectedForward(shipped.G, shipped.schema, channels_last=True).pixels(requests)
    z, c = inputs(shipped.schema, shipped.G.z_dim, requests)
    with torch.inference_mode():
        ref = shipped.G(z, c.float(), truncation=0.7)
    assert (fast - ref).abs().max().item() < 1e-4


async def test_other_families_run_one_sample_at_a_time_and_match(tiny_checkpoint):
    ckpt = load_checkpoint(tiny_checkpoint, "cpu", torch.float32)
    assert isinstance(serving_forward(ckpt.G, ckpt.schema), RowForward)
    requests = [resolve(ckpt.schema, {}, s) for s in range(5)]
    images, counts = await _served(ckpt, requests)
    assert dict(counts) == {4: 1, 1: 1}
    (lone,), _ = await _served(ckpt, [requests[2]])
    assert images[2] == lone


async def test_a_lone_request_does_not_wait_the_window(tiny_checkpoint):
    ckpt = load_checkpoint(tiny_checkpoint, "cpu", torch.float32)
    start = time.monotonic()
    await _served(ckpt, [resolve(ckpt.schema, {}, 1)], window_ms=20_000)
    assert time.monotonic() - start < 10  # the window alone would take 20 s


async def test_a_batch_whose_drawing_breaks_fails_its_requests_at_once(tiny_checkpoint, monkeypatch):
    ckpt = load_checkpoint(tiny_checkpoint, "cpu", torch.float32)
    batcher = Batcher(buckets=(1, 2, 4))
    monkeypatch.setattr(batcher, "_render", lambda work: 1 / 0)  # a fault outside any model's forward
    batcher.start()
    try:
        start = time.monotonic()
        with pytest.raises(ZeroDivisionError):
            await asyncio.wait_for(batcher.submit(ckpt, [resolve(ckpt.schema, {}, s) for s in range(3)]), 20)
        assert time.monotonic() - start < 10
        monkeypatch.undo()
        (image,) = await asyncio.wait_for(batcher.submit(ckpt, [resolve(ckpt.schema, {}, 7)]), 20)
        assert image.shape == (32, 32, 3)  # the batcher keeps serving
    finally:
        await batcher.stop()


async def test_the_window_gathers_requests_that_arrive_together(tiny_checkpoint):
    ckpt = load_checkpoint(tiny_checkpoint, "cpu", torch.float32)
    batcher = Batcher(buckets=(1, 2, 4, 8), window_ms=2_000)
    batcher.start()
    try:
        first = asyncio.ensure_future(batcher.submit(ckpt, [resolve(ckpt.schema, {}, s) for s in range(2)]))
        await asyncio.sleep(0.05)
        rest = asyncio.ensure_future(batcher.submit(ckpt, [resolve(ckpt.schema, {}, s) for s in range(2, 8)]))
        await asyncio.gather(first, rest)
    finally:
        await batcher.stop()
    assert dict(batcher.bucket_counts) == {8: 1}


def test_engine_config_buckets_precision_and_layout(tmp_path):
    import argparse

    from engine.serve.cli import serve_config

    def cfg(lines: str):
        (tmp_path / "config.toml").write_text(f"[engine]\n{lines}\n")
        args = argparse.Namespace(
            config=str(tmp_path / "config.toml"), host=None, port=None, model=None, device="cpu"
        )
        return serve_config(args)[0]

    plain = cfg("")
    assert (plain.precision, plain.buckets, plain.channels_last, plain.batch_window_ms) == (
        "fp32",
        (1, 2, 4),
        True,
        0,
    )
    custom = cfg('precision = "fp64"\nbuckets = [8, 1, 4]\nchannels_last = false')
    assert (custom.precision, custom.buckets, custom.channels_last) == ("fp64", (1, 4, 8), False)
    with pytest.raises(MascotError, match=r"\[engine\] buckets must be a list of whole numbers"):
        cfg("buckets = [0, 4]")
    with pytest.raises(MascotError, match="precision must be auto, fp32, bf16 or fp64"):
        cfg('precision = "fp16"')
    with pytest.raises(MascotError, match="channels_last must be true or false"):
        cfg('channels_last = "yes"')


def _decode(png: bytes):
    import io

    from PIL import Image

    return Image.open(io.BytesIO(png)).convert("RGB")


async def test_a_replaced_model_is_not_kept_alive_by_its_serving_forward(tiny_checkpoint):
    import gc
    import weakref

    batcher = Batcher(buckets=(1,))
    batcher.start()
    try:
        ckpt = load_checkpoint(tiny_checkpoint, "cpu", torch.float32)
        await batcher.submit(ckpt, [resolve(ckpt.schema, {}, 3)])
        gone = weakref.ref(ckpt.G)
        del ckpt
        gc.collect()
        assert gone() is None and not batcher._forwards
    finally:
        await batcher.stop()


async def test_over_http_a_count_of_4_is_one_bucket_of_4_with_the_bytes_of_4_lone_requests(shipped, tmp_path):
    from aiohttp.test_utils import TestClient, TestServer

    from engine.serve.app import EngineService, ServeConfig

    cfg = ServeConfig(
        models=(("default", str(SHIPPED)),),
        jobs_dir=str(tmp_path / "jobs"),
        cache_size=1,
        buckets=(1, 2, 4),
        channels_last=True,
    )
    service = EngineService(cfg)
    async with TestClient(TestServer(service.app())) as c:
        together = (await (await c.post("/v1/generate", json={"seed": 40, "count": 4})).json())["images"]
        assert service.metrics.forwards.labels("4")._value.get() == 1
        for image in together:
            r = await c.post("/v1/generate", json={"seed": image["seed"], "attributes": image["attributes"]})
            assert (await r.json())["images"][0]["image"] == image["image"], f"seed {image['seed']}"
        assert service.metrics.forwards.labels("1")._value.get() == 4


async def test_each_worker_draws_the_same_bytes_alone_and_in_buckets(shipped):
    """Two workers, both made busy at once (a barrier in the forward), draw the same seed alone and
    inside a bucket: every copy has the bytes of the seed drawn by a lone worker."""
    import threading

    from engine.serve.workers import WorkerPool

    schema = shipped.schema
    target = resolve(schema, {}, 42, 0.8)
    (alone,), _ = await _served(shipped, [target], True)
    pool = WorkerPool(2, threads=1)
    pool.start()
    batcher = Batcher(buckets=(1, 2, 4), channels_last=True, pool=pool)
    drawn_by: list[tuple[str, int]] = []
    forward, barrier, started = batcher._forward, threading.Barrier(2, timeout=120), threading.Event()

    def both_busy(ckpt, requests):
        started.set()
        barrier.wait()  # returns only when the other worker is inside a forward too
        drawn_by.append((threading.current_thread().name, len(requests)))
        return forward(ckpt, requests)

    batcher._forward = both_busy
    mates = [resolve(schema, {}, s) for s in range(300, 303)]
    try:
        for batch, position in (([target], 0), ([mates[0], target, *mates[1:]], 1)):
            started.clear()
            first = asyncio.ensure_future(batcher.submit(shipped, batch))
            await asyncio.to_thread(started.wait, 120)  # the first worker holds the batch...
            second = await batcher.submit(shipped, list(reversed(batch)))  # ...the second takes this one
            images = [
                encode_image((await first)[position], "png"),
                encode_image(second[-1 - position], "png"),
            ]
            assert images == [alone, alone]
    finally:
        await batcher.stop()
        await pool.stop()
    assert len({name for name, _ in drawn_by}) == 2, drawn_by  # both workers drew
    assert sorted({n for _, n in drawn_by}) == [1, 4]  # alone and in a bucket of 4
