"""Every input to every engine endpoint gets a 2xx or a clean 4xx, never a 5xx (issue #30).

The typed fields (numbers and their ranges, enums, required fields, wrong types) are generated
from the OpenAPI document in test_contract.py. Here are the shapes a document cannot describe:
the fields it leaves open (attributes as text, latent recipes, pictures as data URLs, paths,
curated items) filled with values the engine should accept mixed with any JSON, and raw bytes
that are not JSON or that Python refuses for its own limits. Then the inputs the issue names,
admin access, paths outside the roots, admission under a burst, and reload by path as a version.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.serve.app import EngineService, ServeConfig
from engine.serve.auth import check_admin
from engine.serve.requests import ApiError
from tests.engine.serve.live import LiveServer, assert_clean, fill

EXAMPLES = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(-10, 70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
anything = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
huge = st.integers(4301, 6000).map(lambda n: "9" * n)  # past Python's int-string limit, as JSON text
attributes = (
    st.sampled_from(
        [
            "hair:blue",
            "hair:blu",
            "smile:yes hair:red",
            '{"hair": "red"}',
            '{"hair": 5}',
            '{"hair": [1]}',
            "{",
            "hat:yes",
            "",
            "  ",
            "hair:",
            ":",
        ]
    )
    | st.text(max_size=40)
    | st.dictionaries(st.sampled_from(["hair", "smile", "x", ""]), anything, max_size=3)
)
common = {"attributes": attributes | anything}


def _as_text(depth: int, inner: str) -> str:
    """``inner`` given as a JSON string, inside a JSON string, ... ``depth`` times."""
    for _ in range(depth):
        inner = json.dumps(inner)
    return inner


# Recipes given as strings: JSON text nested as strings or as lists, a recipe whose seed or
# index is a number too long for Python to read, the zero latent.
latent_text = (
    # Each level as a string doubles the backslashes, so strings nest a dozen deep; objects and
    # lists nest thousands deep.
    st.tuples(st.integers(1, 12), st.sampled_from(['{"seed": 3}', "[]", "x"])).map(lambda d: _as_text(*d))
    | st.integers(1, 3000).map(lambda n: "[" * n + "]" * n)
    | st.integers(1, 3000).map(lambda n: '{"vary": ' * n + "1" + "}" * n)
    | st.integers(1, 200).map(lambda n: '{"vary": ' * n + '{"seed": 1}' + ', "index": 1}' * n)
    | huge.map(lambda n: f'{{"seed": {n}}}')
    | huge.map(lambda n: f'{{"vary": {{"seed": 1}}, "index": {n}, "strength": 0.3}}')
    | huge.map(lambda n: f'{{"fuse": [{{"seed": 1}}, {{"seed": {n}}}], "mix": 0.{n}}}')
    | st.sampled_from(['{"z": [0.0]}', '{"z": [' + ", ".join(["0.0"] * 32) + "]}"])
)
latent = (
    st.sampled_from([{"seed": 3}, {"vary": {"seed": 1}, "index": 1, "amount": 0.3}, "seed:3", [], {}])
    | latent_text
    | st.sampled_from([{"z": [0.0] * 32}, {"fuse": [{"z": [0.0] * 32}, {"seed": 1}], "mix": 0.5}])
    | anything
)
end = st.fixed_dictionaries(
    {}, optional={"seed": st.integers(0, 99) | anything, "attributes": attributes, "latent": latent}
)
# Pictures as data URLs: with and without the comma, odd headers, text after it that is not base64.
data_url = st.tuples(
    st.sampled_from(["data:image/png;base64", "data:", "data:,", "data:image/png", "data:;base64,,"]),
    st.sampled_from(["", ",", ",AAAA", ",iVBORw0KGgo=", ",é", ",,,,"]) | st.text(max_size=10),
).map("".join)
# The fields each route leaves open (typed ones are generated from the document, test_contract.py).
FIELDS = {
    "/v1/generate": common,
    "/v1/interpolate": {**common, "a": end | anything, "b": end | anything},
    "/v1/variations": {**common, "seed": st.integers(0, 99), "latent": latent},
    "/v1/fuse": {
        **common,
        "a": end | anything,
        "b": end | anything,
        "from": st.sampled_from(["hair:a", {"hair": "b"}, "x:y", "hair", ":"]) | anything,
    },
    "/v1/render": {**common, "latent": latent},
    "/v1/models/default/reload": {
        "path": st.sampled_from(["/etc", "../..", "checkpoints/x", "\x00", "\ud800"]) | anything
    },
    "/v1/models/default/promote": {"checkpoint": st.sampled_from(["/etc", "", "a/../../b"]) | anything},
    "/v1/models/default/rollback": {"version": st.sampled_from(["../..", "\x00", "", "a/b"]) | anything},
    "/v1/jobs": {"data": st.sampled_from(["/etc", "/nope", "data/none", "\x00"]) | anything},
    "/v1/invert": {
        "image": st.sampled_from(["", "data:image/png;base64,AAAA", "iVBORw0KGgo="]) | data_url | anything
    },
}


def _body(route: str):
    keys = FIELDS[route]
    as_json = st.fixed_dictionaries({}, optional=keys).map(lambda d: json.dumps(d).encode())
    # A field's value replaced by a 5,000-digit number, which json.dumps itself cannot write.
    with_huge = st.tuples(st.sampled_from(sorted(keys)), huge).map(
        lambda kv: f'{{"{kv[0]}": {kv[1]}}}'.encode()
    )
    in_attributes = huge.map(lambda n: json.dumps({"attributes": f'{{"hair": {n}}}'}).encode())
    raw = st.binary(max_size=200) | st.sampled_from(
        [
            b"",
            b"null",
            b"[1]",
            b'"x"',
            b"{",
            b"[" * 5000 + b"]" * 5000,
            b'{"a": ' * 3000 + b"1" + b"}" * 3000,
            b"\xff\xfe",
        ]
    )
    return as_json | with_huge | in_attributes | raw | anything.map(lambda v: json.dumps(v).encode())


@pytest.fixture(scope="module")
def engine(tiny_checkpoint, tmp_path_factory):
    root = tmp_path_factory.mktemp("hardening")
    live = shutil.copytree(tiny_checkpoint, root / "checkpoints" / "default")
    cfg = ServeConfig(models=(("default", str(live)),), jobs_dir=str(root / "jobs"), path_roots=(str(root),))
    service = EngineService(cfg)
    with LiveServer(service.app()) as server:
        server.service, server.root = service, root
        yield server


curated_item = (
    st.fixed_dictionaries(
        {},
        optional={
            "seed": st.integers(0, 99) | anything,
            "version": st.text(max_size=8) | anything,
            "attributes": st.dictionaries(st.text(max_size=5), st.text(max_size=5)) | anything,
            "truncation": anything,
            "image": st.sampled_from(["iVBORw0KGgo=", "é"]) | anything,
            "latent": latent,
            "id": anything,
        },
    )
    | anything
)
curated_job = st.fixed_dictionaries(
    {"data": st.just("DATA")},
    optional={
        "curated": st.lists(curated_item, max_size=3) | anything,
        "negatives": st.lists(curated_item, max_size=2) | anything,
        "evaluate": anything,
        "eval_samples": anything,
        "eval_feature_size": anything,
        "eval_per_value": anything,
        "eval_size": st.sampled_from([0, 32, 64]) | anything,
        "extra_share": st.floats(0, 1) | anything,
        "kimg": anything,
    },
)


def test_no_curated_job_body_gets_a_5xx(engine, tmp_path_factory):
    """With a real data folder the body gets as far as the curated-set parsing; a job already
    running (patched in) keeps any of them from starting a training process."""
    from engine.serve.jobs import Job

    data = engine.root / "data"
    data.mkdir(exist_ok=True)
    jobs = engine.service.jobs
    jobs.busy = lambda: Job(id="held", spec={}, state="running")

    @EXAMPLES
    @given(body=curated_job)
    def check(body: dict) -> None:
        raw = json.dumps(body).replace('"DATA"', json.dumps(str(data))).encode()
        answer = engine.call("POST", "/v1/jobs", raw)
        assert_clean(answer, f"POST /v1/jobs {raw[:200]!r}")

    try:
        check()
        valid = {"data": str(data), "curated": [{"seed": 1, "version": "v", "attributes": {"hair": "blue"}}]}
        assert engine.call("POST", "/v1/jobs", json.dumps(valid).encode()).status == 409  # parsed all the way
    finally:
        del jobs.busy


@pytest.mark.parametrize("route", sorted(FIELDS))
def test_no_body_gets_a_5xx(engine, route):
    @EXAMPLES
    @given(body=_body(route))
    def check(body: bytes) -> None:
        assert_clean(
            engine.call("POST", route, body, {"Content-Type": "application/json"}),
            f"POST {route} {body[:120]!r}",
        )

    check()


@EXAMPLES
@given(data=st.data())
def test_every_route_any_body_no_5xx(engine, data):
    """Every route the app has, including ones added after this test was written."""
    method, pattern = data.draw(st.sampled_from(engine.routes))
    path = fill(pattern, data.draw(st.sampled_from(["default", "nope", "x y", "é", "..", "0"])))
    body = (
        data.draw(anything.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=100))
        if method == "POST"
        else None
    )
    assert_clean(engine.call(method, path, body), f"{method} {path} {body!r:.120}")


@EXAMPLES
@given(
    path=st.sampled_from(["/v1/jobs/", "/v1/models/", "/v1/nothing/", "/healthz/"]),
    tail=st.text(max_size=20),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
)
def test_no_path_or_method_gets_a_5xx(engine, path, tail, method):
    for suffix in (tail, f"{tail}/versions", f"{tail}/reload"):
        assert_clean(engine.call(method, path + suffix), f"{method} {path + suffix!r}")


# --- the inputs issue #30 names, one by one ---------------------------------------------

NAMED = [
    ("/v1/generate", b'{"count": null, "seed": 3}', "invalid_count"),
    ("/v1/generate", b'{"seed": ' + b"7" * 5000 + b"}", "malformed_json"),
    (
        "/v1/generate",
        json.dumps({"attributes": '{"hair": ' + "9" * 5000 + "}"}).encode(),
        "invalid_attributes",
    ),
    ("/v1/interpolate", b'{"a": {"seed": 1}, "b": {"seed": 2}, "frames": null}', "invalid_frames"),
    ("/v1/models/default/reload", b'{"path": 5}', "invalid_path"),
    ("/v1/generate", b'{"truncation": NaN}', "invalid_truncation"),
    ("/v1/jobs", b'{"data": "/etc", "kimg": 1}', "path_not_allowed"),
    ("/v1/models/default/reload", b'{"path": "/etc"}', "path_not_allowed"),
    # issue #41
    ("/v1/invert", b'{"image": "data:image/png;base64"}', "invalid_image"),
    ("/v1/render", json.dumps({"latent": '{"vary": ' * 1000 + "1" + "}" * 1000}).encode(), "invalid_latent"),
    ("/v1/render", json.dumps({"latent": "[" * 1000 + "]" * 1000}).encode(), "invalid_latent"),
    ("/v1/render", json.dumps({"latent": '{"seed": ' + "9" * 5000 + "}"}).encode(), "invalid_latent"),
    (
        "/v1/variations",
        json.dumps({"latent": '{"seed": ' + "9" * 5000 + "}", "seed": 1}).encode(),
        "invalid_latent",
    ),
    (
        "/v1/fuse",
        json.dumps(
            {"a": {"latent": '{"vary": {"seed": 1}, "index": ' + "9" * 5000 + "}"}, "b": {"seed": 2}}
        ).encode(),
        "invalid_latent",
    ),
]


@pytest.mark.parametrize("route,body,code", NAMED, ids=[f"{r}-{c}" for r, _, c in NAMED])
def test_inputs_named_in_the_issue_are_4xx(engine, route, body, code):
    answer = engine.call("POST", route, body)
    assert 400 <= answer.status < 500 and answer.json()["error"]["code"] == code, answer.body[:300]


# --- admin: a token, or loopback --------------------------------------------------------


def _from_afar(address: str):
    """Middleware that makes every request look as if it came from ``address``."""

    @web.middleware
    async def clone(request, handler):
        return await handler(request.clone(remote=address))

    return clone


ADMIN_CALLS = [
    ("POST", "/v1/jobs", {"data": "/etc", "kimg": 1}),
    ("POST", "/v1/models/default/reload", {}),
    ("POST", "/v1/models/default/promote", {"checkpoint": "/etc"}),
    ("POST", "/v1/models/default/rollback", {}),
    ("GET", "/v1/models/default/versions", None),
    ("GET", "/v1/jobs/abc", None),
]


@pytest.mark.parametrize("token", ["", "s3cret"])
async def test_admin_calls_from_afar_need_the_token(tiny_checkpoint, tmp_path, token):
    cfg = ServeConfig(
        models=(("default", str(tiny_checkpoint)),), jobs_dir=str(tmp_path / "jobs"), admin_token=token
    )
    app = EngineService(cfg).app()
    app.middlewares.insert(0, _from_afar("203.0.113.9"))
    async with TestClient(TestServer(app)) as c:
        for method, path, body in ADMIN_CALLS:
            r = await c.request(method, path, json=body)
            assert r.status in (401, 403), (path, r.status)
            assert "error" in await r.json()
            if token:
                wrong = await c.request(method, path, json=body, headers={"Authorization": "Bearer nope"})
                assert wrong.status == 403
        assert (await c.post("/v1/generate", json={"seed": 1})).status == 200  # images stay open
        if token:  # the right token is let through to the handler (which then judges the body)
            r = await c.get("/v1/models/default/versions", headers={"Authorization": f"Bearer {token}"})
            assert r.status == 200
            r = await c.post("/v1/jobs", json={"data": "/etc"}, headers={"Authorization": f"Bearer {token}"})
            assert r.status == 400 and (await r.json())["error"]["code"] == "path_not_allowed"


def _non_loopback_address() -> str | None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))  # no packet is sent: this only picks the outgoing interface
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_admin_calls_on_a_non_loopback_bind_are_refused_without_the_token(tiny_checkpoint, tmp_path):
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address")
    cfg = ServeConfig(models=(("default", str(tiny_checkpoint)),), jobs_dir=str(tmp_path / "jobs"))
    with LiveServer(EngineService(cfg).app(), host=address) as server:
        for method, path, body in ADMIN_CALLS:
            answer = server.call(method, path, None if body is None else json.dumps(body).encode())
            assert answer.status == 403 and answer.json()["error"]["code"] == "admin_forbidden", (
                path,
                answer.body,
            )
        assert server.call("POST", "/v1/generate", b'{"seed": 1}').status == 200


def test_admin_rule():
    check_admin("", "127.0.0.1", None)
    check_admin("", "::1", None)
    for remote in ("10.0.0.2", "0.0.0.0", None, "unix"):
        with pytest.raises(ApiError) as exc:
            check_admin("", remote, None)
        assert exc.value.status == 403
    with pytest.raises(ApiError) as exc:
        check_admin("t", "127.0.0.1", None)  # with a token configured, loopback needs it too
    assert exc.value.status == 401
    check_admin("t", "10.0.0.2", "Bearer t")


# --- admission: 429 at once instead of a 503 after the timeout --------------------------


async def test_a_burst_gets_200s_and_quick_429s_never_a_503(tiny_checkpoint, tmp_path):
    cfg = ServeConfig(
        models=(("default", str(tiny_checkpoint)),), jobs_dir=str(tmp_path / "jobs"), request_timeout_s=1.0
    )
    service = EngineService(cfg)
    slow = service.batcher.forward_for

    def slowed(ck):  # each forward pass a steady 40 ms, so a 300-burst cannot all fit in 1 s
        forward = slow(ck)
        return lambda reqs: (time.sleep(0.04), forward(reqs))[1]

    service.batcher.forward_for = slowed
    # The engine on a loop of its own, as in production; the 300 clients on this one.
    with LiveServer(service.app()) as server:
        url = f"http://127.0.0.1:{server.port}/v1/generate"
        # Enough connections for all 300 at once (a pooled client would queue them itself).
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as c:

            async def one(seed):
                start = time.monotonic()
                async with c.post(url, json={"seed": seed}) as r:
                    await r.read()
                    return r.status, time.monotonic() - start, r.headers.get("Retry-After")

            results = await asyncio.gather(*(one(s) for s in range(300)))
    statuses = [s for s, _, _ in results]
    assert set(statuses) <= {200, 429} and statuses.count(200) > 0 and statuses.count(429) > 0, statuses
    refused = [(t, ra) for s, t, ra in results if s == 429]
    drawn = [t for s, t, _ in results if s == 200]
    # Refused at admission, not after waiting for work: every 429 is back before the last picture
    # is (that one waited for the drawing ahead of it), whatever the machine's speed.
    assert max(t for t, _ in refused) < max(drawn)
    assert all(ra and int(ra) >= 1 for _, ra in refused)


def test_admission_refuses_what_would_be_late_and_says_when_to_return():
    from engine.serve.admission import Admission

    now = [0.0]
    adm = Admission(timeout_s=6.0, capacity=10, seconds_per_unit=1.0, clock=lambda: now[0])  # budget 3 s
    with adm.admit(2), adm.admit(1):  # 3 images x 1 s: just in time
        with pytest.raises(ApiError) as exc, adm.admit(2):  # 5 s > 3 s
            pass
        assert exc.value.status == 429 and exc.value.headers["Retry-After"] == "2"
        with pytest.raises(ApiError), adm.admit(1, cost=4.0):  # one image at a size costing 4: 7 s
            pass
    with adm.admit(50):  # an idle engine takes anything
        pass
    fast = Admission(timeout_s=1000.0, capacity=4, seconds_per_unit=0.5, clock=lambda: now[0])
    # the second is in time, but past the queue: back when one image has drained
    with fast.admit(4), pytest.raises(ApiError) as exc, fast.admit(1):
        pass
    assert exc.value.headers["Retry-After"] == "1"


def test_admission_learns_latency_and_rate_from_finished_requests():
    from engine.serve.admission import Admission

    now = [0.0]
    adm = Admission(timeout_s=1000.0, seconds_per_unit=5.0, clock=lambda: now[0])
    for _ in range(3):  # bursts of 20: a fixed 2 s before the first image, then 0.1 s per image
        start = now[0]
        holds = [adm.admit(1) for _ in range(20)]
        for h in holds:
            h.__enter__()
        for k, h in enumerate(holds):
            now[0] = start + 2.0 + 0.1 * (k + 1)
            h.__exit__(None, None, None)
    assert adm.seconds_per_unit == pytest.approx(0.1, rel=0.05)
    assert adm.latency == pytest.approx(2.0, abs=0.1)
    assert adm.predicted_wait(10) == pytest.approx(3.0, abs=0.2)


# --- reload by path is a version ----------------------------------------------------------


async def test_rollback_after_reload_by_path_and_promote_restores_what_served(tiny_checkpoint, tmp_path):
    from tests.engine.serve.test_versions import _variant

    live = shutil.copytree(tiny_checkpoint, tmp_path / "checkpoints" / "default")
    reloaded = _variant(live, tmp_path / "reloaded", 0.9)
    _variant(live, tmp_path / "promoted", 0.8)
    cfg = ServeConfig(
        models=(("default", str(live)),), jobs_dir=str(tmp_path / "jobs"), path_roots=(str(tmp_path),)
    )
    async with TestClient(TestServer(EngineService(cfg).app())) as c:
        r = await c.post("/v1/models/default/reload", json={"path": str(tmp_path / "reloaded")})
        assert r.status == 200 and (await r.json())["version"] == reloaded
        r = await c.post("/v1/models/default/promote", json={"checkpoint": str(tmp_path / "promoted")})
        assert r.status == 200 and (await r.json())["previous"] == reloaded
        r = await c.post("/v1/models/default/rollback", json={})
        assert r.status == 200 and (await r.json())["version"] == reloaded
        served = await (await c.post("/v1/generate", json={"seed": 1})).json()
        assert served["version"] == reloaded


@pytest.mark.parametrize("route", ["/v1/fuse", "/v1/render"])
def test_the_zero_latent_draws_a_picture_not_black(engine, route):
    import base64
    import io

    import numpy as np
    from PIL import Image

    zero = {"z": [0.0] * engine.service.registry.get(None).G.z_dim}
    body = (
        {"a": {"latent": zero, "attributes": {}}, "b": {"seed": 2}}
        if route == "/v1/fuse"
        else {"latent": zero, "attributes": {}}
    )
    answer = engine.call("POST", route, json.dumps(body).encode())
    assert answer.status == 200, answer.body[:300]
    png = base64.b64decode(answer.json()["images"][0]["image"])
    pixels = np.asarray(Image.open(io.BytesIO(png)))
    assert pixels.max() > 0 and pixels.std() > 1  # drawn, not a black (or flat) square
