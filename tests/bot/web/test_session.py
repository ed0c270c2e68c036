"""The web chat's identity is its session cookie: a typed name is shown, never counted."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.config import BotConfig
from bot.web.app import make_app
from bot.web.session import COOKIE
from tests.bot.web.sessions import session_key


@pytest.fixture
async def web(core):
    async with TestClient(TestServer(make_app(core, BotConfig()))) as c:
        yield c


async def _mascot(web) -> str:
    r = await web.post("/api/command", json={"user": "ann", "text": "/mascot seed:5"})
    assert r.status == 200
    return (await r.json())["images"][0]["generation"]


async def _vote(web, generation: str, user: str, value: int = 1):
    return await web.post("/api/vote", json={"user": user, "generation": generation, "value": value})


async def test_the_page_gives_a_browser_its_session_cookie(web):
    r = await web.get("/")
    morsel = r.cookies[COOKIE]
    assert len(morsel.value) >= 40
    assert morsel["httponly"] and morsel["samesite"] == "Strict" and morsel["path"] == "/"
    again = await web.get("/")  # a browser that has one keeps it
    assert COOKIE not in again.cookies


async def test_renaming_does_not_cast_a_second_vote(web, store):
    generation = await _mascot(web)
    for name in ("ann", "Zoë", "名前", "bob"):
        assert (await _vote(web, generation, name)).status == 200
    assert store.votes(generation) == {session_key(web, store): 1}


async def test_each_browser_is_one_voter_and_the_nightly_count_sees_them(web, store):
    generation = await _mascot(web)
    voters = set()
    for _ in range(3):
        web.session.cookie_jar.clear()  # another browser
        assert (await _vote(web, generation, "same-name")).status == 200
        voters.add(session_key(web, store))
    assert len(voters) == 3 and set(store.votes(generation)) == voters
    assert [r.generation.id for r in store.curation_candidates(min_voters=3)] == [generation]


async def test_a_forged_or_garbage_cookie_gets_a_new_session_of_its_own(web, store):
    generation = await _mascot(web)
    mine = session_key(web, store)
    for forged in ("x" * 43, "a" * 5000, mine.removeprefix("web:")):
        web.session.cookie_jar.clear()
        web.session.cookie_jar.update_cookies({COOKIE: forged})
        r = await _vote(web, generation, "mallory")
        assert r.status == 200 and COOKIE in r.cookies and r.cookies[COOKIE].value != forged
    assert len(store.votes(generation)) == 3 and mine not in store.votes(generation)


async def test_the_store_keeps_only_a_hash_of_each_token(web, store):
    await _mascot(web)
    token = next(c.value for c in web.session.cookie_jar if c.key == COOKIE)
    rows = list(store.db.query("SELECT token_sha256 FROM web_sessions"))
    assert rows and all(token not in r["token_sha256"] for r in rows)
