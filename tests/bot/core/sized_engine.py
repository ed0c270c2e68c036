"""A fake engine with the upscale stage's API: models advertise ``sizes``, requests may pick one.

It checks ``size`` the way the real engine does (one of the model's sizes, else 400
invalid_size) and answers with a real PNG of the side it was asked for, so a test can read
the posted picture's size back from its bytes. ``sizes=None`` plays an engine older than the
upscale stage: no ``sizes`` in GET /v1/models, no ``size`` in the images, and a ``size`` in a
request is ignored like any other field it does not know.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

SCHEMA = {
    "attributes": [
        {"name": "hair", "kind": "choice", "values": ["red", "green", "blue"]},
        {"name": "smile", "kind": "flag", "values": ["no", "yes"]},
    ]
}


def png(side: int) -> bytes:
    """A black ``side`` x ``side`` grayscale PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(side) for _ in range(side))
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def png_side(data: bytes) -> int:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    assert width == height
    return width


@dataclass
class SizedEngine:
    sizes: list[int] | None = field(default_factory=lambda: [128, 256, 512])
    resolution: int = 128
    requests: list[tuple[str, dict[str, Any] | None]] = field(default_factory=list)  # (path, body)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/models", self.models)
        app.router.add_post("/v1/generate", self.generate)
        app.router.add_post("/v1/interpolate", self.interpolate)
        app.router.add_post("/v1/render", self.render)
        return app

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [body for p, body in self.requests if p == path]

    async def models(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, None))
        model = {
            "name": "default",
            "version": "v1",
            "family": "dcgan",
            "resolution": self.resolution,
            "schema": SCHEMA,
            "metrics": {},
            "parent": None,
        }
        reply: dict[str, Any] = {"default": "default", "models": [model]}
        if self.sizes is not None:
            model["sizes"] = list(self.sizes)
            reply["upscaler"] = {"version": "up-1", "scale": 4} if max(self.sizes) > self.resolution else None
        return web.json_response(reply)

    def _size(self, body: dict[str, Any]) -> int:
        if self.sizes is None:
            return self.resolution
        size = body.get("size", self.resolution)
        if size not in self.sizes:
            message = f"size must be one of {', '.join(map(str, self.sizes))}, got {size}"
            error = {"error": {"code": "invalid_size", "message": message}}
            raise web.HTTPBadRequest(text=json.dumps(error), content_type="application/json")
        return size

    async def generate(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append((request.path, body))
        return self._images(body, body.get("seed", 7), body.get("count", 1))

    async def render(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append((request.path, body))
        return self._images(body, body["seed"], 1)

    def _images(self, body: dict[str, Any], seed: int, count: int) -> web.Response:
        size = self._size(body)
        images = []
        for s in range(seed, seed + count):
            image = {
                "seed": s,
                "attributes": {"hair": "red", "smile": "no", **body["attributes"]},
                "truncation": body.get("truncation", 1.0),
                "format": "png",
                "generation_id": f"g{s}",
                "image": base64.b64encode(png(size)).decode(),
            }
            if self.sizes is not None:
                image["size"] = size
            images.append(image)
        return web.json_response({"model": body.get("model") or "default", "version": "v1", "images": images})

    async def interpolate(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append((request.path, body))
        self._size(body)
        return web.json_response(
            {"model": "default", "version": "v1", "gif": base64.b64encode(b"GIF89a fake").decode()}
        )
