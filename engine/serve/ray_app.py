"""Optional scale-out: the same generator behind Ray Serve, for users who outgrow one GPU.

    pip install -e '.[ray]'
    serve run engine.serve.ray_app:app checkpoint=checkpoints/default num_replicas=4

Each replica loads the checkpoint once; ``@serve.batch`` gathers concurrent requests into
one forward pass, as the built-in micro-batcher does, and the requests and responses are
the engine's own JSON (``/v1/generate`` bodies), so the bot needs no change. Images are
the same pixels: the latent of a seed comes from its own generator (engine.sampling).
"""

from __future__ import annotations

import base64
from typing import Any

from ray import serve
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse

from engine.checkpoint import load_checkpoint
from engine.sampling import MAX_SEED, render, resolve
from engine.serve.app import encode_image, generation_id
from engine.serve.requests import ApiError, int_field, loads, parse_attributes, shown, truncation


class MascotGenerator:
    """One model replica: parse, batch, render, encode."""

    def __init__(self, checkpoint: str, device: str = "cpu") -> None:
        self.ckpt = load_checkpoint(checkpoint, device)
        self.device = device

    def parse(self, body: Any):
        """A /v1/generate body, read by the same rules as the engine's own (engine/serve/requests.py)."""
        if not isinstance(body, dict):
            raise ApiError(400, "malformed_json", f"the body must be a JSON object, got {shown(body)}")
        given = parse_attributes(self.ckpt.schema, body.get("attributes"))
        return resolve(self.ckpt.schema, given, int_field(body, "seed", 0, 0, MAX_SEED), truncation(body))

    def draw(self, requests: list) -> list[dict[str, Any]]:
        """Render a batch (one forward pass per truncation value), in request order."""
        out: list[dict[str, Any]] = [{} for _ in requests]
        for trunc in {r.truncation for r in requests}:
            idx = [i for i, r in enumerate(requests) if r.truncation == trunc]
            pixels = render(self.ckpt.G, self.ckpt.schema, [requests[i] for i in idx], self.device)
            for i, px in zip(idx, pixels):
                out[i] = self._payload(requests[i], px)
        return out

    def _payload(self, req, pixels) -> dict[str, Any]:
        return {
            "seed": req.seed,
            "attributes": req.attrs,
            "version": self.ckpt.version,
            "generation_id": generation_id(self.ckpt.version, req),
            "image": base64.b64encode(encode_image(pixels, "png")).decode(),
        }


@serve.deployment
class MascotDeployment:
    def __init__(self, checkpoint: str, device: str = "cpu") -> None:
        self.generator = MascotGenerator(checkpoint, device)

    @serve.batch(max_batch_size=64, batch_wait_timeout_s=0.005)
    async def _batched(self, requests: list) -> list[dict[str, Any]]:
        return self.generator.draw(requests)

    async def __call__(self, http: HttpRequest) -> JSONResponse:
        try:
            try:
                body = loads(await http.body())
            except ValueError as exc:
                raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}") from None
            req = self.generator.parse(body)
        except ApiError as exc:
            return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, status_code=exc.status)
        image = await self._batched(req)
        return JSONResponse({"version": image.pop("version"), "images": [image]})


def app(args: dict[str, str]) -> serve.Application:
    """Ray Serve application builder: ``serve run engine.serve.ray_app:app checkpoint=...``."""
    replicas = int(args.get("num_replicas", 1))
    return MascotDeployment.options(num_replicas=replicas).bind(
        args.get("checkpoint", "checkpoints/default"), args.get("device", "cpu")
    )
