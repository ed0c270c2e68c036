import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.core.engine import EngineClient, EngineError


async def _engine(handler):
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app)
    await server.start_server()
    return server


@pytest.mark.parametrize("status, body, headers, expected", [
    (400, {"error": {"code": "invalid_attributes", "message": "'blu' is not a value of 'hair'; allowed: red, blue. Did you mean 'blue'?"}},
     {}, "'blu' is not a value of 'hair'; allowed: red, blue. Did you mean 'blue'?"),
    (404, {"error": {"code": "unknown_model", "message": "unknown model 'x'; available: default"}}, {},
     "Unknown model 'x'; available: default."),
    (429, {"error": {"code": "busy", "message": "queue full"}}, {"Retry-After": "2"},
     "The image engine is busy; please try again in about 2 s."),
    (500, {"error": {"code": "internal", "message": "traceback..."}}, {},
     "The image engine ran into a problem; please try again later."),
    (502, "not json", {}, "The image engine ran into a problem; please try again later."),
])  # fmt: skip
async def test_errors_become_one_friendly_sentence(status, body, headers, expected):
    async def handler(request):
        if isinstance(body, str):
            return web.Response(status=status, text=body, headers=headers)
        return web.json_response(body, status=status, headers=headers)

    server = await _engine(handler)
    client = EngineClient(str(server.make_url("")))
    with pytest.raises(EngineError) as err:
        await client.generate({"hair": "blu"})
    assert str(err.value) == expected and err.value.status == status
    await client.close()
    await server.close()


async def test_timeout_and_unreachable():
    async def slow(request):
        await asyncio.sleep(5)
        return web.json_response({})

    server = await _engine(slow)
    client = EngineClient(str(server.make_url("")), timeout_s=0.2)
    with pytest.raises(EngineError, match="took too long"):
        await client.models()
    await client.close()
    await server.close()
    client = EngineClient("http://127.0.0.1:9")
    with pytest.raises(EngineError, match="not reachable"):
        await client.models()
    assert not await client.ready()
    await client.close()
