"""The bot's engine client sends ENGINE_ADMIN_TOKEN, so admin calls work against a locked engine."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestServer

from bot.core.engine_client import EngineClient, EngineError


@pytest.fixture
async def locked_engine(tiny_checkpoint, tmp_path):
    from engine.serve.app import EngineService, ServeConfig

    cfg = ServeConfig(
        models=(("default", str(tiny_checkpoint)),), jobs_dir=str(tmp_path / "jobs"), admin_token="s3cret"
    )
    server = TestServer(EngineService(cfg).app())
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


async def test_the_token_from_the_environment_opens_admin_calls(locked_engine, monkeypatch):
    monkeypatch.setenv("ENGINE_ADMIN_TOKEN", "s3cret")
    client = EngineClient(locked_engine)
    try:
        assert (await client.versions("default")).model == "default"
    finally:
        await client.close()


@pytest.mark.parametrize("token", ["", "wrong"])
async def test_without_the_right_token_admin_calls_are_refused(locked_engine, monkeypatch, token):
    monkeypatch.delenv("ENGINE_ADMIN_TOKEN", raising=False)
    client = EngineClient(locked_engine, admin_token=token)
    try:
        with pytest.raises(EngineError) as exc:
            await client.versions("default")
        assert exc.value.status in (401, 403)
        assert (await client.models()).default == "default"  # image and catalog calls stay open
    finally:
        await client.close()
