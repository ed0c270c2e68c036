"""Step 1 of a curated job: turn voted items into data sets.

    <job>/curated/   the liked images (the fine-tune's --extra-data)
    <job>/voted/     liked and disliked images, tags {"liked": 1|0} (the preference model's data)
    <job>/results/curation.json   how many came from where, and what was skipped and why

An item is re-drawn exactly from (version, seed, attributes, truncation) when that
version is the champion or is kept in the versions folder; a retired version's item is
decoded from the PNG the bot stored (sent in the request). Items with neither are
skipped, with the reason recorded, never silently.

    python -m engine.curate.curated_set JOB_FOLDER
"""

from __future__ import annotations

import base64
import io
import json
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from engine import creative
from engine.checkpoint import Checkpoint, load_checkpoint
from engine.data.dataset import DatasetWriter, Source
from engine.errors import MascotError
from engine.sampling import render, resolve
from engine.schema import Schema


@dataclass(frozen=True)
class Drawn:
    image: np.ndarray  # HxWx3 uint8 at the champion's resolution
    attrs: dict[str, str]
    source: str  # regenerated | stored_png


class Models:
    """Checkpoints by version: the champion, plus any kept in the versions folder (loaded once)."""

    def __init__(self, champion: Checkpoint, versions: Path) -> None:
        self.champion, self.versions = champion, versions
        self._loaded: dict[str, Checkpoint | None] = {champion.version: champion}

    def get(self, version: str) -> Checkpoint | None:
        if version not in self._loaded:
            try:
                folder = self._stored(version)
                ck = load_checkpoint(folder) if folder is not None else None
            except (MascotError, OSError):
                ck = None  # a damaged old version: fall back to the stored PNG
            self._loaded[version] = (
                ck if ck is not None and ck.schema.interface() == self.champion.schema.interface() else None
            )
        return self._loaded[version]

    def _stored(self, version: str) -> Path | None:
        """The newest stored copy of ``version`` (folders <version>.<key>, engine/versions.py)."""
        if not isinstance(version, str) or not self.versions.is_dir():
            return None
        copies = [
            p
            for p in self.versions.iterdir()
            if p.name.rpartition(".")[0] == version and (p / "model.json").is_file()
        ]
        return max(copies, key=lambda p: p.stat().st_mtime) if copies else None


def draw(item: dict[str, Any], models: Models) -> Drawn:
    """The pixels of one voted item; MascotError (with the reason) if it cannot be had."""
    schema, res = models.champion.schema, models.champion.resolution
    ck = models.get(item["version"])
    if ck is not None:
        req = resolve(ck.schema, ck.schema.parse(item["attributes"]), item["seed"], item["truncation"])
        if item.get("latent"):  # a variation or a fusion: its recipe draws it, not its seed
            pixels = creative.render(
                ck.G, ck.schema, [(creative.parse(item["latent"]), req.attrs)], req.truncation
            )[0]
        else:
            pixels = render(ck.G, ck.schema, [req])[0]
        return Drawn(_fit(pixels, res), req.attrs, "regenerated")
    if item.get("image"):
        attrs = schema.sample(schema.parse(item["attributes"]), np.random.default_rng(item["seed"]))
        return Drawn(_fit(decode_png(item["image"]), res), attrs, "stored_png")
    raise MascotError(f"version {item['version']} is retired and no stored image was sent")


def decode_png(b64: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(base64.b64decode(b64))) as img:
            return np.asarray(img.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise MascotError(f"the stored image is not a readable PNG: {exc}") from None


def _fit(pixels: np.ndarray, res: int) -> np.ndarray:
    if pixels.shape[:2] == (res, res):
        return np.ascontiguousarray(pixels, dtype=np.uint8)
    return np.asarray(Image.fromarray(pixels).resize((res, res), Image.LANCZOS), dtype=np.uint8)


def draw_all(items: list[dict], models: Models) -> tuple[list[Drawn], list[dict[str, str]]]:
    drawn, skipped = [], []
    for item in items:
        try:
            drawn.append(draw(item, models))
        except MascotError as exc:
            skipped.append(
                {
                    "id": item.get("id", ""),
                    "version": item["version"],
                    "seed": str(item["seed"]),
                    "why": str(exc),
                }
            )
    return drawn, skipped


def write_set(out: Path, schema: Schema, res: int, rows: list[tuple[Drawn, int]], description: str) -> None:
    with DatasetWriter(
        out, resolution=res, schema=schema, capacity=max(1, len(rows)), description=description
    ) as w:
        for d, liked in rows:
            w.add(d.image, d.attrs, tags={"liked": liked, "source": d.source})
        w.sources = [
            Source("mascotbot votes", "generated", "images drawn by the model and voted on by its users")
        ]


def build(job: Path) -> dict[str, Any]:
    spec = json.loads((job / "curated.json").read_text())
    champion = load_checkpoint(spec["champion"])
    models = Models(champion, Path(spec["versions"]))
    liked, skipped_up = draw_all(spec["curated"], models)
    disliked, skipped_down = draw_all(spec["negatives"], models)
    if not liked:
        reasons = "; ".join(sorted({s["why"] for s in skipped_up})) or "none were sent"
        raise MascotError(f"no curated image could be drawn or decoded: {reasons}")
    schema, res = champion.schema, champion.resolution
    write_set(job / "curated", schema, res, [(d, 1) for d in liked], "voted-up mascots (curated)")
    write_set(
        job / "voted", schema, res, [(d, 1) for d in liked] + [(d, 0) for d in disliked], "voted mascots"
    )
    return {
        "liked": len(liked),
        "disliked": len(disliked),
        "sources": dict(Counter(d.source for d in liked + disliked)),
        "skipped": skipped_up + skipped_down,
    }


def write_result(job: Path, key: str, result: dict[str, Any]) -> None:
    folder = job / "results"
    folder.mkdir(exist_ok=True)
    tmp = folder / f".{key}.json.tmp"
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(folder / f"{key}.json")


def run_step(
    argv: list[str],
    module: str,
    step: Callable[[Path], dict[str, Any]],
    key: str,
    summary: Callable[[dict[str, Any]], str],
) -> int:
    """A job step's command line: run ``step`` on the job folder, store its result under ``key``,
    print ``summary``; a failure is one line on stderr and exit code 1 (the job reports it)."""
    if len(argv) != 1:
        print(f"usage: python -m {module} JOB_FOLDER", file=sys.stderr)
        return 2
    job = Path(argv[0])
    try:
        result = step(job)
    except (MascotError, OSError, ValueError, KeyError) as exc:
        print(f"{key} failed: {exc}", file=sys.stderr)
        return 1
    write_result(job, key, result)
    print(summary(result))
    return 0


def main(argv: list[str]) -> int:
    return run_step(
        argv,
        "engine.curate.curated_set",
        build,
        "curation",
        lambda r: f"curated set: {r['liked']} liked, {r['disliked']} disliked, {len(r['skipped'])} skipped",
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
