"""Who may use the engine's admin endpoints (reload, jobs, promote, rollback, versions).

With ``ENGINE_ADMIN_TOKEN`` set, an admin call needs ``Authorization: Bearer <token>``
(401 without one, 403 with a wrong one), wherever it comes from. Without a token
configured, admin calls are answered only for loopback peers: a single machine keeps
working out of the box, and an engine bound to 0.0.0.0 by mistake is not an open door.
Image endpoints stay open: they change nothing.
"""

from __future__ import annotations

import ipaddress
import os
import secrets

from aiohttp import web

from engine.serve.contract import ROUTES
from engine.serve.requests import ApiError

TOKEN_ENV = "ENGINE_ADMIN_TOKEN"
# The routes engine/serve/contract.py marks as admin (documented with the bearer scheme).
ADMIN_ROUTES = frozenset(route.path for route in ROUTES if route.admin)


def token_from_env() -> str:
    return os.environ.get(TOKEN_ENV, "").strip()


def is_loopback(remote: str | None) -> bool:
    if not remote:
        return False
    try:
        return ipaddress.ip_address(remote.split("%")[0]).is_loopback
    except ValueError:
        return False  # a unix socket or an unparseable peer is not known to be local


def check_admin(token: str, remote: str | None, authorization: str | None) -> None:
    """Raise ``ApiError`` (401/403) unless this caller may use admin endpoints."""
    if not token:
        if is_loopback(remote):
            return
        raise ApiError(
            403,
            "admin_forbidden",
            f"admin endpoints answer only on loopback while {TOKEN_ENV} is not set on the engine; "
            f"set it and send 'Authorization: Bearer <token>'",
        )
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise ApiError(
            401,
            "admin_token_required",
            "this admin endpoint needs 'Authorization: Bearer <token>'",
            {"WWW-Authenticate": 'Bearer realm="mascot-engine"'},
        )
    if not secrets.compare_digest(given.strip().encode("utf-8", "replace"), token.encode("utf-8")):
        raise ApiError(
            403, "admin_token_wrong", "the admin token does not match the engine's ENGINE_ADMIN_TOKEN"
        )


def admin_guard(token: str):
    """Middleware: admin routes checked before their handler reads anything."""

    @web.middleware
    async def guard(request: web.Request, handler):
        resource = request.match_info.route.resource
        if resource is not None and resource.canonical in ADMIN_ROUTES:
            check_admin(token, request.remote, request.headers.get("Authorization"))
        return await handler(request)

    return guard
