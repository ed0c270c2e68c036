"""Picture -> mascot: the generator's latent and attributes nearest to a given picture.

The attributes are read from the picture by the shipped tagger (the project's attribute
classifier, ``checkpoints/tagger``) when it knows the model's schema; a reading it is not
sure of is left to the search. The latent is then found in two steps: the nearest of a few
seeded candidates (each with its own draw of the attributes left open), then a few hundred
Adam steps on the latent alone, under a time budget. "Nearest" is measured on
EfficientNet-Lite0's multi-scale feature maps (what a picture shows and where) plus the L1
distance of small thumbnails (its colours): either alone gives pictures that match in one
way only. The result is a latent, not a seed: it is returned and stored with the image, and
a request that carries it draws the same picture again.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from engine.creative import Z_LIMIT
from engine.errors import MascotError
from engine.sampling import inputs, resolve
from engine.schema import Schema

MAX_BYTES = 8 * 2**20
MAX_SIDE = 4096
FORMATS = ("PNG", "JPEG", "WEBP")


@dataclass(frozen=True)
class InvertConfig:
    # Most of 200 steps' gain comes in the first 25-75 (measured by feature distance); the budget keeps a
    # chat's answer, pictures drawn and upscaled included, within 10 s on 2 busy CPU cores.
    steps: int = 80
    budget_s: float = 7.0  # the search (the tagger's reading and the starts included) stops here
    candidates: int = 16  # seeded starting points; the nearest one is refined
    lr: float = 0.05
    feature_size: int = 128  # side EfficientNet-Lite0 sees
    thumb: int = 16  # side of the thumbnails whose L1 distance keeps the colours
    thumb_weight: float = 4.0
    prior_weight: float = 0.05  # keeps the latent where the generator was trained (|z|^2 ~ z_dim)
    confidence: float = 0.5  # tagger readings below this are left to the search
    seed: int = 0

    def validate(self) -> InvertConfig:
        if not 1 <= self.steps <= 2000 or not 1 <= self.candidates <= 64 or not 0 < self.budget_s <= 600:
            raise MascotError("invert: steps must be 1-2000, candidates 1-64 and the budget 0-600 s")
        return self


@dataclass(frozen=True)
class Inversion:
    attributes: dict[str, str]
    latent: np.ndarray  # (z_dim,) float32
    distance: float  # the loss at the end (lower is nearer)
    steps: int
    seconds: float
    read: dict[str, str]  # what the tagger read from the picture (before the request's own attributes)


def read_picture(data: bytes) -> np.ndarray:
    """An uploaded still picture as uint8 RGB (H, W, 3); a clear MascotError for anything else."""
    return _opened(data, _flatten)


def check_picture(data: bytes) -> None:
    """What ``read_picture`` refuses from the file's header alone (kind, size, animation), without
    decoding its pixels: cheap enough to answer a bad upload at once."""
    _opened(data, lambda im: None)


def _opened(data: bytes, then):
    if not data:
        raise MascotError("the picture is empty; send a PNG, JPEG or WebP file")
    if len(data) > MAX_BYTES:
        raise MascotError(
            f"the picture is {len(data) / 2**20:.1f} MiB; at most {MAX_BYTES // 2**20} MiB is accepted"
        )
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format not in FORMATS:
                raise MascotError(
                    f"the picture is {im.format or 'of an unknown kind'}; send PNG, JPEG or WebP"
                )
            if max(im.size) > MAX_SIDE:
                raise MascotError(
                    f"the picture is {im.size[0]}x{im.size[1]} px; at most {MAX_SIDE} px a side"
                )
            if getattr(im, "is_animated", False):
                raise MascotError("the picture is animated; send a still PNG, JPEG or WebP")
            return then(im)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise MascotError(
            f"the file is not a picture this engine can read (PNG, JPEG or WebP): {exc}"
        ) from None


def _flatten(im: Image.Image) -> np.ndarray:
    # Transparent pictures (most mascots) are laid on white, as the renders are.
    rgba = im.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))


def fit_square(image: np.ndarray, side: int) -> np.ndarray:
    """Pad to a square with the picture's own border colour (so nothing is cut off), then resize."""
    h, w = image.shape[:2]
    edge = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    fill = tuple(int(v) for v in np.median(edge, axis=0))
    square = Image.new("RGB", (max(h, w), max(h, w)), fill)
    square.paste(Image.fromarray(image), ((max(h, w) - w) // 2, (max(h, w) - h) // 2))
    return np.asarray(square.resize((side, side), Image.Resampling.LANCZOS))


class Inverter:
    """Finds a model's nearest mascot to pictures; one per served model, reused."""

    def __init__(
        self, G: nn.Module, schema: Schema, resolution: int, tagger=None, cfg: InvertConfig = InvertConfig()
    ) -> None:
        from engine.effnet import backbone

        self.G, self.schema, self.resolution, self.cfg = G, schema, resolution, cfg.validate()
        self.tagger = tagger if tagger is not None and _same_schema(tagger.schema, schema) else None
        self.net = backbone("cpu")
        self.dtype = next(G.parameters()).dtype

    def read_attributes(self, picture: np.ndarray) -> dict[str, str]:
        """The tagger's confident readings (none without a tagger for this schema)."""
        if self.tagger is None:
            return {}
        side = self.tagger.config.size
        probs = self.tagger.probabilities(fit_square(picture, side)[None])
        out = {}
        for attr, p in zip(self.schema.attributes, probs):
            if float(p[0].max()) >= self.cfg.confidence:
                out[attr.name] = attr.values[int(p[0].argmax())]
        return out

    def __call__(
        self,
        picture: np.ndarray,
        given: dict[str, str] | None = None,
        on_step: Callable[[int, int], None] | None = None,
    ) -> Inversion:
        """``on_step(step, steps)`` is told when the search starts (step 0) and after each step."""
        start = time.monotonic()
        target = _to_tensor(fit_square(picture, self.resolution))
        with torch.no_grad():
            goal = self._describe(target)
        read = self.read_attributes(picture)
        known = {**read, **(given or {})}
        with torch.no_grad():
            starts = [resolve(self.schema, known, self.cfg.seed + i) for i in range(self.cfg.candidates)]
            z, c = inputs(self.schema, self.G.z_dim, starts)
            losses = self._loss(self._draw(z, c), goal, z, per_image=True)
        best = int(losses.argmin())
        z_best, c_best = z[best : best + 1].clone().requires_grad_(True), c[best : best + 1]
        steps, loss = self._refine(z_best, c_best, goal, start, on_step or (lambda step, steps: None))
        loss = float(losses[best]) if steps == 0 else loss
        latent = z_best.detach()[0].float().clamp(-Z_LIMIT, Z_LIMIT).numpy().astype(np.float32)
        return Inversion(starts[best].attrs, latent, loss, steps, time.monotonic() - start, read)

    def _refine(
        self, z: torch.Tensor, c: torch.Tensor, goal, start: float, on_step: Callable[[int, int], None]
    ) -> tuple[int, float]:
        opt = torch.optim.Adam([z], lr=self.cfg.lr)
        loss = torch.tensor(float("inf"))
        steps = 0
        on_step(0, self.cfg.steps)
        with torch.enable_grad():
            while steps < self.cfg.steps and time.monotonic() - start < self.cfg.budget_s:
                opt.zero_grad(set_to_none=True)
                loss = self._loss(self._draw(z, c), goal, z)
                loss.backward()
                opt.step()
                steps += 1
                on_step(steps, self.cfg.steps)
        return steps, float(loss.detach())

    def _draw(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.G(z.to(self.dtype), c.to(self.dtype)).float()

    def _describe(self, images: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        x = F.interpolate(images, size=(self.cfg.feature_size,) * 2, mode="bilinear", align_corners=False)
        thumbs = F.adaptive_avg_pool2d(images, self.cfg.thumb)
        return self.net.stages(x), thumbs

    def _loss(self, images: torch.Tensor, goal, z: torch.Tensor, per_image: bool = False) -> torch.Tensor:
        """Distance of each image to the goal (summed over the batch unless ``per_image``)."""
        feats, thumbs = self._describe(images)
        goal_feats, goal_thumbs = goal
        feature = sum(
            (f - g).pow(2).mean(dim=(1, 2, 3)) / g.pow(2).mean().clamp_min(1e-6)
            for f, g in zip(feats, goal_feats)
        ) / len(feats)
        colour = (thumbs - goal_thumbs).abs().mean(dim=(1, 2, 3))
        prior = (z.float().pow(2).mean(dim=1) - 1).pow(2)
        loss = feature + self.cfg.thumb_weight * colour + self.cfg.prior_weight * prior
        return loss if per_image else loss.sum()


def _same_schema(a: Schema, b: Schema) -> bool:
    return [(x.name, x.values) for x in a.attributes] == [(x.name, x.values) for x in b.attributes]


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float() / 127.5 - 1
