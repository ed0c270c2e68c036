"""An aiohttp app served on loopback from a thread of its own, for synchronous tests (hypothesis).

Property tests send many requests one after another; a server on its own event loop
lets each example be a plain blocking HTTP call, with no loop juggling per example.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import web


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class LiveServer:
    def __init__(
        self, app: web.Application | Callable[[], Awaitable[web.Application]], host: str = "127.0.0.1"
    ) -> None:
        """``app``, or a coroutine function making it on the server's loop (apps holding client sessions)."""
        self.app, self.host, self.port = app, host, 0
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="live-server", daemon=True)
        self._runner: web.AppRunner | None = None
        self.routes: list[tuple[str, str]] = []  # (method, path pattern) of every GET and POST route

    def __enter__(self) -> LiveServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(120)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    async def _start(self) -> None:
        app = self.app if isinstance(self.app, web.Application) else await self.app()
        self.routes = sorted(
            {
                (r.method, r.resource.canonical)
                for r in app.router.routes()
                if r.resource is not None and r.method in ("GET", "POST")
            }
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0, backlog=1024)  # as engine/serve/cli.py serves
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    def call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> Answer:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            # Unicode in a path is sent percent-encoded, as a browser would.
            conn.request(method, quote(path, safe="/?=&%"), body=body, headers=headers or {})
            resp = conn.getresponse()
            return Answer(resp.status, dict(resp.getheaders()), resp.read())
        finally:
            conn.close()


def assert_clean(answer: Answer, what: str) -> None:
    """2xx, or a 4xx whose body is {"error": {"code", "message"}} -- never a 5xx."""
    assert answer.status < 500, f"{what} -> {answer.status}: {answer.body[:300]!r}"
    if answer.status >= 400:
        err = answer.json()["error"]
        assert isinstance(err["code"], str) and err["code"], what
        assert isinstance(err["message"], str) and err["message"], what


def fill(pattern: str, value: str) -> str:
    """A route pattern with each ``{placeholder}`` replaced by ``value``."""
    import re

    return re.sub(r"\{[^}]+\}", value.replace("\\", "\\\\"), pattern)
