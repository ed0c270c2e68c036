"""The local web chat: type the same commands as on Discord, vote with 👍/👎, browse the gallery.

One HTML page and a small JSON API over the same core commands and store as the
Discord front-end, so a vote here and a reaction there land in the same table. The page
polls /api/announcements for what Discord gets pushed to its announce channel (a new
model is live), from the feed the caller hands to ``make_app``.
"""

from __future__ import annotations

import base64
import html
import json
import re
from importlib import resources

from aiohttp import web

from bot.config import BotConfig
from bot.core import text
from bot.core.announcements import AnnouncementFeed
from bot.core.commands import DOWN, UP, Commands, describe
from bot.core.reply import Caller

CORE = web.AppKey("core", Commands)
CONFIG = web.AppKey("config", BotConfig)
FEED = web.AppKey("announcements", AnnouncementFeed)
USER = re.compile(r"^[\w.-]{1,32}$")


def _page(name: str) -> str:
    return resources.files("bot.web").joinpath(name).read_text(encoding="utf-8")


def _user(raw: object) -> str:
    name = str(raw or "").strip()
    if not USER.match(name):
        raise web.HTTPBadRequest(text=json.dumps({"error": "a user name is 1-32 letters, digits, '.', '_' or '-'"}),
                                 content_type="application/json")  # fmt: skip
    return name


async def index(request: web.Request) -> web.Response:
    return web.Response(text=_page("chat.html"), content_type="text/html")


async def command(request: web.Request) -> web.Response:
    body = await request.json()
    core, cfg = request.app[CORE], request.app[CONFIG]
    # Web names are prefixed so they never collide with Discord ids in the store.
    caller = Caller(user=f"web:{_user(body.get('user'))}", platform="web", admin=cfg.web_admin)
    reply = await text.run(core, caller, str(body.get("text", ""))[:1000])
    images = [{"generation": f.generation, "url": f"/image/{f.generation}", "name": f.name}
              for f in reply.files if f.generation]  # fmt: skip
    others = [{"name": f.name, "data": f"data:image/gif;base64,{base64.b64encode(f.data).decode()}"} for f in reply.files if not f.generation]
    return web.json_response({"text": reply.text, "ephemeral": reply.ephemeral, "images": images, "files": others,
                              "kind": reply.kind})  # fmt: skip


async def schema(request: web.Request) -> web.Response:
    """The attribute pickers' choices: every model's attributes and values, from the engine's catalog."""
    catalog = request.app[CORE].catalog
    return web.json_response({"default": catalog.default, "models": [
        {"name": m.name, "attributes": [{"name": a.name, "values": list(a.values)} for a in m.attributes]}
        for m in catalog.models]})  # fmt: skip


async def vote(request: web.Request) -> web.Response:
    body = await request.json()
    core = request.app[CORE]
    user, generation, value = _user(body.get("user")), str(body.get("generation", "")), body.get("value")
    if value not in (1, -1, 0):
        return web.json_response({"error": "value is 1 (👍), -1 (👎) or 0 (remove)"}, status=400)
    if core.store.generation(generation) is None:
        return web.json_response({"error": "no such mascot"}, status=404)
    key = f"web:{user}"
    if value == 0:
        core.store.unvote(generation, key)
    else:
        core.store.vote(generation, key, value)
    up, down = core.store.tally(generation)
    return web.json_response({"generation": generation, "up": up, "down": down, "yours": value})


async def image(request: web.Request) -> web.Response:
    found = request.app[CORE].store.image(request.match_info["generation"])
    if found is None:
        raise web.HTTPNotFound()
    data, fmt = found
    # An image never changes once made, so the browser may keep it.
    return web.Response(body=data, content_type=f"image/{fmt}", headers={"Cache-Control": "max-age=86400"})


async def top(request: web.Request) -> web.Response:
    period = request.query.get("period", "week")
    if period not in ("day", "week", "all"):
        return web.json_response({"error": "period is day, week or all"}, status=400)
    ranked = request.app[CORE].store.top(period, int(request.query.get("limit", 24)))
    return web.json_response([{"generation": r.generation.id, "url": f"/image/{r.generation.id}", "score": r.score,
                               "up": r.up, "down": r.down, "seed": r.generation.seed,
                               "attributes": r.generation.attributes} for r in ranked])  # fmt: skip


async def announcements(request: web.Request) -> web.Response:
    try:
        after = int(request.query.get("after", 0))
    except ValueError:
        return web.json_response({"error": "after is the id of the last announcement seen (a whole number)"},
                                 status=400)  # fmt: skip
    news = request.app[FEED].after(after)
    return web.json_response({"announcements": [a.to_json() for a in news]})


async def gallery(request: web.Request) -> web.Response:
    period = request.query.get("period", "all")
    if period not in ("day", "week", "all"):
        period = "all"
    ranked = request.app[CORE].store.top(period, 48)
    cards = "\n".join(
        f'<figure class="card"><img src="/image/{r.generation.id}" alt="mascot" width="128" height="128">'
        f"<figcaption><b>{r.score:+d}</b> {UP}{r.up} {DOWN}{r.down}<br>{html.escape(describe(r.generation.attributes))}"
        f"<br>seed {r.generation.seed} · <code>{r.generation.id}</code></figcaption></figure>"
        for r in ranked
    ) or "<p>No votes yet: make a mascot in the chat and vote on it.</p>"
    tabs = " · ".join(f'<a href="/gallery?period={p}"{" class=on" if p == period else ""}>{p}</a>' for p in ("day", "week", "all"))
    return web.Response(text=_page("gallery.html").replace("{{tabs}}", tabs).replace("{{cards}}", cards),
                        content_type="text/html")  # fmt: skip


def make_app(core: Commands, cfg: BotConfig, feed: AnnouncementFeed | None = None) -> web.Application:
    app = web.Application(client_max_size=64 * 1024)
    app[CORE], app[CONFIG] = core, cfg
    app[FEED] = feed if feed is not None else AnnouncementFeed()  # none given: nothing to announce
    app.router.add_get("/", index)
    app.router.add_get("/gallery", gallery)
    app.router.add_post("/api/command", command)
    app.router.add_post("/api/vote", vote)
    app.router.add_get("/api/top", top)
    app.router.add_get("/api/schema", schema)
    app.router.add_get("/api/announcements", announcements)
    app.router.add_get("/image/{generation}", image)
    return app
