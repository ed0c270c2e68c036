import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.config import BotConfig
from bot.core.announcements import AnnouncementFeed
from bot.core.commands import describe
from bot.web.app import make_app
from tests.bot.web.sessions import become, session_key, token_of


@pytest.fixture
def feed():
    return AnnouncementFeed()


@pytest.fixture
async def web(core, feed):
    async with TestClient(TestServer(make_app(core, BotConfig(), feed))) as c:
        yield c


async def _command(web, text, user="ann"):
    r = await web.post("/api/command", json={"user": user, "text": text})
    assert r.status == 200
    return await r.json()


async def test_typed_mascot_command_gives_an_image_to_vote_on(web, store):
    reply = await _command(web, "/mascot hair:blue smile:yes seed:42")
    (img,) = reply["images"]
    assert "hair:blue" in reply["text"] and "seed 42" in reply["text"]
    png = await (await web.get(img["url"])).read()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    r = await web.post("/api/vote", json={"user": "bob", "generation": img["generation"], "value": 1})
    assert await r.json() == {"generation": img["generation"], "up": 1, "down": 0, "yours": 1}
    me = session_key(web, store)
    assert store.votes(img["generation"]) == {me: 1}
    await web.post("/api/vote", json={"user": "bob", "generation": img["generation"], "value": -1})
    assert store.votes(img["generation"]) == {me: -1}
    await web.post("/api/vote", json={"user": "bob", "generation": img["generation"], "value": 0})
    assert store.votes(img["generation"]) == {}


async def test_each_picture_of_a_count_is_captioned_with_its_own_attributes(web, store):
    reply = await _command(web, "/mascot seed:1 count:3")
    rows = [store.generation(img["generation"]) for img in reply["images"]]
    assert len({tuple(r.attributes.items()) for r in rows}) > 1  # the seeds drew different looks
    lines = reply["text"].splitlines()[1:]
    assert len(lines) == 3
    for line, row in zip(lines, rows):
        assert f"{describe(row.attributes)} · seed {row.seed} · {row.id}" in line


async def test_engine_error_messages_reach_the_user(web):
    reply = await _command(web, "/mascot hair:blu")
    assert reply["ephemeral"] and "allowed: red, green, blue" in reply["text"] and reply["images"] == []
    reply = await _command(web, "/mascot hair blue")
    assert "name:value" in reply["text"]


async def test_remix_keeps_seed_and_morph_returns_a_gif(web, store):
    first = (await _command(web, "/mascot hair:red seed:9"))["images"][0]["generation"]
    remixed = await _command(web, f"/remix id:{first} hair:green")
    new = store.generation(remixed["images"][0]["generation"])
    assert (new.seed, new.attributes["hair"]) == (9, "green")
    morph = await _command(web, "/morph a:1 b:2 frames:4")
    assert morph["files"][0]["data"].startswith("data:image/gif;base64,")


async def test_gallery_and_top_show_the_best_voted(web):
    a = (await _command(web, "/mascot seed:1"))["images"][0]["generation"]
    b = (await _command(web, "/mascot seed:2"))["images"][0]["generation"]
    maker = token_of(web)
    for user in ("u1", "u2"):
        become(web)  # each voter is a browser of their own
        await web.post("/api/vote", json={"user": user, "generation": b, "value": 1})
    become(web)
    await web.post("/api/vote", json={"user": "u3", "generation": a, "value": -1})
    become(web, maker)
    top = await (await web.get("/api/top?period=day")).json()
    assert [t["generation"] for t in top] == [b] and top[0]["score"] == 2
    page = await (await web.get("/gallery")).text()
    assert f"/image/{b}" in page and a not in page  # a disliked mascot is not "top-voted"
    stats = await _command(web, "/mystats", user="ann")
    assert "You made 2 mascot(s)" in stats["text"] and "2 👍 and 1 👎" in stats["text"]


async def test_the_gallery_shows_no_mascot_without_a_positive_score(web):
    a = (await _command(web, "/mascot seed:1"))["images"][0]["generation"]
    b = (await _command(web, "/mascot seed:2"))["images"][0]["generation"]
    await web.post("/api/vote", json={"user": "u1", "generation": a, "value": -1})
    for user, value in (("u1", 1), ("u2", -1)):  # a tie: score 0
        become(web)
        await web.post("/api/vote", json={"user": user, "generation": b, "value": value})
    assert await (await web.get("/api/top?period=all")).json() == []
    page = await (await web.get("/gallery?period=all")).text()
    assert a not in page and b not in page and "No liked mascots yet" in page
    assert "−1" not in page and "-1" not in page


async def test_bad_user_names_and_votes_are_refused(web):
    r = await web.post("/api/vote", json={"user": "a b", "generation": "x", "value": 1})
    assert r.status == 400
    r = await web.post("/api/vote", json={"user": "ann", "generation": "nope", "value": 1})
    assert r.status == 404


async def test_announcements_are_served_after_the_last_one_seen(web, feed):
    assert await (await web.get("/api/announcements")).json() == {"announcements": []}
    feed.add("New mascot model v2 is live.")
    feed.add("Rolled default back from v2 to v1.")
    body = await (await web.get("/api/announcements?after=0")).json()
    assert [(a["id"], a["message"]) for a in body["announcements"]] == [
        (1, "New mascot model v2 is live."),
        (2, "Rolled default back from v2 to v1."),
    ]
    assert body["announcements"][0]["time"].endswith("Z")
    later = await (await web.get("/api/announcements?after=1")).json()
    assert [a["id"] for a in later["announcements"]] == [2]
    assert (await web.get("/api/announcements?after=two")).status == 400


async def test_the_web_app_has_an_empty_feed_when_given_none(core):
    async with TestClient(TestServer(make_app(core, BotConfig()))) as c:
        assert await (await c.get("/api/announcements")).json() == {"announcements": []}
