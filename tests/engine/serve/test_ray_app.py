"""Ray Serve at parity: a replica answers what the single aiohttp engine answers, byte for byte.

A local Ray instance serves the shipped models through engine/serve/ray_app.py; every case
below goes to it over HTTP (Ray's proxy, as the bot would call it) and to the aiohttp engine
built from the same settings, and the status and the whole JSON body must be equal, base64
images included.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import socket
from pathlib import Path

import aiohttp
import pytest
import torch
from PIL import Image

ray = pytest.importorskip("ray", reason="ray[serve] is optional (pip install -e '.[ray]')")
serve = pytest.importorskip("ray.serve", reason="ray[serve] is optional (pip install -e '.[ray]')")

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from engine.serve import ray_app  # noqa: E402
from engine.serve.app import EngineService  # noqa: E402

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]


def _picture() -> str:
    """A small PNG to turn into a mascot: a face-coloured disc on blue."""
    image = Image.new("RGB", (64, 64), (40, 90, 200))
    image.paste((230, 190, 150), (16, 12, 48, 52))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


# (method, path, JSON body or raw bytes, the status both must answer): what the bot calls, and
# bad input that must get the same 4xx. The status is written out so that parity cannot be two
# equal failures.
CASES = [
    ("GET", "/healthz", None, 200),
    ("GET", "/readyz", None, 200),
    ("GET", "/v1/models", None, 200),
    ("POST", "/v1/generate", {"seed": 7, "count": 4, "attributes": "hair:blue"}, 200),
    (
        "POST",
        "/v1/generate",
        {"seed": 11, "count": 2, "model": "emoji", "format": "webp", "truncation": 0.7},
        200,
    ),
    (
        "POST",
        "/v1/interpolate",
        {"a": {"seed": 1}, "b": {"seed": 2, "attributes": "hair:red"}, "frames": 4},
        200,
    ),
    ("POST", "/v1/variations", {"seed": 42, "attributes": "hair:green", "count": 4}, 200),
    (
        "POST",
        "/v1/fuse",
        {"a": {"seed": 1}, "b": {"latent": {"vary": {"seed": 42}, "index": 2, "strength": 0.3}}},
        200,
    ),
    ("POST", "/v1/render", {"latent": {"fuse": [{"seed": 1}, {"seed": 2}]}, "attributes": "hair:blue"}, 200),
    ("POST", "/v1/invert", {"image": _picture(), "variations": 1}, 200),
    ("POST", "/v1/generate", {"seed": 1, "count": 9}, 400),
    ("POST", "/v1/generate", {"model": "nope"}, 404),
    ("POST", "/v1/generate", b'{"seed": 1,', 400),
    ("POST", "/v1/variations", {"seed": 1, "strength": 2}, 400),
    ("POST", "/v1/invert", {"image": "not a picture"}, 400),
    ("GET", "/v1/generate", None, 405),
    ("GET", "/v1/nothing", None, 404),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    """The builder's arguments: a config.toml serving the shipped models and tagger, no upscale
    stage (a fast start-up), and a short inversion search."""
    folder = tmp_path_factory.mktemp("ray-engine")
    config = folder / "config.toml"
    config.write_text(
        f'[paths]\ncheckpoints = "{ROOT / "checkpoints"}"\nruns = "{folder / "runs"}"\n'
        '[engine]\nmodels = ["default", "emoji"]\ndevice = "cpu"\nupscaler = ""\ntagger = "tagger"\n'
        "invert_steps = 4\n"
    )
    return {"config": str(config)}


@pytest.fixture(scope="module")
def ray_url(settings):
    """Ray's HTTP proxy on a free port, serving one replica; Ray is shut down afterwards."""
    port = _free_port()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(ray_app.app(settings), name="mascot", route_prefix="/")
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()


async def _ask(session, base: str, method: str, path: str, body) -> tuple[int, str, object]:
    raw = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
    async with session.request(method, base + path, data=raw) as r:
        answer = await r.json(content_type=None)
    if path == "/v1/invert" and r.status == 200:
        answer.pop("seconds")  # how long the search took: the one field that is not the picture's
    return r.status, r.headers.get("Content-Type", ""), answer


@pytest.fixture
async def engine(settings):
    """The single engine, drawing with one CPU thread as the replica does (Ray gives an actor
    num_cpus threads): interpolation and batched variations are exact only at equal thread counts."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        async with TestClient(TestServer(EngineService(ray_app.engine_config(settings)).app())) as client:
            yield client
    finally:
        torch.set_num_threads(threads)


async def test_every_serving_endpoint_answers_as_the_single_engine_does(ray_url, engine):
    base = str(engine.make_url(""))
    async with aiohttp.ClientSession() as session:
        for method, path, body, status in CASES:
            expected = await _ask(session, base, method, path, body)
            got = await _ask(session, ray_url, method, path, body)
            assert expected[0] == status, f"{method} {path}: the engine answered {expected}"
            assert got == expected, f"{method} {path} {body!r}: Ray answered differently"


async def test_concurrent_requests_batched_on_a_replica_are_the_bytes_of_lone_ones(ray_url, engine):
    bodies = [{"seed": s, "attributes": "hair:pink"} for s in range(100, 108)]
    async with aiohttp.ClientSession() as session:
        together = await asyncio.gather(*(_ask(session, ray_url, "POST", "/v1/generate", b) for b in bodies))
        base = str(engine.make_url(""))
        alone = [await _ask(session, base, "POST", "/v1/generate", b) for b in bodies]
    assert together == alone


@pytest.mark.parametrize(
    "path",
    [
        "/v1/jobs",
        "/v1/jobs/abc123",
        "/v1/models/default/reload",
        "/v1/models/default/promote",
        "/v1/models/default/rollback",
        "/v1/models/default/versions",
        "/metrics",
    ],
)
async def test_admin_routes_and_metrics_are_refused_with_a_clear_404(ray_url, path):
    async with aiohttp.ClientSession() as session:
        status, _, body = await _ask(session, ray_url, "POST" if "versions" not in path else "GET", path, {})
    assert status == 404
    assert body["error"]["code"] == "not_served_by_ray"
    assert path in body["error"]["message"]
    assert (
        "mascot-engine serve" in body["error"]["message"]
        or "Ray Serve's own metrics" in body["error"]["message"]
    )


@pytest.mark.parametrize(
    "args,words",
    [
        ({"replicas": "2"}, "unknown argument(s) replicas"),
        ({"num_replicas": "two"}, "num_replicas must be a number of at least 1"),
        ({"num_replicas": "0"}, "at least 1"),
        ({"num_replicas": "1.5"}, "num_replicas must be a whole number"),
        ({"num_gpus": "-1"}, "num_gpus must be a number of at least 0"),
    ],
)
def test_bad_builder_arguments_are_refused_before_any_replica_starts(args, words):
    with pytest.raises(ray_app.BuildError) as err:
        ray_app.deployment_options(args)
    assert words in str(err.value)


def test_builder_reads_replicas_and_resources():
    options = ray_app.deployment_options({"num_replicas": "4", "num_gpus": "1", "checkpoint": "x"})
    assert options["num_replicas"] == 4
    assert options["ray_actor_options"]["num_gpus"] == 1
    assert ray_app.deployment_options({"num_replicas": "auto"})["num_replicas"] == "auto"
