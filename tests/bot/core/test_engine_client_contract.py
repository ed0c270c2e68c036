"""The bot's engine client speaks the engine's documented API: every request it builds validates
against GET /openapi.json's request schema (naming no field the document does not), and every
answer it reads is one the document describes.

The document comes from the engine in this process (tests may import both; the bot never does):
a real engine on the tiny checkpoint, with a middleware that holds each request and answer
against the document, while the client makes each call it has.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from jsonschema import Draft202012Validator

from bot.core.engine_client import EngineClient, EngineError


def _closed(schema: Any) -> Any:
    """The schema with every object that lists its properties closed to others: a field the client
    sends that the document does not name is a drift between the two, even where the engine ignores it."""
    if isinstance(schema, list):
        return [_closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _closed(v) for k, v in schema.items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


class Conformance:
    """Middleware holding each request and answer against the document; what breaks it is kept."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document, self.broken, self.seen = document, [], set()
        self.components = _closed(document["components"])

    def _check(self, schema: dict[str, Any], value: Any, what: str) -> None:
        root = {**_closed(schema), "components": self.components}
        for error in Draft202012Validator(root).iter_errors(value):
            self.broken.append(f"{what}: {error.json_path}: {error.message[:200]}")

    def middleware(self):
        @web.middleware
        async def conform(request: web.Request, handler):
            return await self.conform(request, handler)

        return conform

    async def conform(self, request: web.Request, handler):
        resource = request.match_info.route.resource
        path = resource.canonical if resource is not None else request.path
        operation = self.document["paths"].get(path, {}).get(request.method.lower())
        if operation is None:
            self.broken.append(f"{request.method} {path}: not in the document")
            return await handler(request)
        self.seen.add(f"{request.method} {path}")
        raw = await request.read()  # aiohttp keeps it for the handler
        if "requestBody" in operation:
            body = json.loads(raw) if raw else {}
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            self._check(schema, body, f"request {request.method} {path}")
        response = await handler(request)
        if isinstance(response, web.Response) and response.content_type == "application/json":
            answers = operation["responses"]
            documented = answers.get(str(response.status)) or answers.get(f"{str(response.status)[0]}XX")
            if documented is None:
                self.broken.append(f"answer {response.status} to {request.method} {path}: not documented")
            else:
                schema = documented["content"]["application/json"]["schema"]
                self._check(schema, json.loads(response.body), f"answer {response.status} to {path}")
        return response


@pytest.fixture
async def engine(tiny_checkpoint, tmp_path):
    from engine.serve.app import EngineService, ServeConfig
    from engine.serve.openapi import document

    cfg = ServeConfig(
        models=(("default", str(tiny_checkpoint)),),
        jobs_dir=str(tmp_path / "jobs"),
        path_roots=(str(tmp_path),),
        invert_steps=3,
    )
    app = EngineService(cfg).app()
    conformance = Conformance(document())
    app.middlewares.insert(0, conformance.middleware())
    server = TestServer(app)
    await server.start_server()
    client = EngineClient(str(server.make_url("")).rstrip("/"))
    yield client, conformance, tmp_path
    await client.close()
    await server.close()


async def test_every_call_of_the_client_is_a_documented_request_and_answer(engine):
    client, conformance, tmp_path = engine
    catalog = await client.models()
    assert await client.ready() and await client.queue_depth() == 0
    size = catalog.get(None).sizes[0]
    made = await client.generate({"hair": "blue"}, seed=3, count=2, truncation=0.8, size=size)
    first = made.images[0]
    parent = {"seed": first.seed, "attributes": first.attributes, "truncation": first.truncation}
    kids = await client.variations(parent, count=2, strength=0.3, size=size)
    other = {"seed": 9, "attributes": made.images[1].attributes}
    kid = {**parent, "latent": kids.images[0].latent}
    await client.fuse(kid, other, chosen={"hair": "a"}, size=size)
    await client.render(kid, size=size)
    await client.interpolate({"seed": 1}, {"seed": 2, "attributes": {"hair": "blue"}}, frames=2)
    found = await client.invert(first.data, variations=1)
    steps = []

    async def on_step(step: int, total: int) -> None:
        steps.append(step)

    await client.invert(made.images[1].data, variations=0, progress=on_step)
    assert found.images and steps
    await client.reload("default")
    await client.versions("default")
    for refused in (
        client.start_finetune({"model": "default", "data": str(tmp_path / "no-data"), "kimg": 1}),
        client.job("nope"),
        client.promote("default", str(tmp_path / "no-checkpoint"), "a test"),
        client.rollback("default", "a test"),
    ):
        with pytest.raises(EngineError) as caught:
            await refused
        assert 400 <= caught.value.status < 500
    assert not conformance.broken, "\n".join(conformance.broken)
    calls = {op.split()[1] for op in conformance.seen}
    assert {"/v1/generate", "/v1/variations", "/v1/fuse", "/v1/render", "/v1/invert", "/v1/jobs"} <= calls


async def test_the_nightly_fine_tune_request_is_a_documented_job(engine, store):
    from bot.schedule.config import ScheduleConfig
    from bot.schedule.curation import Curation, Pick
    from bot.schedule.nightly import NightlyRun

    client, conformance, tmp_path = engine

    def pick(n: int, version: str) -> Pick:
        return Pick(f"g{n}", version, n, {"hair": "blue"}, 1.0, 3, 0, 3, 0.44, "liked")

    curation = Curation((pick(1, "v-now"), pick(2, "v-old")), (pick(3, "v-now"),), {})
    run = NightlyRun(client, store, ScheduleConfig(data=str(tmp_path / "no-data")))
    with pytest.raises(EngineError) as refused:  # the data set is missing: refused, but read whole
        await client.start_finetune(run._job_request(curation, "v-now"))
    assert 400 <= refused.value.status < 500
    assert not conformance.broken, "\n".join(conformance.broken)
    assert "POST /v1/jobs" in conformance.seen
