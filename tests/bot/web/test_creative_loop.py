"""The creative loop over the web chat's API, on a real engine: grid -> pick -> variations -> fuse -> star."""

import sqlite3

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.config import BotConfig
from bot.store import Store
from bot.store.migrations import MIGRATIONS
from bot.web.app import CORE, make_app
from tests.bot.web.sessions import session_key


@pytest.fixture
async def web(core):
    async with TestClient(TestServer(make_app(core, BotConfig()))) as c:
        yield c


async def _command(web, text, user="ann"):
    r = await web.post("/api/command", json={"user": user, "text": text})
    assert r.status == 200
    return await r.json()


async def _png(web, url):
    return await (await web.get(url)).read()


async def test_mascot_answers_four_candidates_to_pick_and_vary(web, store):
    grid = await _command(web, "/mascot hair:blue smile:yes")
    assert grid["kind"] == "grid" and len(grid["images"]) == 4
    ids = [i["generation"] for i in grid["images"]]
    gens = [store.generation(g) for g in ids]
    assert len({g.seed for g in gens}) == 4 and all(g.attributes["hair"] == "blue" for g in gens)

    rows = store.db["generations"].count
    picked = await _command(web, f"/pick {ids[1]}")
    assert picked["kind"] == "post" and len(picked["images"]) == 1
    assert picked["images"][0]["generation"] == ids[1] and picked["text"].startswith(f"Picked {ids[1]}")
    assert store.db["generations"].count == rows  # the pick is the candidate, not a new mascot
    post = store.generation(picked["images"][0]["generation"])
    assert (post.seed, post.attributes, post.latent) == (gens[1].seed, gens[1].attributes, None)
    assert await _png(web, picked["images"][0]["url"]) == await _png(
        web, grid["images"][1]["url"]
    )  # no upscaler here

    varied = await _command(web, f"/variations {post.id}")
    assert varied["kind"] == "grid" and len(varied["images"]) == 4
    kids = [store.generation(i["generation"]) for i in varied["images"]]
    assert all(k.attributes == post.attributes and k.derived for k in kids)
    assert [k.latent["index"] for k in kids] == [1, 2, 3, 4] and kids[1].latent["vary"] == {"seed": post.seed}
    pngs = {await _png(web, i["url"]) for i in varied["images"]}
    assert len(pngs) == 4 and await _png(web, picked["images"][0]["url"]) not in pngs

    again = await _command(
        web, f"/pick {kids[1].id}"
    )  # a picked variation is drawn from its recipe, not its seed
    assert (
        again["images"][0]["generation"] == kids[1].id
        and store.generation(kids[1].id).latent == kids[1].latent
    )
    assert await _png(web, again["images"][0]["url"]) == await _png(web, varied["images"][1]["url"])
    deeper = await _command(web, f"/variations {again['images'][0]['generation']}")
    assert store.generation(deeper["images"][0]["generation"]).latent["vary"] == kids[1].latent

    rerolled = await _command(web, f"/reroll {ids[0]}")
    assert rerolled["kind"] == "grid" and not {
        store.generation(i["generation"]).seed for i in rerolled["images"]
    } & {g.seed for g in gens}


async def test_fuse_takes_each_attribute_from_a_parent(web, store):
    a = (await _command(web, "/mascot hair:red smile:yes seed:1"))["images"][0]["generation"]
    b = (await _command(web, "/mascot hair:green smile:no seed:2"))["images"][0]["generation"]
    fused = await _command(web, f"/fuse a:{a} b:{b}")
    (img,) = fused["images"]
    child, ga, gb = store.generation(img["generation"]), store.generation(a), store.generation(b)
    assert all(child.attributes[n] in (ga.attributes[n], gb.attributes[n]) for n in child.attributes)
    assert child.latent == {"fuse": [{"seed": 1}, {"seed": 2}], "mix": 0.5}
    same = await _command(web, f"/fuse {a} {b}")  # positional, and reproducible
    assert await _png(web, same["images"][0]["url"]) == await _png(web, img["url"])
    forced = await _command(web, f"/fuse {a} {b} hair:b smile:a")
    kid = store.generation(forced["images"][0]["generation"])
    assert (kid.attributes["hair"], kid.attributes["smile"]) == ("green", "yes")
    assert "hair:c" in (await _command(web, f"/fuse {a} {b} hair:c"))["text"]  # names the allowed sides
    assert "a:ID b:ID" in (await _command(web, f"/fuse {a}"))["text"]


async def test_star_collection_and_unstar(web, store):
    ids = [i["generation"] for i in (await _command(web, "/mascot"))["images"]]
    assert "empty" in (await _command(web, "/collection"))["text"]
    for g in ids[:2]:
        assert "Saved" in (await _command(web, f"/star {g}"))["text"]
    shown = await _command(web, "/collection")
    assert shown["kind"] == "collection" and [i["generation"] for i in shown["images"]] == [ids[1], ids[0]]
    me = session_key(web, store)
    await _command(web, f"/unstar {ids[1]}")
    assert [g.id for g in store.favourites(me)] == [ids[0]]
    web.session.cookie_jar.clear()  # another browser: one browser's collection is its own
    assert "empty" in (await _command(web, "/collection"))["text"]


def test_the_collection_holds_at_most_150(store):
    rows = [
        store.add_generation(
            engine_id="e",
            model="m",
            version="v",
            seed=i,
            attributes={},
            requested={},
            truncation=1.0,
            requester="u",
            platform="web",
        )
        for i in range(151)
    ]
    assert [store.add_favourite("u", r.id) for r in rows[:150]][-1] == 150
    assert store.add_favourite("u", rows[150].id) is None and store.favourite_count("u") == 150
    assert store.add_favourite("u", rows[3].id) == 150  # starring again is not an error


async def test_readme_forms_remix_and_morph_by_id(web, store):
    a = (await _command(web, "/mascot hair:red seed:3"))["images"][0]["generation"]
    b = (await _command(web, "/mascot hair:blue smile:no seed:4"))["images"][0]["generation"]
    remixed = store.generation((await _command(web, f"/remix {a} hair:green"))["images"][0]["generation"])
    assert (remixed.seed, remixed.attributes["hair"]) == (3, "green")
    morph = await _command(web, f"/morph {a} {b}")
    assert morph["files"][0]["data"].startswith("data:image/gif;base64,")
    assert (await _command(web, "/morph 1 2 frames:3"))["files"]
    assert "two mascot ids or two seeds" in (await _command(web, "/morph nope 2"))["text"]


async def test_top_lists_only_liked_mascots_with_thumbnails(web, store):
    liked, disliked = [(await _command(web, f"/mascot seed:{s}"))["images"][0]["generation"] for s in (1, 2)]
    store.vote(liked, "x", 1)
    store.vote(disliked, "x", -1)
    top = await _command(web, "/top day")
    assert top["kind"] == "thumbs" and [i["generation"] for i in top["images"]] == [liked]
    assert disliked not in top["text"]


async def test_status_is_formatted_for_people(core):
    async with TestClient(TestServer(make_app(core, BotConfig(), admin_token="t"))) as c:
        r = await c.post(
            "/api/command", json={"user": "ann", "text": "/status"}, headers={"Authorization": "Bearer t"}
        )
        status = await r.json()
    assert "{" not in status["text"] and "Engine: 1 model(s)" in status["text"]


async def test_schema_lists_the_pickers_choices(web):
    body = await (await web.get("/api/schema")).json()
    hair = next(a for a in body["models"][0]["attributes"] if a["name"] == "hair")
    assert hair["values"] == ["red", "green", "blue"]


def test_an_old_database_keeps_its_rows_through_migration_4(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied TEXT NOT NULL)")
    for version, script in enumerate(MIGRATIONS[:3], start=1):
        conn.executescript(
            f"BEGIN;\n{script}\nINSERT INTO schema_version VALUES ({version}, 'then');\nCOMMIT;"
        )
    conn.execute(
        "INSERT INTO generations (id, engine_id, model, version, seed, attributes, requested, truncation, "
        "requester, platform, created) VALUES ('g1', 'e', 'm', 'v', 7, '{\"hair\": \"red\"}', '{}', 1.0, "
        "'u', 'web', '2026-01-01')"
    )
    conn.execute("INSERT INTO votes VALUES ('g1', 'u', 1, '2026-01-01')")
    conn.close()
    store = Store(path)
    assert store.schema_version == len(MIGRATIONS)
    g = store.generation("g1")
    assert (g.seed, g.attributes, g.latent, g.derived) == (7, {"hair": "red"}, None, False)
    assert store.votes("g1") == {"u": 1} and store.add_favourite("u", "g1") == 1
    store.close()


async def test_the_readme_chat_examples_are_accepted(web):
    """Every command in README.md's chat block runs (pink -> green: the test model has three hair colours)."""
    import itertools
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    block = readme.split("In chat (", 1)[1].split("```", 2)[1]
    # A line is "command  what it does", or several commands apart by two spaces.
    commands = [
        part
        for line in block.splitlines()
        for part in re.split(r"\s{2,}", line.strip())
        if part.startswith("/")
    ]
    assert len(commands) >= 12 and "/remix <id> hair:pink" in commands and "/morph <id> <id>" in commands
    made = [i["generation"] for i in (await _command(web, "/mascot"))["images"]]
    web.server.app[CORE].store.vote(made[0], "someone", 1)  # so /top week has one to show
    ids = itertools.cycle(made)
    for command in commands:
        text = re.sub("<id>", lambda _: next(ids), command.replace("hair:pink", "hair:green"))
        reply = await _command(web, text)
        assert not re.search(r"don't know|not of the form|needs|takes one|can't find", reply["text"]), (
            text,
            reply,
        )
        assert (
            reply["images"] or reply["files"] or "collection" in reply["text"] or "Commands" in reply["text"]
        ), text


async def test_queue_reports_the_engines_waiting_images(web):
    body = await (await web.get("/api/queue")).json()
    assert body == {"engine_queue": 0}
