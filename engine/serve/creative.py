"""The creative loop's endpoints: variations around a mascot, the fusion of two, and re-drawing either.

    POST /v1/variations {model?, seed, attributes?, latent?, count? 1-4 (4), strength? 0-1 (0.4),
                         first? (1), truncation?, size?, format?}
    POST /v1/fuse       {model?, a: {seed, attributes?, latent?}, b: {...}, mix? 0-1 (0.5),
                         seed? (the attribute draw), from? {"hair": "a"} or "hair:a",
                         truncation?, size?, format?}
    POST /v1/render     {model?, latent, attributes, truncation?, size?, format?}

Every image carries ``latent`` (engine/creative.py's recipe) beside ``seed`` and
``attributes``: with the model version that is its identity, and /v1/render draws it again
byte for byte (the nightly curation re-draws voted variations that way). A parent is
given by its seed and attributes as /v1/generate answered them, or by its ``latent``
when it is itself a variation or a fusion.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from aiohttp import web

from engine import creative
from engine.checkpoint import Checkpoint
from engine.sampling import MAX_SEED, Request, resolve
from engine.serve import contract as api
from engine.serve.images import encode_image, generation_id
from engine.serve.requests import ApiError
from engine.serve.responses import json_response
from engine.serve.service import Service


def creative_id(version: str, recipe: creative.Recipe, attrs: dict[str, str], truncation: float) -> str:
    """A plain seed keeps /v1/generate's id, so a parent drawn either way is one identity."""
    if recipe.kind == "seed":
        return generation_id(version, Request(recipe.seed, tuple(attrs.items()), truncation))
    key = json.dumps([version, recipe.key, sorted(attrs.items()), truncation])
    return hashlib.sha256(key.encode()).hexdigest()[:20]


class CreativeRoutes:
    def __init__(self, service: Service) -> None:
        self.service = service

    def handlers(self) -> dict[api.Route, Any]:
        return {api.VARIATIONS: self.variations, api.FUSE: self.fuse, api.RENDER: self.render}

    # --- parsing ---
    def _recipe(self, raw: Any, where: str) -> creative.Recipe:
        try:
            return creative.parse(raw)
        except creative.RecipeError as exc:
            raise ApiError(400, "invalid_latent", f"{where}: {exc}") from None

    def _parent(
        self, ck: Checkpoint, parent: api.Parent, trunc: float, where: str, offered_only: bool = True
    ) -> tuple[creative.Recipe, dict[str, str]]:
        """(recipe, full attributes) of a parent: its seed draws the attributes it left unset.
        A parent of a new picture must ask only for what the model offers (``offered_only``)."""
        seed = parent.seed
        if "latent" in parent.model_fields_set:
            recipe = self._recipe(parent.latent, f"{where}latent")
        elif seed is None:
            raise ApiError(
                400, "invalid_seed", f"{where}seed is required (0 to {MAX_SEED}), or a latent recipe"
            )
        else:
            recipe = creative.seed_recipe(seed)
        given = self.service.attributes(ck, parent.attributes, offered_only)
        return recipe, resolve(ck.schema, given, recipe.root_seed if seed is None else seed, trunc).attrs

    # --- drawing ---
    async def draw(
        self,
        ck: Checkpoint,
        items: list[tuple[creative.Recipe, dict[str, str]]],
        trunc: float,
        fmt: str,
        size: int,
    ) -> list[bytes]:
        if all(r.kind == "seed" for r, _ in items):
            # A plain seed goes the way /v1/generate's does (queue, serving forward, cache): the same bytes.
            reqs = [Request(r.seed, tuple(a.items()), trunc) for r, a in items]
            return await self.service.images(ck, reqs, fmt, size)
        svc = self.service
        key = lambda r, a: ("creative", ck.version, r.key, tuple(sorted(a.items())), trunc, fmt, size)
        missing = [(r, a) for r, a in items if key(r, a) not in svc.cache]
        if missing:

            def work() -> list[bytes]:
                pixels = creative.render(ck.G, ck.schema, missing, trunc, svc.cfg.device)
                return [encode_image(p, fmt) for p in svc.finished(ck, pixels, size)]

            blobs = await svc.draw(work, ck, size, len(missing))  # a busy engine answers 429 at once
            for (r, a), blob in zip(missing, blobs):
                svc.cache[key(r, a)] = blob
        return [svc.cache[key(r, a)] for r, a in items]

    def image(
        self,
        ck: Checkpoint,
        recipe: creative.Recipe,
        attrs: dict[str, str],
        trunc: float,
        fmt: str,
        size: int,
        data: bytes,
        **extra: Any,
    ) -> dict[str, Any]:
        return {
            "seed": recipe.root_seed,
            "latent": recipe.to_json(),
            "attributes": attrs,
            "truncation": trunc,
            "format": fmt,
            "size": size,
            "generation_id": creative_id(ck.version, recipe, attrs, trunc),
            **extra,
            "image": base64.b64encode(data).decode(),
        }

    def _answer(self, body: api.Picture, ck: Checkpoint, images: list[dict], **extra: Any) -> web.Response:
        return json_response(
            {
                "model": body.model or self.service.registry.default,
                "version": ck.version,
                **extra,
                "images": images,
            }
        )

    # --- endpoints ---
    async def variations(self, request: web.Request, body: api.VariationsRequest) -> web.Response:
        ck = self.service.model(body.model)
        trunc, fmt, size = body.truncation, body.format, self.service.size(ck, body.size)
        parent, attrs = self._parent(ck, body, trunc, "")
        kids = [creative.vary(parent, body.first + i, body.strength) for i in range(body.count)]
        blobs = await self.draw(ck, [(k, attrs) for k in kids], trunc, fmt, size)
        images = [
            self.image(ck, k, attrs, trunc, fmt, size, b, variation=k.index, strength=k.amount)
            for k, b in zip(kids, blobs)
        ]
        return self._answer(body, ck, images, parent={"latent": parent.to_json(), "attributes": attrs})

    async def fuse(self, request: web.Request, body: api.FuseRequest) -> web.Response:
        ck = self.service.model(body.model)
        trunc, fmt, size = body.truncation, body.format, self.service.size(ck, body.size)
        (ra, aa), (rb, ab) = (
            self._parent(ck, end, trunc, f"{key}.") for key, end in (("a", body.a), ("b", body.b))
        )
        draw = body.seed
        if draw is None:  # the same two parents fuse the same way unless the caller asks for another draw
            draw = int.from_bytes(hashlib.sha256(f"{ra.key}|{rb.key}".encode()).digest()[:4], "big") >> 1
        attrs, source = creative.fused_attributes(ck.schema, aa, ab, self._chosen(ck, body.from_), draw)
        child = creative.fuse(ra, rb, body.mix)
        (blob,) = await self.draw(ck, [(child, attrs)], trunc, fmt, size)
        image = self.image(
            ck, child, attrs, trunc, fmt, size, blob, **{"from": source, "draw": draw, "mix": child.amount}
        )
        return self._answer(body, ck, [image])

    def _chosen(self, ck: Checkpoint, raw: Any) -> dict[str, str]:
        """{"hair": "a"} or "hair:a smile:b": which parent an attribute must come from."""
        if raw is None:
            return {}
        if isinstance(raw, str):
            raw = dict(w.partition(":")[::2] for w in raw.split())
        chosen = {}
        for name, side in raw.items():
            if name not in ck.schema.names:
                raise ApiError(
                    400, "invalid_from", f"'{name}' is not an attribute; known: {', '.join(ck.schema.names)}"
                )
            if side not in ("a", "b"):
                raise ApiError(
                    400,
                    "invalid_from",
                    f"from.{name} must be 'a' or 'b' (the parent it comes from), got {json.dumps(side)}",
                )
            chosen[name] = side
        return chosen

    async def render(self, request: web.Request, body: api.RenderRequest) -> web.Response:
        ck = self.service.model(body.model)
        trunc, fmt, size = body.truncation, body.format, self.service.size(ck, body.size)
        parent = api.Parent(latent=body.latent, attributes=body.attributes, seed=body.seed)
        # A stored identity is redrawn as it was, even in a style the model no longer offers.
        recipe, attrs = self._parent(ck, parent, trunc, "", offered_only=False)
        (blob,) = await self.draw(ck, [(recipe, attrs)], trunc, fmt, size)
        return self._answer(body, ck, [self.image(ck, recipe, attrs, trunc, fmt, size, blob)])
