"""Discord without Discord: raw gateway payloads in, captured HTTP calls out.

The client is real (discord.py's parsing, command tree, view store, dynamic items);
only the two network exits are replaced: ``client.http.request`` (REST: reactions,
messages) and the webhook adapter that interaction responses and followups use.
Every test that touches the Discord layer builds its objects here, once.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any

import discord
from discord.user import ClientUser
from discord.webhook.async_ import AsyncWebhookAdapter, async_context

from bot.config import BotConfig
from bot.core.commands import Commands
from bot.discord.client import MascotClient

BOT_ID, APP_ID, GUILD, CHANNEL = (
    900_000_000_000_000_001,
    900_000_000_000_000_002,
    800_000_000_000_000_001,
    700_000_000_000_000_001,
)
_ids = itertools.count(1_000_000_000_000_000_000)


def snowflake() -> int:
    return next(_ids)


def user(uid: int, name: str | None = None, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(uid),
        "username": name or f"user{uid % 10000}",
        "discriminator": "0",
        "avatar": None,
        "global_name": name,
        "bot": bot,
    }


def member(uid: int, permissions: int = 0) -> dict[str, Any]:
    return {
        "user": user(uid),
        "roles": [],
        "joined_at": "2024-01-01T00:00:00+00:00",
        "deaf": False,
        "mute": False,
        "flags": 0,
        "permissions": str(permissions),
        "avatar": None,
    }


def message(
    mid: int, channel: int, content: str = "", author: int = BOT_ID, components: list | None = None
) -> dict[str, Any]:
    return {
        "id": str(mid),
        "channel_id": str(channel),
        "type": 0,
        "content": content,
        "author": user(author, "mascotbot", True),
        "attachments": [],
        "embeds": [],
        "mentions": [],
        "mention_roles": [],
        "pinned": False,
        "mention_everyone": False,
        "tts": False,
        "timestamp": "2024-01-01T00:00:00+00:00",
        "edited_timestamp": None,
        "flags": 0,
        "components": components or [],
        "application_id": str(APP_ID),
    }


@dataclass
class Call:
    method: str
    path: str
    json: Any
    files: list[tuple[str, bytes]]
    at: float
    token: str | None = None  # the interaction this call answers (webhook routes)

    @property
    def callback_type(self) -> int | None:
        return (
            self.json.get("type") if self.path.endswith("/callback") and isinstance(self.json, dict) else None
        )

    @property
    def ephemeral(self) -> bool:
        data = self.json.get("data", self.json) if isinstance(self.json, dict) else {}
        return bool((data or {}).get("flags", 0) & 64)

    @property
    def content(self) -> str:
        data = self.json.get("data", self.json) if isinstance(self.json, dict) else {}
        return (data or {}).get("content") or ""


def not_found(code: int) -> discord.NotFound:
    text = {10008: "Unknown Message", 10062: "Unknown interaction"}.get(code, "Not Found")
    return discord.NotFound(SimpleNamespace(status=404, reason="Not Found"), {"code": code, "message": text})


@dataclass
class FakeDiscord:
    """Records every call; ``fail`` maps a (method, path substring) to an exception to raise."""

    calls: list[Call] = field(default_factory=list)
    fail: dict[tuple[str, str], Exception] = field(default_factory=dict)
    channel_of: dict[str, int] = field(default_factory=dict)  # interaction token -> channel id
    posted: dict[int, str] = field(default_factory=dict)  # message id -> interaction token

    def _record(self, method: str, path: str, body: Any, files: list, token: str | None) -> None:
        self.calls.append(Call(method, path, body, files, time.perf_counter(), token))
        for (m, fragment), exc in self.fail.items():
            if m == method and fragment in path:
                raise exc

    async def http_request(self, route, *, files=None, form=None, **kwargs) -> Any:
        body = kwargs.get("json")
        self._record(route.method, route.url, body, _files(files), None)
        return None

    def adapter(self) -> AsyncWebhookAdapter:
        fake = self

        class Adapter(AsyncWebhookAdapter):
            async def request(
                self, route, session=None, *, payload=None, multipart=None, files=None, params=None, **_
            ):
                token = route.webhook_token
                body = payload
                if multipart:
                    body = json.loads(next(p["value"] for p in multipart if p["name"] == "payload_json"))
                fake._record(route.method, route.url, body, _files(files), token)
                if route.url.endswith("/callback"):
                    return {"interaction": {"id": str(route.webhook_id), "type": 2}}
                if (
                    route.method == "POST" and "/webhooks/" in route.url
                ):  # followup: Discord returns the message
                    mid = snowflake()
                    fake.posted[mid] = token
                    return message(
                        mid, fake.channel_of.get(token, CHANNEL), (body or {}).get("content") or ""
                    )
                if route.method == "PATCH" and "/messages/" in route.url:  # an edit: the message as edited
                    return message(
                        snowflake(), fake.channel_of.get(token, CHANNEL), (body or {}).get("content") or ""
                    )
                return None

        return Adapter()

    # --- queries for assertions ---
    def for_token(self, token: str) -> list[Call]:
        return [c for c in self.calls if c.token == token]

    def reactions(self, message_id: int) -> list[str]:
        import urllib.parse

        return [
            urllib.parse.unquote(c.path.split("/reactions/")[1].split("/")[0])
            for c in self.calls
            if c.method == "PUT" and f"/messages/{message_id}/reactions/" in c.path
        ]


def _files(files) -> list[tuple[str, bytes]]:
    out = []
    for f in files or []:
        f.reset()
        out.append((f.filename, f.fp.read()))
    return out


class Harness:
    """One fake Discord and one real client; ``restart()`` swaps in a new client (same store)."""

    def __init__(self, core: Commands, cfg: BotConfig | None = None) -> None:
        self.core = core
        self.cfg = replace(cfg or BotConfig(), sync_commands=False)
        self.fake = FakeDiscord()
        self.client: MascotClient | None = None

    async def start(self) -> MascotClient:
        client = MascotClient(self.cfg, self.core)
        await client._async_setup_hook()
        client._connection.user = ClientUser(state=client._connection, data=user(BOT_ID, "mascotbot", True))
        client._connection.application_id = APP_ID
        client.http.request = self.fake.http_request  # type: ignore[method-assign]
        async_context.set(self.fake.adapter())
        await client.setup_hook()
        self.client = client
        return client

    async def restart(self) -> MascotClient:
        await self.close()
        return await self.start()

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()

    # --- gateway events ---
    def _interaction(
        self,
        itype: int,
        data: dict,
        uid: int,
        guild: bool = True,
        msg: dict | None = None,
        permissions: int = 0,
    ) -> str:
        iid = snowflake()
        token = f"tok{iid}"
        channel = CHANNEL if guild else 600_000_000_000_000_000 + uid % 1000
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(APP_ID),
            "type": itype,
            "data": data,
            "token": token,
            "version": 1,
            "channel_id": str(channel),
            "app_permissions": "0",
            "locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(GUILD)} if guild else {"1": str(uid)},
            "context": 0 if guild else 1,
            "attachment_size_limit": 8 * 1024 * 1024,
        }
        if guild:
            payload["channel"] = {
                "id": str(channel),
                "type": 0,
                "name": "mascots",
                "position": 0,
                "nsfw": False,
                "permission_overwrites": [],
                "guild_id": str(GUILD),
            }
        if guild:
            payload.update(guild_id=str(GUILD), guild_locale="en-US", member=member(uid, permissions))
        else:
            payload["user"] = user(uid)
        if msg is not None:
            payload["message"] = msg
        self.fake.channel_of[token] = channel
        self.client._connection.parse_interaction_create(payload)
        return token

    def slash(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        uid: int = 1,
        guild: bool = True,
        permissions: int = 0,
    ) -> str:
        opts = [
            {"name": k, "type": 4 if isinstance(v, int) else 3, "value": v}
            for k, v in (options or {}).items()
        ]
        return self._interaction(
            2,
            {"id": str(snowflake()), "name": name, "type": 1, "options": opts},
            uid,
            guild,
            permissions=permissions,
        )

    def autocomplete(self, name: str, focused: str, current: str, uid: int = 1) -> str:
        opts = [{"name": focused, "type": 3, "value": current, "focused": True}]
        return self._interaction(4, {"id": str(snowflake()), "name": name, "type": 1, "options": opts}, uid)

    def click(self, custom_id: str, message_id: int, uid: int = 1) -> str:
        row = [{"type": 1, "components": [{"type": 2, "style": 2, "label": "x", "custom_id": custom_id}]}]
        return self._interaction(
            3,
            {"custom_id": custom_id, "component_type": 2},
            uid,
            msg=message(message_id, CHANNEL, components=row),
        )

    def submit_modal(self, custom_id: str, fields: dict[str, str], uid: int = 1) -> str:
        rows = [
            {"type": 1, "components": [{"type": 4, "custom_id": k, "value": v}]} for k, v in fields.items()
        ]
        return self._interaction(5, {"custom_id": custom_id, "components": rows}, uid)

    def react(self, message_id: int, uid: int, emoji: str, add: bool = True, guild: bool = True) -> None:
        data: dict[str, Any] = {
            "user_id": str(uid),
            "channel_id": str(CHANNEL),
            "message_id": str(message_id),
            "emoji": {"id": None, "name": emoji},
            "burst": False,
            "type": 0,
        }
        if guild:
            data["guild_id"] = str(GUILD)
            if add:
                data["member"] = member(uid)
        state = self.client._connection
        (state.parse_message_reaction_add if add else state.parse_message_reaction_remove)(data)

    async def settle(self, timeout: float = 30.0) -> None:
        """Wait until every task the client started (commands, buttons, listeners) has finished."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = [
                t
                for t in asyncio.all_tasks()
                if not t.done()
                and (t.get_name() or "").startswith(("discord.py:", "CommandTree", "discord-ui"))
            ]
            if not busy:
                return
            await asyncio.sleep(0.01)
        raise TimeoutError("the client still had tasks running")
