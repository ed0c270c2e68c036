"""Every route of the engine, bound to its handler in one place.

The routes and their bodies are declared in engine/serve/contract.py; each route module
gives its handlers by route (``handlers()``), and ``register`` binds them to the app: a route
with a body has it read and validated first, so its handler receives the declared type.
Route modules import nothing above them: they get the service (engine/serve/service.py's
protocol) from here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from engine.invert import InvertConfig
from engine.serve import communities, creative, invert
from engine.serve.contract import OPENAPI, ROUTES, Route
from engine.serve.openapi import document
from engine.serve.requests import read_body
from engine.serve.responses import json_response
from engine.serve.service import Service

Handler = Callable[..., Awaitable[web.StreamResponse]]


def register(app: web.Application, service: Service, core: Mapping[Route, Handler]) -> None:
    """Add every route of ``contract.ROUTES``: ``core`` (the service's own) and the route modules'."""
    cfg = service.cfg
    searches = InvertConfig(steps=cfg.invert_steps, budget_s=cfg.invert_budget_s)
    community = communities.configured(service)
    handlers: dict[Route, Handler] = {
        **core,
        **community.handlers(),
        **creative.CreativeRoutes(service).handlers(),
        **invert.InvertRoutes(service, cfg.tagger, searches, cfg.translators).handlers(),
        OPENAPI: openapi_json,
    }
    unbound = [f"{r.method} {r.path}" for r in ROUTES if r not in handlers]
    if unbound:
        raise RuntimeError(f"routes declared without a handler: {', '.join(unbound)}")
    for route in ROUTES:
        add = app.router.add_get if route.method == "GET" else app.router.add_post
        add(route.path, _bound(route, handlers[route]))
    community.attach(app)  # start-up serves the communities' models again; clean-up stops a chunk


def _bound(route: Route, handler: Handler) -> Handler:
    if route.body is None:
        return handler

    async def validated(request: web.Request) -> web.StreamResponse:
        return await handler(request, await read_body(request, route.body, route.limit))

    return validated


async def openapi_json(request: web.Request) -> web.Response:
    return json_response(document())
