"""The local web chat: type the same commands as on Discord, vote with 👍/👎, browse the gallery.

One HTML page and a small JSON API over the same core commands and store as the
Discord front-end, so a vote here and a reaction there land in the same table. The page
polls /api/announcements for what Discord gets pushed to its announce channel (a new
model is live), from the feed the caller hands to ``make_app``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import secrets
from importlib import resources

from aiohttp import web

from bot.config import BotConfig
from bot.core import text
from bot.core.announcements import AnnouncementFeed
from bot.core.commands import DOWN, UP, Commands, describe
from bot.core.reply import Attachment, Caller
from bot.web.markup import WEB
from bot.web.session import issue_cookies, session_of

CORE = web.AppKey("core", Commands)
CONFIG = web.AppKey("config", BotConfig)
FEED = web.AppKey("announcements", AnnouncementFeed)
USER = re.compile(r"^[\w.-]{1,32}$")
ADMIN_TOKEN = web.AppKey("admin_token", str)
ADMIN_TOKEN_ENV = "WEB_ADMIN_TOKEN"
MAX_TOP = 100
MAX_BODY = 64 * 1024
MAX_PICTURE_BODY = 12 * 2**20  # /api/mascotify: an 8 MiB picture as a base64 data URL, and the rest
MAX_TRAIN_BODY = 64 * 2**20  # /api/train: 40 MiB of pictures (or zips) as base64 data URLs


class BadInput(Exception):
    """A request the chat cannot use: answered 4xx with what was wrong and what is allowed."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


@web.middleware
async def clean_errors(request: web.Request, handler):
    try:
        return await handler(request)
    except BadInput as exc:
        return _error(exc.status, exc.code, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)


async def _body(request: web.Request, limit: int = MAX_BODY) -> dict:
    if (request.content_length or 0) > limit:
        raise BadInput(413, "body_too_large", f"the body is larger than {limit} bytes")
    raw = await request.read()
    if len(raw) > limit:
        raise BadInput(413, "body_too_large", f"the body is larger than {limit} bytes")
    try:
        body = json.loads(raw) if raw else {}
    except (ValueError, RecursionError):  # not JSON, not UTF-8, too deep, numbers past Python's limits
        raise BadInput(
            400, "malformed_json", 'the body must be a JSON object, like {"user": "ann", "text": "/mascot"}'
        ) from None
    if not isinstance(body, dict):
        raise BadInput(
            400, "malformed_json", 'the body must be a JSON object, like {"user": "ann", "text": "/mascot"}'
        )
    return body


def _is_admin(request: web.Request) -> bool:
    """Admin commands need web_admin on *and* the WEB_ADMIN_TOKEN as a bearer token; else they are off."""
    token = request.app[ADMIN_TOKEN]
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return bool(
        request.app[CONFIG].web_admin
        and token
        and scheme.lower() == "bearer"
        and secrets.compare_digest(given.strip().encode("utf-8", "replace"), token.encode("utf-8"))
    )


def _page(name: str) -> str:
    return resources.files("bot.web").joinpath(name).read_text(encoding="utf-8")


def _user(raw: object) -> str:
    name = raw.strip() if isinstance(raw, str) else ""
    if not USER.match(name):
        raise BadInput(400, "invalid_user", "user is a name of 1-32 letters, digits, '.', '_' or '-'")
    return name


def _caller(request: web.Request, body: dict) -> Caller:
    """The browser's session is who it is (bot/web/session.py); its typed name is only shown.
    Web ids are prefixed so they never collide with Discord ids in the store."""
    _user(body.get("user"))
    session = session_of(request, request.app[CORE].store)
    return Caller(user=f"web:{session}", platform="web", admin=_is_admin(request))


async def index(request: web.Request) -> web.Response:
    session_of(request, request.app[CORE].store)  # the cookie comes with the page, before any call
    return web.Response(text=_page("chat.html"), content_type="text/html")


async def command(request: web.Request) -> web.Response:
    body = await _body(request)
    core = request.app[CORE]
    # Web names are prefixed so they never collide with Discord ids in the store.
    caller = _caller(request, body)
    typed = body.get("text", "")
    if not isinstance(typed, str):
        raise BadInput(400, "invalid_text", 'text is the command as typed, like "/mascot hair:blue"')
    return _reply(await text.run(core, caller, typed[:1000]))


def _reply(reply) -> web.Response:
    return web.json_response(_payload(reply))


def _payload(reply) -> dict:
    images = [
        {"generation": f.generation, "url": _image_url(f), "name": f.name}
        for f in reply.files
        if f.generation
    ]
    others = [
        {"name": f.name, "data": f"data:image/gif;base64,{base64.b64encode(f.data).decode()}"}
        for f in reply.files
        if not f.generation
    ]
    return {
        "text": WEB.text(reply),
        "ephemeral": reply.ephemeral,
        "images": images,
        "files": others,
        "kind": reply.kind,
    }


def _image_url(f: Attachment) -> str:
    # A picked candidate keeps its id and gets its full-size picture: the query names this picture,
    # so a browser that kept the candidate's smaller one fetches the new one.
    return f"/image/{f.generation}?v={hashlib.sha256(f.data).hexdigest()[:12]}"


async def mascotify(request: web.Request) -> web.StreamResponse:
    """Picture -> mascot: {"user", "image": a data URL or base64 of a PNG/JPEG/WebP, "text"?: "hair:blue",
    "progress"?: true}. With progress the answer is NDJSON: {"progress": {"step", "steps"}} lines while
    the engine searches, then the reply as the last line."""
    body = await _body(request, MAX_PICTURE_BODY)
    caller = _caller(request, body)
    raw, typed = body.get("image"), body.get("text", "")
    if not isinstance(raw, str) or not raw:
        raise BadInput(
            400, "invalid_image", "image is the picture as a data URL or base64 text (PNG, JPEG or WebP)"
        )
    if not isinstance(typed, str):
        raise BadInput(400, "invalid_text", 'text holds the attributes to keep, like "hair:blue smile:yes"')
    if raw.startswith("data:") and "," not in raw:
        raise BadInput(
            400,
            "invalid_image",
            "image is a data URL without its comma: it must be 'data:image/png;base64,' followed by the "
            "picture as base64 text",
        )
    try:
        picture = base64.b64decode(raw.split(",", 1)[1] if raw.startswith("data:") else raw, validate=True)
    except ValueError:  # binascii.Error included
        raise BadInput(
            400, "invalid_image", "image must be base64 text or a data URL of a PNG, JPEG or WebP picture"
        ) from None
    try:
        wanted = text.pairs(typed[:1000])
    except ValueError as exc:
        raise BadInput(400, "invalid_text", str(exc)) from None
    model = wanted.pop("model", None)
    progress = body.get("progress", False)
    if not isinstance(progress, bool):
        raise BadInput(
            400, "invalid_progress", "progress is true (answer NDJSON with the search's steps) or false"
        )
    core = request.app[CORE]
    if not progress:
        return _reply(await core.mascotify(caller, picture, wanted, model=model))
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await response.prepare(request)

    async def step(n: int, steps: int) -> None:
        await response.write(_line({"progress": {"step": n, "steps": steps}}))

    reply = await core.mascotify(caller, picture, wanted, model=model, progress=step)
    await response.write(_line(_payload(reply)))
    await response.write_eof()
    return response


async def train(request: web.Request) -> web.Response:
    """This chat's own model (admins): {"user", "files": [{"name", "data": a data URL or base64}]},
    pictures or zips of them; bot/core/community.py does the rest."""
    body = await _body(request, MAX_TRAIN_BODY)
    caller = _caller(request, body)
    raw = body.get("files")
    allowed = "files is a list of {name, data} objects: a picture or a zip, as a data URL or base64"
    if not isinstance(raw, list) or not raw or len(raw) > 3000:
        raise BadInput(400, "invalid_files", allowed + " (1 to 3000 of them)")
    files = []
    for i, item in enumerate(raw):
        name = item.get("name") if isinstance(item, dict) else None
        data = item.get("data") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name.strip() or len(name) > 255 or not isinstance(data, str):
            raise BadInput(400, "invalid_files", f"files[{i}]: {allowed}")
        try:
            files.append((name, base64.b64decode(data.split(",", 1)[-1], validate=True)))
        except ValueError:
            raise BadInput(400, "invalid_files", f"files[{i}] ({name[:80]}): data is not base64") from None
    return _reply(await request.app[CORE].communities.train(caller, files))


def _line(obj: dict) -> bytes:
    return json.dumps(obj).encode() + b"\n"


async def queue(request: web.Request) -> web.Response:
    """How many images wait at the engine: the chat shows it while a command is being drawn."""
    return web.json_response({"engine_queue": await request.app[CORE].engine.queue_depth()})


async def schema(request: web.Request) -> web.Response:
    """The attribute pickers' choices: every model's attributes and values, from the engine's catalog."""
    catalog = request.app[CORE].catalog
    return web.json_response(
        {
            "default": catalog.default,
            "models": [
                {
                    "name": m.name,
                    "attributes": [{"name": a.name, "values": list(a.offered)} for a in m.attributes],
                }
                for m in catalog.models
            ],
        }
    )


async def vote(request: web.Request) -> web.Response:
    body = await _body(request)
    core = request.app[CORE]
    _user(body.get("user"))  # the display name is checked as everywhere, but the vote is the session's
    generation, value = body.get("generation"), body.get("value")
    # true == 1 in Python: a bool must not pass as a vote.
    if isinstance(value, bool) or not isinstance(value, int) or value not in (1, -1, 0):
        raise BadInput(400, "invalid_value", "value is 1 (👍), -1 (👎) or 0 (remove)")
    if not isinstance(generation, str) or not generation or core.store.generation(generation) is None:
        raise BadInput(
            404, "no_such_mascot", "no such mascot: generation is the id of a mascot made here or on Discord"
        )
    key = f"web:{session_of(request, core.store)}"
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
    # A picture changes only when its candidate is picked (drawn again at full size), and a reply
    # names each picture with its own ?v=, so the browser may keep what it fetched.
    return web.Response(body=data, content_type=f"image/{fmt}", headers={"Cache-Control": "max-age=86400"})


async def top(request: web.Request) -> web.Response:
    period = request.query.get("period", "week")
    if period not in ("day", "week", "all"):
        raise BadInput(400, "invalid_period", "period is day, week or all")
    limit = request.query.get("limit", "24")
    # The length first: int() of a 5,000-digit string is refused by Python itself.
    if not (limit.isascii() and limit.isdigit() and len(limit) <= 6 and 1 <= int(limit) <= MAX_TOP):
        raise BadInput(400, "invalid_limit", f"limit is a whole number from 1 to {MAX_TOP}")
    ranked = request.app[CORE].store.top(period, int(limit), positive=True)
    return web.json_response(
        [
            {
                "generation": r.generation.id,
                "url": f"/image/{r.generation.id}",
                "score": r.score,
                "up": r.up,
                "down": r.down,
                "seed": r.generation.seed,
                "attributes": r.generation.attributes,
            }
            for r in ranked
        ]
    )


async def announcements(request: web.Request) -> web.Response:
    after = request.query.get("after", "0")
    if not (after.isascii() and after.isdigit() and len(after) <= 18):
        raise BadInput(400, "invalid_after", "after is the id of the last announcement seen (a whole number)")
    after = int(after)
    news = request.app[FEED].after(after)
    return web.json_response({"announcements": [a.to_json() for a in news]})


async def gallery(request: web.Request) -> web.Response:
    period = request.query.get("period", "all")
    if period not in ("day", "week", "all"):
        period = "all"
    ranked = request.app[CORE].store.top(period, 48, positive=True)
    cards = (
        "\n".join(
            f'<figure class="card"><img src="/image/{r.generation.id}" alt="mascot" width="128" height="128">'
            f"<figcaption><b>{r.score:+d}</b> {UP}{r.up} {DOWN}{r.down}<br>"
            f"{html.escape(describe(r.generation.attributes))}"
            f"<br>seed {r.generation.seed} · <code>{r.generation.id}</code></figcaption></figure>"
            for r in ranked
        )
        or f"<p>No liked mascots yet (more {UP} than {DOWN}): make a mascot in the chat and vote on it.</p>"
    )
    tabs = " · ".join(
        f'<a href="/gallery?period={p}"{" class=on" if p == period else ""}>{p}</a>'
        for p in ("day", "week", "all")
    )
    return web.Response(
        text=_page("gallery.html").replace("{{tabs}}", tabs).replace("{{cards}}", cards),
        content_type="text/html",
    )


def make_app(
    core: Commands, cfg: BotConfig, feed: AnnouncementFeed | None = None, admin_token: str | None = None
) -> web.Application:
    """``admin_token`` defaults to $WEB_ADMIN_TOKEN; without one the chat has no admin commands."""
    app = web.Application(
        client_max_size=MAX_PICTURE_BODY, middlewares=[clean_errors, issue_cookies]
    )  # other routes: MAX_BODY
    app[CORE], app[CONFIG] = core, cfg
    app[ADMIN_TOKEN] = (os.environ.get(ADMIN_TOKEN_ENV, "") if admin_token is None else admin_token).strip()
    app[FEED] = feed if feed is not None else AnnouncementFeed()  # none given: nothing to announce
    app.router.add_get("/", index)
    app.router.add_get("/gallery", gallery)
    app.router.add_post("/api/command", command)
    app.router.add_post("/api/mascotify", mascotify)
    app.router.add_post("/api/train", train)
    app.router.add_post("/api/vote", vote)
    app.router.add_get("/api/top", top)
    app.router.add_get("/api/schema", schema)
    app.router.add_get("/api/queue", queue)
    app.router.add_get("/api/announcements", announcements)
    app.router.add_get("/image/{generation}", image)
    return app
