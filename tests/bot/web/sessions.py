"""The store key of a test client's web chat session (bot/web/session.py)."""

from __future__ import annotations

from bot.web.session import COOKIE


def session_key(client, store) -> str:
    """``web:<session id>`` of the cookie the chat gave ``client`` (an aiohttp TestClient)."""
    token = next(c.value for c in client.session.cookie_jar if c.key == COOKIE)
    session = store.web_session(token)
    assert session is not None, "the chat's cookie names no session it gave out"
    return f"web:{session}"


def token_of(client) -> str:
    return next(c.value for c in client.session.cookie_jar if c.key == COOKIE)


def become(client, token: str | None = None) -> None:
    """Act as another browser: a new one (no cookie), or the one holding ``token``."""
    client.session.cookie_jar.clear()
    if token is not None:
        client.session.cookie_jar.update_cookies({COOKIE: token})
