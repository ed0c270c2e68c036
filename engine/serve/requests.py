"""Reading a request's body and fields: every bad value becomes an ``ApiError`` (a 4xx).

The rule is that nothing a client sends reaches code that raises anything else: JSON
that Python refuses for its own limits (5,000-digit numbers, 100,000-deep nesting), nulls
where a value is expected, strings that cannot name a file (NUL bytes, lone surrogates),
and paths outside the folders the engine is allowed to read.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiohttp import web

from engine.errors import MascotError
from engine.sampling import check_truncation

MAX_BODY = 64 * 1024
OFF_LOOP_BYTES = 256 * 1024
FORMATS = ("png", "webp", "jpeg")  # jpeg: lossy and ~30x faster to encode at 512 px
MAX_TEXT = 500  # longest free text (a reason) kept from a request
# Pictures one request may ask for: /v1/generate's count, /v1/variations' count, /v1/invert's mascot
# with its variations. GET /v1/models advertises it as limits.count, so a client's help texts and
# option ranges say the same number.
MAX_COUNT = 4


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_response(status: int, code: str, message: str, headers: dict | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


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


def int_field(body: dict, key: str, default: int | None, lo: int, hi: int, where: str = "") -> int | None:
    """A whole number from ``lo`` to ``hi``; absent -> ``default``. ``null`` counts as absent only
    where absent means "none" (a seed: draw one); elsewhere it is an error, not a silent default."""
    if key not in body:
        return default
    value = body[key]
    if value is None and default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ApiError(
            400,
            f"invalid_{key}",
            f"{where}{key} must be a whole number from {lo} to {hi}, got {shown(value)}",
        )
    return value


def truncation(body: dict) -> float:
    value = body.get("truncation", 1.0)
    if isinstance(value, float) and not math.isfinite(value):
        value = str(value)  # NaN passes no range check: refuse it by name below
    try:
        return check_truncation(value)
    except MascotError:
        raise ApiError(
            400, "invalid_truncation", f"truncation must be a number from 0 to 1, got {shown(value)}"
        ) from None


def format_field(body: dict) -> str:
    value = body.get("format", "png")
    if not isinstance(value, str) or value.lower() not in FORMATS:
        raise ApiError(
            400, "invalid_format", f"format must be one of {', '.join(FORMATS)}, got {shown(value)}"
        )
    return value.lower()


def text_field(body: dict, key: str, default: str = "") -> str:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ApiError(400, f"invalid_{key}", f"{key} must be text, got {shown(value)}")
    return value[:MAX_TEXT]


def model_name(body: dict) -> str | None:
    name = body.get("model")
    if name is not None and not isinstance(name, str):
        raise ApiError(400, "unknown_model", f"model must be a model name (a string), got {shown(name)}")
    return name


def parse_attributes(schema, raw: Any) -> dict[str, str]:
    """The schema's own parse, with the values it cannot even read turned into its own error."""
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
        return schema.parse(raw)
    except SchemaError as exc:
        raise ApiError(400, "invalid_attributes", str(exc)) from None
    except (ValueError, TypeError, RecursionError):  # a value the schema cannot even print back
        raise ApiError(
            400,
            "invalid_attributes",
            'each attribute needs a single value (text, a whole number or true/false), like {"hair": "blue"}',
        ) from None


# --- paths ---------------------------------------------------------------------


def path_field(
    body: dict, key: str, roots: Iterable[str | Path], what: str, *, required: bool = True
) -> Path | None:
    """A path the client names, allowed only inside one of ``roots`` (after resolving links and ..)."""
    raw = body.get(key)
    if raw is None and not required:
        return None
    if not isinstance(raw, str) or not raw or len(raw) > 4096:
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
