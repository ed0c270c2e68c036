"""The web chat's API answers every input with a 2xx or a clean 4xx, and its admin commands need a token.

Property tests send each endpoint bodies and query strings built from the fields it reads
(mixing sensible values with any JSON, raw bytes and unicode); the issue's own cases
are pinned one by one below.
"""

from __future__ import annotations

import json
import shutil

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import BotConfig
from bot.core.commands import Commands
from bot.core.engine_client import EngineClient
from bot.core.limits import RateLimiter
from bot.store import Store
from bot.web.app import make_app
from tests.engine.serve.live import LiveServer, assert_clean, fill

EXAMPLES = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
anything = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
users = st.sampled_from(["ann", "bob.b", "x" * 33, "", " ", "a/b"]) | anything
texts = (
    st.sampled_from(
        [
            "/mascot hair:blue seed:1 count:1",
            "/top",
            "/help",
            "/status",
            "/retrain",
            "/vote",
            "/mascot seed:99999999999999999999999",
            "/mascot hair:" + "b" * 500,
            "👍",
            "",
        ]
    )
    | st.text(max_size=60)
    | anything
)


def _bodies(fields: dict):
    raw = st.binary(max_size=120) | st.sampled_from(
        [b"", b"[1]", b'"x"', b"null", b"{", b"[" * 3000 + b"]" * 3000, b'{"value": ' + b"1" * 5000 + b"}"]
    )
    return st.fixed_dictionaries({}, optional=fields).map(lambda d: json.dumps(d).encode()) | raw


@pytest.fixture(scope="module")
def chat(tiny_checkpoint, tmp_path_factory):
    from engine.serve.app import EngineService, ServeConfig

    root = tmp_path_factory.mktemp("web-hardening")
    live = shutil.copytree(tiny_checkpoint, root / "checkpoints" / "default")
    engine = LiveServer(
        EngineService(ServeConfig(models=(("default", str(live)),), jobs_dir=str(root / "jobs"))).app()
    )
    store = Store(root / "bot.db")

    async def app():
        client = EngineClient(f"http://127.0.0.1:{engine.port}")
        core = Commands(client, store, await client.models(), RateLimiter())
        return make_app(core, BotConfig(), admin_token="")

    with engine, LiveServer(app) as web:
        made = web.call(
            "POST", "/api/command", json.dumps({"user": "ann", "text": "/mascot seed:3 count:1"}).encode()
        )
        web.generation = made.json()["images"][0]["generation"]
        yield web
    store.close()


@EXAMPLES
@given(body=_bodies({"user": users, "text": texts}))
def test_command_never_5xx(chat, body):
    assert_clean(chat.call("POST", "/api/command", body), f"/api/command {body[:120]!r}")


@EXAMPLES
@given(
    body=_bodies(
        {
            "user": users,
            "generation": st.sampled_from(["nope", ""]) | anything,
            "value": st.sampled_from([1, -1, 0, True, 2, "1", 1.0]) | anything,
        }
    )
)
def test_vote_never_5xx(chat, body):
    assert_clean(chat.call("POST", "/api/vote", body), f"/api/vote {body[:120]!r}")


# Pictures as data URLs with and without their comma, and text after it that is not base64.
data_urls = st.tuples(
    st.sampled_from(["data:image/png;base64", "data:", "data:,", "data:image/png", "data:;base64,,"]),
    st.sampled_from(["", ",", ",AAAA", ",iVBORw0KGgo=", ",é"]) | st.text(max_size=10),
).map("".join)


@EXAMPLES
@given(body=_bodies({"user": st.just("cy") | users, "image": data_urls | anything, "text": texts}))
def test_mascotify_never_5xx(chat, body):
    assert_clean(chat.call("POST", "/api/mascotify", body), f"/api/mascotify {body[:120]!r}")


@EXAMPLES
@given(
    path=st.sampled_from(
        [
            "/api/top?limit=",
            "/api/top?period=",
            "/api/announcements?after=",
            "/image/",
            "/gallery?period=",
            "/api/schema?",
            "/api/nothing/",
        ]
    ),
    value=st.text(max_size=30) | st.integers().map(str) | st.integers(4301, 6000).map(lambda n: "9" * n),
    method=st.sampled_from(["GET", "POST"]),
)
def test_queries_and_paths_never_5xx(chat, path, value, method):
    from urllib.parse import quote

    answer = chat.call(method, path + quote(value, safe=""))
    assert_clean(answer, f"{method} {path}{value!r}")


@EXAMPLES
@given(data=st.data())
def test_every_route_any_body_no_5xx(chat, data):
    """Every route the chat has, including ones added after this test was written."""
    method, pattern = data.draw(st.sampled_from(chat.routes))
    path = fill(pattern, data.draw(st.sampled_from(["abc", chat.generation, "é", "..", "0"])))
    body = (
        data.draw(
            _bodies(
                {"user": users, "text": texts, "generation": anything, "value": anything, "image": anything}
            )
        )
        if method == "POST"
        else None
    )
    assert_clean(chat.call(method, path, body), f"{method} {path} {body!r:.120}")


def test_a_valid_vote_still_counts(chat):
    body = json.dumps({"user": "cy", "generation": chat.generation, "value": 1}).encode()
    answer = chat.call("POST", "/api/vote", body)
    assert answer.status == 200 and answer.json()["yours"] == 1 and answer.json()["up"] >= 1


CASES = [
    ("POST", "/api/vote", b"{not json", 400, "malformed_json"),
    ("POST", "/api/vote", b"[1]", 400, "malformed_json"),
    ("POST", "/api/vote", b'"x"', 400, "malformed_json"),
    ("POST", "/api/command", b"{not json", 400, "malformed_json"),
    ("POST", "/api/command", b"[1]", 400, "malformed_json"),
    ("POST", "/api/command", b'"x"', 400, "malformed_json"),
    ("GET", "/api/top?limit=abc", None, 400, "invalid_limit"),
    ("GET", "/api/top?limit=-1", None, 400, "invalid_limit"),
    ("GET", "/api/top?limit=100000", None, 400, "invalid_limit"),
    ("GET", "/api/top?limit=" + "9" * 5000, None, 400, "invalid_limit"),
    ("POST", "/api/mascotify", b'{"user": "cy", "image": "data:image/png;base64"}', 400, "invalid_image"),
]


@pytest.mark.parametrize("method,path,body,status,code", CASES)
def test_inputs_named_in_the_issue(chat, method, path, body, status, code):
    answer = chat.call(method, path, body)
    assert answer.status == status and answer.json()["error"]["code"] == code, answer.body[:200]


def test_a_vote_of_true_is_refused_not_echoed(chat):
    answer = chat.call(
        "POST", "/api/vote", json.dumps({"user": "cy", "generation": chat.generation, "value": True}).encode()
    )
    assert answer.status == 400 and answer.json()["error"]["code"] == "invalid_value"


@pytest.mark.parametrize(
    "configured,sent,allowed",
    [
        ("", None, False),
        ("", "Bearer x", False),  # no token configured: admin is off
        ("t0k", None, False),
        ("t0k", "Bearer nope", False),
        ("t0k", "Bearer t0k", True),
    ],
)
async def test_web_admin_needs_its_own_token(core, configured, sent, allowed):
    app = make_app(core, BotConfig(web_admin=True), admin_token=configured)
    async with TestClient(TestServer(app)) as c:
        headers = {"Authorization": sent} if sent else {}
        r = await c.post("/api/command", json={"user": "ann", "text": "/status"}, headers=headers)
        assert r.status == 200
        refused = "Only bot admins" in (await r.json())["text"]
        assert refused is not allowed
