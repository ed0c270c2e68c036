"""The OpenAPI 3.1 document of the engine's API, written from engine/serve/contract.py's declarations.

Served at ``GET /openapi.json``; a client or an integrator reads the bodies, answers and errors
here rather than in prose. Request and answer bodies are the contract's JSON Schemas (draft
2020-12, OpenAPI 3.1's own), gathered under ``components/schemas``.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from pydantic.json_schema import models_json_schema

from engine.serve.contract import ROUTES, Answer, Body, ErrorAnswer, Route

REF = "#/components/schemas/{model}"
ERROR = {"description": "what was wrong and what is allowed", "content": {}}


@cache
def document(version: str = "1") -> dict[str, Any]:
    """The whole document (the same object every call: treat it as read-only)."""
    kinds: set[type[Body] | type[Answer]] = {ErrorAnswer}
    for route in ROUTES:
        kinds.update(k for k in (route.body, route.answer) if k is not None)
    pairs = [(k, "validation" if issubclass(k, Body) else "serialization") for k in kinds]
    refs, schemas = models_json_schema(sorted(pairs, key=lambda p: p[0].__name__), ref_template=REF)
    ref = lambda kind, mode: refs[(kind, mode)]
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, ref)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mascot-engine",
            "version": version,
            "description": "Mascots drawn by GANs: JSON in, JSON with base64 images out (docs/api.md).",
        },
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {"admin": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation(route: Route, ref) -> dict[str, Any]:
    error = {"application/json": {"schema": ref(ErrorAnswer, "serialization")}}
    answers: dict[str, Any] = {}
    if route.answer is None:
        answers[str(route.status)] = {"description": route.summary, "content": {"text/plain": {"schema": {}}}}
    else:
        content = {"application/json": {"schema": ref(route.answer, "serialization")}}
        if route.body is not None and "progress" in route.body.model_fields:
            # "progress": true answers NDJSON: progress lines, then this answer or an error
            content["application/x-ndjson"] = {"schema": {"type": "string"}}
        answers[str(route.status)] = {"description": route.summary, "content": content}
    answers["4XX"] = {"description": "bad input, unknown name, busy (429 with Retry-After)", "content": error}
    if route.draws:
        answers["503"] = {"description": "still loading, or not drawn in time", "content": error}
    operation: dict[str, Any] = {
        "operationId": _operation_id(route),
        "summary": route.summary,
        "responses": answers,
    }
    names = re.findall(r"{(\w+)}", route.path)
    if names:
        operation["parameters"] = [
            {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names
        ]
    if route.body is not None:
        operation["requestBody"] = {
            # an empty body reads as {}: it is needed only where a field is
            "required": any(f.is_required() for f in route.body.model_fields.values()),
            "content": {"application/json": {"schema": ref(route.body, "validation")}},
        }
    if route.admin:
        operation["security"] = [{"admin": []}]
    return operation


def _operation_id(route: Route) -> str:
    words = re.sub(r"[{}]", "", route.path).strip("/").replace("/", "_").replace(".", "_")
    return f"{route.method.lower()}_{words}"
