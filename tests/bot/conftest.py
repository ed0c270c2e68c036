"""Fixtures for the bot's tests: a real engine on the tiny checkpoint, a store, the core."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestServer

from bot.core.commands import Commands
from bot.core.engine_client import EngineClient
from bot.core.limits import RateLimiter
from bot.store import Store


@pytest.fixture
async def engine_url(tiny_checkpoint, tmp_path):
    # Tests may import the engine to *start* one; the bot package itself never does.
    from engine.serve.app import EngineService, ServeConfig

    service = EngineService(
        ServeConfig(
            models=(("default", str(tiny_checkpoint)),),
            jobs_dir=str(tmp_path / "jobs"),
            path_roots=(str(tmp_path.parent),),  # pytest's temporary folders
            invert_steps=5,
        )
    )  # picture -> mascot: a short search is enough here
    server = TestServer(service.app())
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "bot.db")
    yield s
    s.close()


@pytest.fixture
async def core(engine_url, store):
    engine = EngineClient(engine_url)
    commands = Commands(engine, store, await engine.models(), RateLimiter())
    yield commands
    await engine.close()


@pytest.fixture
async def sized_core(store):
    """``await sized_core(SizedEngine(...), image_size=...)``: a core on that fake engine."""
    from tests.bot.core.sized_engine import SizedEngine

    started = []

    async def start(fake: SizedEngine, **kwargs) -> Commands:
        server = TestServer(fake.app())
        await server.start_server()
        engine = EngineClient(str(server.make_url("")).rstrip("/"))
        started.append((server, engine))
        return Commands(engine, store, await engine.models(), RateLimiter(), **kwargs)

    yield start
    for server, engine in started:
        await engine.close()
        await server.close()
