"""A vote-driven fine-tune request, validated before anything starts.

    POST /v1/jobs {
      "kind": "finetune", "model": "default", "data": "<base data set on the engine>",
      "curated":   [{"seed", "attributes", "version", "truncation"?, "image"? (base64 PNG)}, ...],
      "negatives": [... same shape: down-voted images, for the preference model ...],
      "kimg", "freeze_d", "lr_g", "lr_d", "batch", "extra_share", "timeout_s",
      "evaluate": true, "eval_samples": 500, "eval_feature_size": 224, "eval_per_value": 16,
      "eval_size": 0  (0 = the model's own side; 256 or 512 = as posted, through the upscale stage)
    }

The items are written to ``<job>/curated.json``; the job runs ``curated_set``, the
fine-tune with the curated set as ``--extra-data``, then ``compare``.
"""

from __future__ import annotations

import base64
import binascii
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from engine import creative
from engine.errors import MascotError
from engine.sampling import MAX_SEED

MAX_ITEMS = 5000


class CurationRequestError(MascotError):
    pass


@dataclass(frozen=True)
class EvalSettings:
    samples: int = 500
    feature_size: int = 224
    per_value: int = 16
    seed: int = 1_000_000  # seeds no user is likely to have voted on
    size: int = 0  # side the samples are judged at: 0 = the model's own, larger = as posted
    upscaler: str = "lanczos"  # how they reach it: the engine's upscale stage when it has one


def parse_items(body: dict, key: str, required: bool) -> list[dict[str, Any]]:
    items = body.get(key, [])
    if not isinstance(items, list) or (required and not items) or len(items) > MAX_ITEMS:
        need = "a non-empty list" if required else "a list"
        raise CurationRequestError(
            f"'{key}' must be {need} of at most {MAX_ITEMS} items like "
            '{"seed": 1, "attributes": {"hair": "blue"}, "version": "..."}'
        )
    return [_item(key, i, item) for i, item in enumerate(items)]


def _item(key: str, i: int, item: Any) -> dict[str, Any]:
    where = f"{key}[{i}]"
    if not isinstance(item, dict):
        raise CurationRequestError(f"{where} must be an object")
    seed, attrs, version = item.get("seed"), item.get("attributes"), item.get("version")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise CurationRequestError(f"{where}.seed must be a whole number from 0 to {MAX_SEED}")
    if not isinstance(attrs, dict) or not all(isinstance(v, str) for v in attrs.values()):
        raise CurationRequestError(f"{where}.attributes must be an object of attribute: value")
    if not isinstance(version, str) or not version:
        raise CurationRequestError(f"{where}.version must be the model version that drew it")
    truncation = item.get("truncation", 1.0)
    if isinstance(truncation, bool) or not isinstance(truncation, (int, float)) or not 0 <= truncation <= 1:
        raise CurationRequestError(f"{where}.truncation must be from 0 to 1")
    image = item.get("image")
    if image is not None:
        try:
            base64.b64decode(image, validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise CurationRequestError(f"{where}.image must be a base64 PNG") from None
    out = {
        "seed": seed,
        "attributes": attrs,
        "version": version,
        "truncation": float(truncation),
        "image": image,
        "id": str(item.get("id", "")),
    }
    if item.get("latent") is not None:  # a variation or a fusion (engine/creative.py), drawn from its recipe
        try:
            out["latent"] = creative.parse(item["latent"]).to_json()
        except creative.RecipeError as exc:
            raise CurationRequestError(f"{where}.latent: {exc}") from None
    return out


def eval_settings(body: dict) -> EvalSettings:
    def number(key: str, default: int, lo: int, hi: int) -> int:
        value = body.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise CurationRequestError(
                f"{key} must be a whole number from {lo} to {hi}, got {json.dumps(value)}"
            )
        return value

    return EvalSettings(
        number("eval_samples", 500, 10, 50_000),
        number("eval_feature_size", 224, 32, 512),
        number("eval_per_value", 16, 1, 1000),
        size=number("eval_size", 0, 0, 2048),
    )


def extra_share(body: dict) -> float:
    share = body.get("extra_share", 0.25)
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 0.5:
        raise CurationRequestError(f"extra_share must be above 0 and at most 0.5, got {json.dumps(share)}")
    return float(share)


def job_input(
    body: dict, *, champion: Path, versions: Path, data: str, sizes: tuple[int, ...] = (), upscaler: str = ""
) -> dict[str, Any]:
    """Everything the job's steps read, as the JSON written to ``<job>/curated.json``.
    ``sizes``: the sides the engine serves this model at; ``upscaler``: its stage's folder."""
    settings = eval_settings(body)
    if settings.size and sizes and settings.size not in sizes:
        raise CurationRequestError(
            f"eval_size must be 0 (the model's own) or one of {', '.join(map(str, sizes))}, "
            f"got {settings.size}"
        )
    if settings.size and upscaler:
        settings = replace(settings, upscaler=upscaler)
    return {
        "champion": str(champion),
        "versions": str(versions),
        "data": data,
        "curated": parse_items(body, "curated", required=True),
        "negatives": parse_items(body, "negatives", required=False),
        "evaluate": bool(body.get("evaluate", True)),
        "eval": settings.__dict__,
    }


def steps(evaluate: bool) -> tuple[tuple[tuple[str, ...], ...], tuple[tuple[str, ...], ...]]:
    """(before, after) commands of a curated job."""
    before = ((sys.executable, "-m", "engine.curate.curated_set", "{job}"),)
    after = ((sys.executable, "-m", "engine.curate.compare", "{job}"),) if evaluate else ()
    return before, after
