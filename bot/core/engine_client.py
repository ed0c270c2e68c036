"""HTTP client for the engine's API: the only way the bot reaches the GAN.

Every failure becomes an EngineError whose message is one short sentence a chat user
can read. 4xx messages are passed through untouched: the engine already names the
allowed values and the closest match.
"""

from __future__ import annotations

import base64
import contextlib
import difflib
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

log = logging.getLogger("mascot.bot")
# (step, steps) of a picture's search, as the engine reports it; the time budget may end it before steps.
Progress = Callable[[int, int], Awaitable[None]]


class EngineError(Exception):
    """A request the engine refused or could not serve; ``str()`` is fit for a chat reply."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code = status, code


@dataclass(frozen=True)
class AttributeSpec:
    name: str
    kind: str  # choice | flag
    values: tuple[str, ...]  # every value, in the order of the model's conditioning vector
    # The values the model offers: those with a prior above zero (a style it cannot yet draw well
    # keeps its place in ``values`` but is refused). () means all of them.
    offered: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.offered:
            object.__setattr__(self, "offered", self.values)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AttributeSpec:
        values = tuple(data["values"])
        prior = data.get("prior") or [1.0] * len(values)
        offered = tuple(v for v, p in zip(values, prior) if float(p) > 0)
        return cls(data["name"], data.get("kind", "choice"), values, offered)

    def check(self, value: str) -> str | None:
        """None when ``value`` is offered, else a sentence listing the offered values."""
        if value in self.offered:
            return None
        allowed = ", ".join(self.offered)
        if value in self.values:
            return (
                f"{self.name} '{value}' is not offered by this model (it cannot draw it well yet); "
                f"offered: {allowed}"
            )
        match = difflib.get_close_matches(str(value).lower(), self.offered, n=1, cutoff=0.5)
        hint = f" Did you mean '{match[0]}'?" if match else ""
        return f"'{value}' is not a value of '{self.name}'; allowed: {allowed}.{hint}"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str
    family: str
    resolution: int
    attributes: tuple[AttributeSpec, ...]
    metrics: dict[str, Any]
    parent: str | None
    # The picture sides the engine serves for this model, smallest first: the generator's own
    # resolution, plus what its upscale stage makes. An engine older than the upscale stage omits
    # the list; it serves the resolution only.
    sizes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.sizes:
            object.__setattr__(self, "sizes", (self.resolution,))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelInfo:
        attrs = tuple(AttributeSpec.from_json(a) for a in data["schema"]["attributes"])
        resolution = int(data.get("resolution", 0))
        sizes = tuple(sorted({int(s) for s in data.get("sizes") or ()})) or (resolution,)
        return cls(
            data["name"],
            data["version"],
            data.get("family", "?"),
            resolution,
            attrs,
            dict(data.get("metrics") or {}),
            data.get("parent"),
            sizes,
        )

    def attribute(self, name: str) -> AttributeSpec | None:
        return next((a for a in self.attributes if a.name == name), None)


@dataclass(frozen=True)
class Catalog:
    """GET /v1/models: what the engine serves, fetched once at start-up."""

    default: str
    models: tuple[ModelInfo, ...]
    upscaler: dict[str, Any] | None = None  # {"version": ..., "scale": 4}; None: native sizes only
    # Pictures one request may ask for (the engine's limits.count): /mascot's count, and help texts and
    # option ranges say it. An engine that does not advertise it gets what the chats always offered.
    max_count: int = 4

    def get(self, name: str | None) -> ModelInfo | None:
        name = name or self.default
        return next((m for m in self.models if m.name == name), None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.models)


@dataclass(frozen=True)
class Image:
    seed: int
    attributes: dict[str, str]
    truncation: float
    format: str
    engine_id: str
    data: bytes
    size: int | None = None  # the picture's side in pixels; None from an engine older than the upscale stage
    latent: dict[str, Any] | None = None  # the engine's latent recipe (a variation's or a fusion's identity)
    extra: dict[str, Any] = field(
        default_factory=dict
    )  # per-image details: a fusion's "from" {attribute: a|b}


@dataclass(frozen=True)
class Generated:
    model: str
    version: str
    images: tuple[Image, ...]


@dataclass(frozen=True)
class Job:
    """A fine-tune job as GET /v1/jobs/{id} reports it; ``result`` is filled once it succeeded."""

    id: str
    state: str  # queued | running | succeeded | failed
    error: str = ""
    result: dict[str, Any] = field(default_factory=dict)  # checkpoint, curation, evaluation
    progress: float = 0.0  # 0..1 of the kimg budget

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Job:
        return cls(
            str(data["id"]),
            str(data.get("state", "queued")),
            str(data.get("error") or ""),
            dict(data.get("result") or {}),
            float(data.get("progress") or 0.0),
        )

    @property
    def finished(self) -> bool:
        return self.state in ("succeeded", "failed")


@dataclass(frozen=True)
class VersionChange:
    """A promotion or rollback: the engine's answer to one, or a line of a model's history."""

    action: str  # promote | rollback
    version: str  # serving after the change
    previous: str | None  # serving before it
    reason: str = ""
    time: float | None = None  # only history lines carry it

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VersionChange:
        return cls(
            str(data.get("action", "?")),
            str(data["version"]),
            data.get("previous"),
            str(data.get("reason") or ""),
            data.get("time"),
        )


@dataclass(frozen=True)
class Versions:
    """GET /v1/models/{name}/versions: what serves, what a rollback returns to, and the history."""

    model: str
    current: str | None
    previous: str | None
    history: tuple[VersionChange, ...]


class EngineClient:
    def __init__(
        self,
        base_url: str,
        timeout_s: float = 60.0,
        session: aiohttp.ClientSession | None = None,
        admin_token: str | None = None,
        image_format: str = "png",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.image_format = image_format  # what the engine encodes pictures as: png or jpeg
        # The engine's admin endpoints (reload, jobs, promote, rollback, versions) need the
        # token it was started with; both read ENGINE_ADMIN_TOKEN from their environment.
        token = os.environ.get("ENGINE_ADMIN_TOKEN", "") if admin_token is None else admin_token
        self._headers = {"Authorization": f"Bearer {token.strip()}"} if token.strip() else {}
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session = session
        self._owns_session = session is None

    async def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # A big pool: 200 concurrent commands must not queue behind aiohttp's default of 100.
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512))
            self._owns_session = True
        return self._session

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One JSON call to the engine's API (``path`` from GET /openapi.json): the answer's object,
        or the EngineError its refusal means."""
        session = await self._http()
        with _unreachable_as_engine_error():
            async with session.request(
                method, self.base_url + path, json=body, timeout=self.timeout, headers=self._headers
            ) as resp:
                return await _json_answer(resp)

    async def _progressive(self, path: str, body: dict[str, Any], progress: Progress) -> dict[str, Any]:
        """POST with "progress": true: the engine answers NDJSON, progress lines and then the answer (or
        the error that ended the work) as the last line. A plain JSON answer is taken as it is."""
        session = await self._http()
        with _unreachable_as_engine_error():
            async with session.post(
                self.base_url + path,
                json={**body, "progress": True},
                timeout=self.timeout,
                headers=self._headers,
            ) as resp:
                if resp.status >= 400 or resp.content_type != "application/x-ndjson":
                    return await _json_answer(resp)
                last: Any = None
                buffer = b""
                async for chunk in resp.content.iter_any():
                    *lines, buffer = (buffer + chunk).split(b"\n")
                    for line in lines:
                        last = await _progress_line(line, progress) or last
                last = await _progress_line(buffer, progress) or last
        if isinstance(last, dict) and "images" in last:
            return last
        raise _error(400 if isinstance(last, dict) and "error" in last else 500, last, None)

    async def models(self) -> Catalog:
        data = await self.call("GET", "/v1/models")
        limits = data.get("limits") or {}
        return Catalog(
            data["default"],
            tuple(ModelInfo.from_json(m) for m in data["models"]),
            data.get("upscaler") or None,
            **({"max_count": int(limits["count"])} if isinstance(limits.get("count"), int) else {}),
        )

    async def ready(self) -> bool:
        try:
            await self.call("GET", "/readyz")
            return True
        except EngineError:
            return False

    async def queue_depth(self) -> int | None:
        """Images waiting at the engine (what a chat shows while one waits); None when it is not ready."""
        try:
            data = await self.call("GET", "/readyz")
        except EngineError:
            return None
        depth = data.get("queue_depth")
        return depth if isinstance(depth, int) and not isinstance(depth, bool) else None

    async def generate(
        self,
        attributes: dict[str, str],
        *,
        seed: int | None = None,
        count: int = 1,
        model: str | None = None,
        truncation: float | None = None,
        size: int | None = None,
    ) -> Generated:
        """``size``: one of the model's ``sizes``; None sends nothing, so the engine serves its resolution."""
        body: dict[str, Any] = {"attributes": attributes, "count": count, "format": self.image_format}
        for key, value in (("seed", seed), ("model", model), ("truncation", truncation), ("size", size)):
            if value is not None:
                body[key] = value
        return _generated(await self.call("POST", "/v1/generate", body))

    # --- the creative loop: variations, fusion, and drawing a stored identity again ---
    async def variations(
        self,
        parent: dict[str, Any],
        *,
        count: int = 4,
        strength: float = 0.3,
        model: str | None = None,
        size: int | None = None,
    ) -> Generated:
        """``parent``: {"seed", "attributes", "latent"?} as a generation was stored."""
        body = {**_parent(parent), "count": count, "strength": strength, "format": self.image_format}
        return _generated(await self.call("POST", "/v1/variations", _with(body, model=model, size=size)))

    async def fuse(
        self,
        a: dict[str, Any],
        b: dict[str, Any],
        *,
        chosen: dict[str, str] | None = None,
        model: str | None = None,
        size: int | None = None,
    ) -> Generated:
        # A parent is its seed, attributes and latent; the child is drawn at the request's truncation.
        a, b = ({k: v for k, v in _parent(p).items() if k != "truncation"} for p in (a, b))
        body = {"a": a, "b": b, "format": self.image_format, "from": chosen or {}}
        return _generated(await self.call("POST", "/v1/fuse", _with(body, model=model, size=size)))

    async def render(
        self, parent: dict[str, Any], *, model: str | None = None, size: int | None = None
    ) -> Generated:
        """The picture of a stored identity (seed, attributes, latent, truncation), e.g. at a larger size."""
        body = {**_parent(parent), "format": self.image_format}
        return _generated(await self.call("POST", "/v1/render", _with(body, model=model, size=size)))

    async def invert(
        self,
        picture: bytes,
        *,
        attributes: dict[str, str] | None = None,
        variations: int = 3,
        model: str | None = None,
        size: int | None = None,
        style: str | None = None,
        progress: Progress | None = None,
    ) -> Generated:
        """Picture -> mascot: the nearest mascot, then ``variations`` around it (each with its latent).
        ``progress`` is awaited with the search's steps as the engine makes them."""
        body = _with(
            {
                "image": base64.b64encode(picture).decode(),
                "attributes": attributes or {},
                "variations": variations,
                "format": self.image_format,
            },
            model=model,
            size=size,
            style=style,
        )
        if progress is None:
            return _generated(await self.call("POST", "/v1/invert", body))
        return _generated(await self._progressive("/v1/invert", body, progress))

    async def interpolate(
        self,
        a: dict[str, Any],
        b: dict[str, Any],
        *,
        frames: int = 16,
        model: str | None = None,
        size: int | None = None,
    ) -> bytes:
        body: dict[str, Any] = {"a": a, "b": b, "frames": frames}
        for key, value in (("model", model), ("size", size)):
            if value is not None:
                body[key] = value
        data = await self.call("POST", "/v1/interpolate", body)
        return base64.b64decode(data["gif"])

    async def reload(self, model: str, path: str | None = None) -> dict[str, Any]:
        return await self.call("POST", f"/v1/models/{model}/reload", {"path": path} if path else {})

    # --- the nightly loop's calls: a fine-tune job, then promotion or rollback ---
    async def start_finetune(self, body: dict[str, Any]) -> Job:
        """POST /v1/jobs; ``body`` is the job request (model, data, curated, negatives, ...)."""
        return Job.from_json(await self.call("POST", "/v1/jobs", {**body, "kind": "finetune"}))

    async def job(self, job_id: str) -> Job:
        return Job.from_json(await self.call("GET", f"/v1/jobs/{job_id}"))

    async def promote(self, model: str, checkpoint: str, reason: str) -> VersionChange:
        """Serve the checkpoint folder ``checkpoint`` (a path on the engine) as ``model``'s new version."""
        body = {"checkpoint": checkpoint, "reason": reason}
        return VersionChange.from_json(await self.call("POST", f"/v1/models/{model}/promote", body))

    async def rollback(self, model: str, reason: str) -> VersionChange:
        """Serve the version that served before the current one again."""
        data = await self.call("POST", f"/v1/models/{model}/rollback", {"reason": reason})
        return VersionChange.from_json(data)

    async def versions(self, model: str) -> Versions:
        data = await self.call("GET", f"/v1/models/{model}/versions")
        history = tuple(VersionChange.from_json(c) for c in data.get("history") or ())
        return Versions(str(data.get("name", model)), data.get("current"), data.get("previous"), history)


def _generated(data: dict[str, Any]) -> Generated:
    known = {"seed", "attributes", "truncation", "format", "generation_id", "image", "size", "latent"}
    images = tuple(
        Image(
            i["seed"],
            i["attributes"],
            i["truncation"],
            i["format"],
            i["generation_id"],
            base64.b64decode(i["image"]),
            _int_or_none(i.get("size")),
            i.get("latent"),
            {k: v for k, v in i.items() if k not in known},
        )
        for i in data["images"]
    )
    return Generated(data["model"], data["version"], images)


def _parent(g: dict[str, Any]) -> dict[str, Any]:
    out = {"seed": g["seed"], "attributes": g["attributes"], "latent": g.get("latent") or {"seed": g["seed"]}}
    if g.get("truncation") is not None:
        out["truncation"] = g["truncation"]
    return out


async def _progress_line(raw: bytes, progress: Progress) -> dict[str, Any] | None:
    """A progress line is handed to ``progress`` (None back); any other object is returned."""
    if not raw.strip():
        return None
    try:
        line = json.loads(raw)
    except ValueError:
        return None
    step = line.get("progress") if isinstance(line, dict) else None
    if not isinstance(step, dict):
        return line if isinstance(line, dict) else None
    try:
        await progress(int(step["step"]), int(step["steps"]))
    except Exception:  # showing progress must never lose the picture
        log.warning("could not show progress %s", step, exc_info=True)
    return None


def _with(body: dict[str, Any], **optional: Any) -> dict[str, Any]:
    return {**body, **{k: v for k, v in optional.items() if v is not None}}


def _int_or_none(value: Any) -> int | None:
    return None if value is None or isinstance(value, bool) else int(value)


def _error(status: int, data: Any, retry_after: str | None) -> EngineError:
    err = data.get("error", {}) if isinstance(data, dict) else {}
    code, message = err.get("code"), err.get("message")
    if status == 429:
        wait = f" in about {retry_after} s" if retry_after else " in a moment"
        return EngineError(f"The image engine is busy; please try again{wait}.", status, code)
    if 400 <= status < 500 and message:
        return EngineError(_sentence(message), status, code)
    if status == 503:
        return EngineError(
            "The image engine is still starting or overloaded; please try again shortly.", status, code
        )
    return EngineError("The image engine ran into a problem; please try again later.", status, code)


def _sentence(message: str) -> str:
    message = message.strip()
    message = message[:1].upper() + message[1:]
    return message if message.endswith((".", "?", "!")) else message + "."


@contextlib.contextmanager
def _unreachable_as_engine_error():
    """A timeout or a lost connection becomes one sentence for the chat."""
    try:
        yield
    except TimeoutError:
        raise EngineError("The image engine took too long to answer; please try again in a moment.") from None
    except aiohttp.ClientConnectionError:
        raise EngineError("The image engine is not reachable right now; please try again later.") from None


async def _json_answer(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    """A JSON object answer, or the EngineError its status and body mean."""
    try:
        data = await resp.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        data = None
    if resp.status < 400 and isinstance(data, dict):
        return data
    raise _error(resp.status, data, resp.headers.get("Retry-After"))
