"""GET /openapi.json: a valid OpenAPI 3.1 document, written from engine/serve/contract.py, naming
every route the app serves; and every refusal of a body says what was wrong and what is allowed."""

from __future__ import annotations

import typing

import pytest
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import validate
from pydantic import BaseModel

from engine.serve import contract
from engine.serve.app import EngineService, ServeConfig
from engine.serve.openapi import document
from engine.serve.requests import ApiError, refusal


def test_the_document_is_valid_openapi_3_1():
    doc = document()
    assert doc["openapi"].startswith("3.1")
    validate(doc)


async def test_the_app_serves_the_document_and_every_route_it_names(tiny_checkpoint, tmp_path):
    cfg = ServeConfig(models=(("default", str(tiny_checkpoint)),), jobs_dir=str(tmp_path / "jobs"))
    app = EngineService(cfg).app()
    served = {
        (r.method.lower(), r.resource.canonical)
        for r in app.router.routes()
        if r.resource is not None and r.method in ("GET", "POST")
    }
    documented = {(m, path) for path, ops in document()["paths"].items() for m in ops}
    assert served == documented, "every route is declared in engine/serve/contract.py's ROUTES"
    async with TestClient(TestServer(app)) as c:
        r = await c.get("/openapi.json")
        assert r.status == 200 and await r.json() == document()


def _fields(kind: type[BaseModel]):
    for name, field in kind.model_fields.items():
        yield f"{kind.__name__}.{name}", field


BODY_FIELDS = [f for kind in {r.body for r in contract.ROUTES if r.body} for f in _fields(kind)]


@pytest.mark.parametrize("where,field", BODY_FIELDS, ids=[w for w, _ in BODY_FIELDS])
def test_every_body_field_that_can_be_wrong_says_what_it_allows(where, field):
    """A refusal names what is allowed, so each field a client can get wrong carries ``Allowed``."""
    if field.annotation is typing.Any:
        return  # anything goes here; the route that reads it names what it needs
    assert any(isinstance(m, contract.Allowed) for m in field.metadata), where


def _refused(kind: type[BaseModel], body: dict) -> ApiError:
    with pytest.raises(Exception) as caught:
        kind.model_validate(body)
    return refusal(kind, caught.value.errors()[0])


@pytest.mark.parametrize(
    "kind,body,code,message",
    [
        (
            contract.GenerateRequest,
            {"count": 9},
            "invalid_count",
            "count must be a whole number from 1 to 4, got 9",
        ),
        (
            contract.GenerateRequest,
            {"count": None},
            "invalid_count",
            "count must be a whole number from 1 to 4, got null",
        ),
        (
            contract.GenerateRequest,
            {"seed": True},
            "invalid_seed",
            "seed must be a whole number from 0 to 2147483647, got true",
        ),
        (
            contract.GenerateRequest,
            {"format": "gif"},
            "invalid_format",
            'format must be one of png, webp, jpeg, got "gif"',
        ),
        (
            contract.GenerateRequest,
            {"model": 5},
            "unknown_model",
            "model must be a model name (a string), got 5",
        ),
        (
            contract.InterpolateRequest,
            {"a": {"seed": 1}},
            "invalid_endpoint",
            "b is required: an object like",
        ),
        (
            contract.InterpolateRequest,
            {"a": {}, "b": {"seed": 1}},
            "invalid_seed",
            "a.seed is required: a whole number",
        ),
        (contract.FuseRequest, {"a": 5, "b": {}}, "invalid_parent", "a must be an object like"),
        (contract.FuseRequest, {"a": {}, "b": {}, "from": 3}, "invalid_from", "from must be an object like"),
        (contract.RenderRequest, {}, "invalid_latent", "latent is required: a latent recipe"),
        (
            contract.InvertRequest,
            {"image": "x", "progress": "yes"},
            "invalid_progress",
            "progress must be true or false",
        ),
        (
            contract.JobRequest,
            {"data": "d", "lr_g": 0},
            "invalid_lr_g",
            "lr_g must be a number above 0, at most 1, got 0",
        ),
    ],
)
def test_a_refusal_names_the_field_what_it_allows_and_what_came(kind, body, code, message):
    error = _refused(kind, body)
    assert (error.status, error.code) == (400, code) and error.message.startswith(message), error.message
