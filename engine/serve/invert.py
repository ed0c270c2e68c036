"""Picture -> mascot over HTTP.

    POST /v1/invert {image: base64 PNG/JPEG/WebP (a data: URL prefix is fine), model?,
                     attributes? (kept as given), variations? 0-3 (3), strength? 0-1 (0.4),
                     truncation?, size?, format?, style?, progress? (false)}
      -> {model, version, read: {what the tagger read}, distance, steps, seconds, style?,
          images: [the mascot, then its variations]}

With ``"progress": true`` the answer is NDJSON (application/x-ndjson), written as the search
goes: ``{"progress": {"step": n, "steps": N}}`` lines (step 0 when the search starts; the time
budget may end it before N), then the answer above as the last line, or ``{"error": {code,
message}}`` when the search failed after the lines began. A bad request or a busy engine is
still answered as a plain 4xx before any line.

``style`` names a translator from [engine] translators (a CycleGAN, engine/translate/): the
picture is carried into the mascots' domain first (an emoji made mascot-like), so the
search starts from something the generator can draw.

Each image carries its ``latent`` recipe ({"z": [...]} for the mascot, a variation of it
for the others), so /v1/render, /v1/variations and /v1/fuse take it like any mascot's. The
search (engine/invert.py) takes seconds of CPU: one runs at a time, and a request arriving
meanwhile is answered 429 at once with Retry-After. A picture already searched (same bytes,
model version and attributes) answers from memory, so asking twice gives the same mascot.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from cachetools import LRUCache

from engine import creative
from engine.checkpoint import Checkpoint
from engine.errors import MascotError
from engine.invert import Inversion, InvertConfig, Inverter, check_picture, read_picture
from engine.serve import contract as api
from engine.serve.creative import CreativeRoutes
from engine.serve.requests import ApiError, shown
from engine.serve.responses import json_response
from engine.serve.service import Service
from engine.serve.workers import Expired

log = logging.getLogger("engine.invert")
PROGRESS_EVERY_S = 0.25  # at most this often a progress line (the search makes ~10 steps a second)


class InvertRoutes:
    def __init__(
        self,
        service: Service,
        tagger: str,
        cfg: InvertConfig,
        translators: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.service, self.tagger_path, self.cfg = service, tagger, cfg
        self.styles = dict(translators)
        self.translators: dict[str, Any] = {}
        self.creative = CreativeRoutes(service)
        self.inverters: dict[str, Inverter] = {}
        self.found: LRUCache = LRUCache(maxsize=256)
        self.busy = asyncio.Lock()
        self._tagger: Any = None

    def handlers(self) -> dict[api.Route, Any]:
        return {api.INVERT: self.invert}

    async def invert(self, request: web.Request, body: api.InvertRequest) -> web.StreamResponse:
        ck = self.service.model(body.model)
        trunc, fmt, size = body.truncation, body.format, self.service.size(ck, body.size)
        # The mascot and its variations together are at most MAX_COUNT pictures.
        count, strength = body.variations, body.strength
        data = _picture_bytes(body.image)
        check_picture(data)  # a bad file is a plain 400 now; its pixels are decoded once admitted
        given = self.service.attributes(ck, body.attributes)
        style = self._style(body.style)

        async def answer(on_step: Callable[[int, int], None] | None = None) -> dict[str, Any]:
            found, read = await self._search(ck, data, given, style, on_step)
            mascot = creative.given_latent([float(v) for v in found.latent])
            kids = [creative.vary(mascot, i + 1, strength) for i in range(count)]
            items = [(r, found.attributes) for r in [mascot, *kids]]
            blobs = await self.creative.draw(ck, items, trunc, fmt, size)
            images = [self.creative.image(ck, r, a, trunc, fmt, size, b) for (r, a), b in zip(items, blobs)]
            return {
                "model": body.model or self.service.registry.default,
                "version": ck.version,
                "read": read,
                "distance": round(found.distance, 4),
                "steps": found.steps,
                "seconds": round(found.seconds, 2),
                **({"style": style} if style else {}),
                "images": images,
            }

        if not body.progress:
            return json_response(await answer())
        if self._key(ck, data, given, style) not in self.found:
            self._refuse_if_busy()  # a plain 429, before the stream starts
        return await _streamed(request, answer)

    def _key(self, ck: Checkpoint, data: bytes, given: dict[str, str], style: str) -> tuple:
        return (ck.version, hashlib.sha256(data).hexdigest(), tuple(sorted(given.items())), style)

    def _refuse_if_busy(self) -> None:
        if self.busy.locked():
            raise ApiError(
                429,
                "busy",
                f"another picture is being turned into a mascot; try again in about "
                f"{self.cfg.budget_s:.0f} s",
                {"Retry-After": str(int(self.cfg.budget_s))},
            )

    def _style(self, raw: Any) -> str:
        if raw is None or raw == "":
            return ""
        known = ", ".join(sorted(self.styles)) or "none: no translators are configured ([engine] translators)"
        if not isinstance(raw, str) or raw not in self.styles:
            raise ApiError(
                400, "invalid_style", f"style must be one of the known styles ({known}), got {shown(raw)}"
            )
        return raw

    def _translator(self, style: str):
        """The style's translator, loaded once; a configured one that cannot load is the server's fault."""
        if style not in self.translators:
            from engine.translate.stage import Translator

            try:
                self.translators[style] = Translator(self.styles[style])
            except MascotError as exc:
                raise ApiError(
                    503, "style_unavailable", f"the {style!r} style cannot be used now: {exc}"
                ) from None
        return self.translators[style]

    async def _search(
        self,
        ck: Checkpoint,
        data: bytes,
        given: dict[str, str],
        style: str = "",
        on_step: Callable[[int, int], None] | None = None,
    ) -> tuple[Inversion, dict]:
        key = self._key(ck, data, given, style)
        if key in self.found:
            return self.found[key], self.found[key].read
        self._refuse_if_busy()
        async with self.busy:
            # On the workers, after the refusal above: decoding a large picture, translating it and
            # the search share the drawing budget; the search never holds the last worker.
            pool, deadline = self.service.pool, self.service.deadline()
            try:
                picture = await pool.run(lambda: read_picture(data), heavy=True, deadline=deadline)
                if style:
                    picture = await pool.run(
                        lambda: self._translator(style).apply(picture), heavy=True, deadline=deadline
                    )
                inverter = await asyncio.to_thread(self._inverter, ck)
                found = await pool.run(
                    lambda: inverter(picture, given, on_step), long=True, deadline=deadline
                )
            except Expired:
                raise self.service.timed_out() from None
        self.found[key] = found
        log.info(
            "inverted a picture for %s in %.1f s (%d steps, distance %.3f)",
            ck.version,
            found.seconds,
            found.steps,
            found.distance,
        )
        return found, found.read

    def _inverter(self, ck: Checkpoint) -> Inverter:
        if ck.version not in self.inverters:
            self.inverters[ck.version] = Inverter(
                ck.G, ck.schema, ck.resolution, self._load_tagger(), self.cfg
            )
        return self.inverters[ck.version]

    def _load_tagger(self):
        """The shipped tagger, once; None without one (attributes then come from the search alone)."""
        if self._tagger is None and self.tagger_path and (Path(self.tagger_path) / "tagger.json").is_file():
            from engine.evalnet import load_tagger

            self._tagger = load_tagger(self.tagger_path)
        return self._tagger


def _picture_bytes(raw: Any) -> bytes:
    if not isinstance(raw, str) or not raw:
        raise ApiError(400, "invalid_image", "image is required: a PNG, JPEG or WebP file as base64 text")
    if raw.startswith("data:"):
        _, comma, text = raw.partition(",")
        if not comma:
            raise ApiError(
                400,
                "invalid_image",
                "image is a data URL without its comma: it must be 'data:image/png;base64,' "
                "followed by the file as base64 text",
            )
    else:
        text = raw
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(
            400, "invalid_image", "image must be base64 text (of a PNG, JPEG or WebP file)"
        ) from None


async def _streamed(request: web.Request, answer) -> web.StreamResponse:
    """NDJSON: progress lines while ``answer(on_step)`` runs (its search reports steps from a worker
    thread), then its result, or the error that ended it, as the last line."""
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    steps: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
    work = asyncio.ensure_future(
        answer(lambda n, total: loop.call_soon_threadsafe(steps.put_nowait, (n, total)))
    )
    try:
        await _progress_lines(response, work, steps)
    except ConnectionResetError:  # the client left; the search goes on and is remembered for a retry
        work.add_done_callback(lambda done: done.cancelled() or done.exception())
        return response
    try:
        final = await work
    except ApiError as exc:
        final = {"error": {"code": exc.code, "message": exc.message}}
    except MascotError as exc:
        final = {"error": {"code": "bad_request", "message": str(exc)}}
    except Exception:
        log.exception("unhandled error while streaming /v1/invert")
        final = {
            "error": {"code": "internal", "message": "the engine hit an internal error; it has been logged"}
        }
    await response.write(_line(final))
    await response.write_eof()
    return response


async def _progress_lines(
    response: web.StreamResponse, work: asyncio.Future, steps: asyncio.Queue[tuple[int, int]]
) -> None:
    last = 0.0
    while not work.done():
        step = asyncio.ensure_future(steps.get())
        await asyncio.wait({work, step}, return_when=asyncio.FIRST_COMPLETED)
        if not step.done():
            step.cancel()
            return
        n, total = step.result()
        if n in (0, total) or time.monotonic() - last >= PROGRESS_EVERY_S:
            last = time.monotonic()
            await response.write(_line({"progress": {"step": n, "steps": total}}))


def _line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj).encode() + b"\n"
