"""The port, open from the first second: probes answered while the engine itself is still importing.

Importing torch and the engine takes seconds (more on a busy machine), and a supervisor that
cannot connect in that time counts the engine as dead. ``mascot-engine serve`` therefore binds
its socket first and answers on it with this small server, built on asyncio alone: ``/healthz``
is 200 (the process lives) and ``/readyz`` 503 ``not_ready`` with ``Retry-After: 1``. Any other
request has its connection closed unanswered, as if the port were not open yet, so a client
retries it as it retries a refused connection (the API's own answers, a job's state among them,
come only from the engine). When the engine's own server is ready to take over, this one stops
accepting; the listening socket stays open throughout, so a connection made in between waits
in the kernel's queue instead of being refused.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading

HEALTHY = json.dumps({"ok": True}).encode()
LOADING = json.dumps(
    {"error": {"code": "not_ready", "message": "the engine is starting; try again in a moment"}}
).encode()


def bind(host: str, port: int, backlog: int) -> socket.socket:
    """The listening socket the early server and then the engine's own server accept on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    return sock


def _answer(path: str) -> bytes | None:
    if path not in ("/healthz", "/readyz"):
        return None
    status, body = ("200 OK", HEALTHY) if path == "/healthz" else ("503 Service Unavailable", LOADING)
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Retry-After: 1\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


async def _serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        line = await asyncio.wait_for(reader.readline(), 10)
        parts = line.decode("latin-1").split()
        path = parts[1].partition("?")[0] if len(parts) >= 2 else ""
        answer = _answer(path)
        if answer is not None:
            writer.write(answer)
            await writer.drain()
    except (TimeoutError, OSError, UnicodeError):
        pass
    finally:
        writer.close()


class EarlyServer:
    """Answers probes on ``sock`` from a thread of its own until ``stop()``."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock.dup()  # closing this server's copy leaves the engine's socket listening
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="early-probes", daemon=True)

    def start(self) -> EarlyServer:
        self._thread.start()
        self._started.wait(10)
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def open_() -> None:
            self._server = await asyncio.start_server(_serve_one, sock=self._sock)
            self._started.set()

        self._loop.run_until_complete(open_())
        self._loop.run_forever()

    def stop(self) -> None:
        """Stop accepting (again: nothing)."""
        if not self._thread.is_alive():
            return

        async def close() -> None:
            if self._server is not None:
                self._server.close()  # stops accepting; answers under way finish

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
