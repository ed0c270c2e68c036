"""Reading a request's body into its declared type: every bad value becomes an ``ApiError`` (a 4xx).

The rule is that nothing a client sends reaches code that raises anything else: JSON
that Python refuses for its own limits (5,000-digit numbers, 100,000-deep nesting), nulls
where a value is expected, values outside a field's declared range (engine/serve/contract.py),
strings that cannot name a file (NUL bytes, lone surrogates), and paths outside the folders
the engine is allowed to read.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from engine.serve.contract import MAX_BODY, Allowed
from engine.serve.responses import json_response

OFF_LOOP_BYTES = 256 * 1024
B = TypeVar("B", bound=BaseModel)
MAX_TEXT = 500  # longest free text (a reason) kept from a request


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_response(status: int, code: str, message: str, headers: dict | None = None) -> web.Response:
    return json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


def shown(value: Any, limit: int = 80) -> str:
    """A short JSON rendering of what the client sent, for an error message (never raises)."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):  # ints past Python's digit limit, NaN-free encoders
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def loads(raw: bytes | str) -> Any:
    """``json.loads`` whose every refusal is a ``ValueError`` with a readable reason."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{exc.msg} at character {exc.pos}") from None
    except UnicodeDecodeError:
        raise ValueError("it is not UTF-8 text") from None
    except RecursionError:
        raise ValueError("it is nested too deeply") from None
    except ValueError as exc:  # Python's int-string limit: "Exceeds the limit (4300 digits)..."
        raise ValueError(f"a number in it is too long ({exc})") from None


async def read_json(request: web.Request, limit: int = MAX_BODY) -> dict[str, Any]:
    if request.content_length and request.content_length > limit:
        raise ApiError(413, "body_too_large", f"the request body is larger than {limit} bytes")
    raw = await request.read()
    if len(raw) > limit:
        raise ApiError(413, "body_too_large", f"the request body is larger than {limit} bytes")
    if not raw:
        return {}
    try:
        # A large body (a picture) is parsed on a thread, so the event loop keeps answering.
        body = await asyncio.to_thread(loads, raw) if len(raw) > OFF_LOOP_BYTES else loads(raw)
    except ValueError as exc:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "malformed_json", f"the body must be a JSON object, got {shown(body)}")
    return body


async def read_body(request: web.Request, kind: type[B], limit: int = MAX_BODY) -> B:
    """The body as its declared type, or a 4xx naming the first field that is wrong."""
    raw = await read_json(request, limit)
    try:
        return kind.model_validate(raw)
    except ValidationError as exc:
        raise refusal(kind, exc.errors()[0]) from None


def refusal(kind: type[BaseModel], error: Any) -> ApiError:
    """``count must be a whole number from 1 to 4, got 9``: the field's path, what it allows, what came.

    The path runs through nested bodies (``a.seed``) as far as the error's location names fields;
    the field reached last gives the words and the code (``invalid_<name>`` unless it names one)."""
    names: list[str] = []
    allowed: Allowed | None = None
    model: type[BaseModel] | None = kind
    for part in error["loc"]:
        field = _field(model, part) if model is not None else None
        if field is None:
            break
        names.append(str(part))
        allowed = next((m for m in field.metadata if isinstance(m, Allowed)), None)
        model = _nested(field)
    if not names:
        return ApiError(400, "bad_request", f"the body is not what this route takes: {error['msg']}")
    where, code = ".".join(names), (allowed.code if allowed and allowed.code else f"invalid_{names[-1]}")
    words = allowed.text if allowed else error["msg"].lower()
    if error["type"] == "missing":
        return ApiError(400, code, f"{where} is required: {words}")
    return ApiError(400, code, f"{where} must be {words}, got {shown(error['input'])}")


def _field(model: type[BaseModel], name: Any) -> FieldInfo | None:
    return next((f for key, f in model.model_fields.items() if name in (key, f.alias)), None)


def _nested(field: FieldInfo) -> type[BaseModel] | None:
    kind = field.annotation
    return kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None


def reason(text: str | None) -> str:
    """Free text kept from a request (a promotion's reason), cut to a sane length."""
    return (text or "")[:MAX_TEXT]


def parse_attributes(schema, raw: Any, offered_only: bool = True) -> dict[str, str]:
    """The schema's own parse, with the values it cannot even read turned into its own error.
    ``offered_only``: a value the model does not offer is refused (a new picture); a stored
    identity is redrawn whatever it holds."""
    from engine.schema import SchemaError

    if raw is not None and not isinstance(raw, (str, dict)):
        raise ApiError(
            400, "invalid_attributes", "attributes must be text like 'hair:blue smile:yes' or an object"
        )
    if isinstance(raw, str) and raw.strip().startswith("{"):
        try:
            raw = loads(raw.strip())  # parsed here so a number past Python's limits is a clear refusal
        except ValueError as exc:
            raise ApiError(400, "invalid_attributes", f"attributes are not valid JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise ApiError(
                400, "invalid_attributes", "attributes must be text like 'hair:blue smile:yes' or an object"
            )
    try:
        attrs = schema.parse(raw)
        if offered_only:
            schema.check_offered(attrs)
        return attrs
    except SchemaError as exc:
        raise ApiError(400, "invalid_attributes", str(exc)) from None
    except (ValueError, TypeError, RecursionError):  # a value the schema cannot even print back
        raise ApiError(
            400,
            "invalid_attributes",
            'each attribute needs a single value (text, a whole number or true/false), like {"hair": "blue"}',
        ) from None


# --- paths ---------------------------------------------------------------------


def allowed_path(raw: str, key: str, roots: Iterable[str | Path], what: str) -> Path:
    """A path the client names, allowed only inside one of ``roots`` (after resolving links and ..)."""
    if not raw or len(raw) > 4096:
        raise ApiError(
            400, f"invalid_{key}", f"{key} must be the path of {what} on the engine, got {shown(raw)}"
        )
    try:
        raw.encode("utf-8")  # lone surrogates cannot name a file
        if "\x00" in raw:
            raise ValueError
        resolved = Path(raw).expanduser().resolve()
    except (ValueError, RuntimeError, OSError):
        raise ApiError(400, f"invalid_{key}", f"{key} is not a usable path: {shown(raw)}") from None
    allowed = [Path(r).expanduser().resolve() for r in roots]
    if not any(resolved == root or resolved.is_relative_to(root) for root in allowed):
        raise ApiError(
            400,
            "path_not_allowed",
            f"{key} must be inside one of the engine's folders ({', '.join(map(str, allowed))}); "
            f"got {shown(raw)}",
        )
    return resolved
