"""Picture -> mascot from the chats: /api/mascotify and Commands.mascotify, on a real engine."""

import base64
import io
import json

import pytest
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from bot.config import BotConfig
from bot.core import text
from bot.core.reply import Caller
from bot.web.app import MAX_BODY, make_app


def _png(colour=(30, 40, 220), size=(40, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
async def web(core):
    async with TestClient(TestServer(make_app(core, BotConfig()))) as c:
        yield c


async def test_a_picture_becomes_four_candidates_that_pick_and_vary_like_any(web, store):
    data_url = "data:image/png;base64," + base64.b64encode(_png()).decode()
    r = await web.post("/api/mascotify", json={"user": "ann", "image": data_url, "text": "hair:blue"})
    assert r.status == 200, await r.text()
    grid = await r.json()
    assert grid["kind"] == "grid" and len(grid["images"]) == 4 and "picture" in grid["text"]
    gens = [store.generation(i["generation"]) for i in grid["images"]]
    assert "z" in gens[0].latent and all(g.attributes["hair"] == "blue" for g in gens)
    assert [g.latent["index"] for g in gens[1:]] == [1, 2, 3]
    picked = await (
        await web.post("/api/command", json={"user": "ann", "text": f"/pick {gens[0].id}"})
    ).json()
    assert picked["kind"] == "post"
    first = await (await web.get(grid["images"][0]["url"])).read()
    assert await (await web.get(picked["images"][0]["url"])).read() == first  # drawn again from its latent
    varied = await (
        await web.post("/api/command", json={"user": "ann", "text": f"/variations {gens[0].id}"})
    ).json()
    assert varied["kind"] == "grid" and len(varied["images"]) == 4


async def test_mascotify_streams_the_search_steps_then_the_reply(web, store):
    body = {"user": "ann", "image": base64.b64encode(_png()).decode(), "text": "hair:blue", "progress": True}
    r = await web.post("/api/mascotify", json=body)
    assert r.status == 200 and r.headers["Content-Type"].startswith("application/x-ndjson")
    *steps, grid = [json.loads(line) for line in (await r.text()).splitlines()]
    assert steps[0] == {"progress": {"step": 0, "steps": 5}} and steps[-1] == {
        "progress": {"step": 5, "steps": 5}
    }
    assert [s["progress"]["step"] for s in steps] == sorted({s["progress"]["step"] for s in steps})
    assert grid["kind"] == "grid" and len(grid["images"]) == 4 and "picture" in grid["text"]
    assert all(store.generation(i["generation"]).attributes["hair"] == "blue" for i in grid["images"])
    r = await web.post("/api/mascotify", json={**body, "progress": 1})
    assert r.status == 400 and (await r.json())["error"]["code"] == "invalid_progress"


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"user": "ann"}, 400, "invalid_image"),
        ({"user": "ann", "image": 5}, 400, "invalid_image"),
        ({"user": "ann", "image": "%%%"}, 400, "invalid_image"),
        ({"user": "ann", "image": base64.b64encode(_png()).decode(), "text": "hair"}, 400, "invalid_text"),
        ({"user": "ann", "image": base64.b64encode(_png()).decode(), "text": 3}, 400, "invalid_text"),
        ({"user": "", "image": base64.b64encode(_png()).decode()}, 400, "invalid_user"),
    ],
)
async def test_unusable_uploads_are_a_clear_4xx(web, body, status, code):
    r = await web.post("/api/mascotify", json=body)
    assert r.status == status and (await r.json())["error"]["code"] == code


async def test_a_file_that_is_no_picture_is_answered_with_the_engines_reason(web):
    r = await web.post(
        "/api/mascotify", json={"user": "ann", "image": base64.b64encode(b"GIF89a nope").decode()}
    )
    reply = await r.json()
    assert (
        r.status == 200
        and reply["ephemeral"]
        and not reply["images"]
        and "PNG, JPEG or WebP" in reply["text"]
    )


async def test_other_routes_keep_their_small_body_limit(web):
    r = await web.post("/api/command", json={"user": "ann", "text": "x" * (MAX_BODY + 10)})
    assert r.status == 413 and (await r.json())["error"]["code"] == "body_too_large"


async def test_typed_mascotify_says_how_to_send_a_picture(core):
    reply = await text.run(core, Caller(user="web:ann", platform="web"), "/mascotify hair:blue")
    assert reply.ephemeral and "picture" in reply.text


async def test_an_empty_or_huge_picture_is_refused_before_the_engine(core):
    caller = Caller(user="web:ann", platform="web")
    assert "Attach a picture" in (await core.mascotify(caller, b"")).text
    assert "at most 8 MiB" in (await core.mascotify(caller, b"\0" * (9 * 2**20))).text
