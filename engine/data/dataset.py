"""The one on-disk training format every data command writes and every trainer reads.

    DIR/images.npy        uint8 (N, H, W, 3), memory-mappable with np.load(mmap_mode="r")
    DIR/labels.npy        int16 (N, n_attributes): value index per attribute, -1 = not visible
    DIR/schema.json       the attribute schema (engine.schema.Schema.to_json)
    DIR/card.json         count, resolution, counts per attribute value, licences and
                          credits, source, content fingerprint; for pixel art drawn at its
                          native grid, "palette": every colour in the images ("#rrggbb")
    DIR/tags.jsonl        optional free-form metadata, one JSON object per image
    DIR/contact_sheet.png a grid of the first images, to look at

A writer fills a hidden temporary folder next to DIR and renames it into place at the
end, so an interrupted or failed build never leaves a data set that looks complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from engine.atomic import publish, staging_dir
from engine.errors import MascotError
from engine.schema import UNKNOWN, Schema

FORMAT_VERSION = 1
FILES = ("images.npy", "labels.npy", "schema.json", "card.json")


@dataclass(frozen=True)
class Source:
    """Where images came from, for the card's licences and credits."""

    name: str
    licence: str
    credit: str = ""
    url: str = ""


class DatasetWriter:
    """Streams images and labels into a new data set folder, published atomically on close.

    Usage::

        with DatasetWriter(out, resolution=128, schema=schema, capacity=n) as w:
            w.add(image_uint8_hwc, {"hair": "blue"}, tags={...})
            w.sources = [Source(...)]
    """

    def __init__(
        self,
        out: str | Path,
        *,
        resolution: int,
        schema: Schema,
        capacity: int,
        description: str = "",
        palette: bool = False,
    ) -> None:
        if capacity < 1:
            raise MascotError(f"a data set needs at least one image (asked for {capacity})")
        self.out = Path(out)
        self.resolution = resolution
        self.schema = schema
        self.description = description
        self.palette = palette  # record every colour in the card (pixel art at its grid)
        self.sources: list[Source] = []
        self._tmp = staging_dir(self.out)
        self._images = np.lib.format.open_memmap(
            self._tmp / "images.npy", mode="w+", dtype=np.uint8, shape=(capacity, resolution, resolution, 3)
        )
        self._labels = np.full((capacity, len(schema.attributes)), UNKNOWN, dtype=np.int16)
        self._tags: list[dict[str, Any]] = []
        self.count = 0

    def add(self, image: np.ndarray, attrs: dict[str, str] | np.ndarray, tags: dict | None = None) -> None:
        """Append one HxWx3 uint8 image with its attributes (dict or label row)."""
        if self.count >= len(self._images):
            raise MascotError(f"more images than the {len(self._images)} announced")
        if image.shape != (self.resolution, self.resolution, 3) or image.dtype != np.uint8:
            raise ValueError(
                f"image must be uint8 {self.resolution}x{self.resolution}x3, got {image.dtype} {image.shape}"
            )
        row = attrs if isinstance(attrs, np.ndarray) else self.schema.indices(attrs)
        self._images[self.count] = image
        self._labels[self.count] = row
        self._tags.append(tags or {})
        self.count += 1

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def abort(self) -> None:
        del self._images
        shutil.rmtree(self._tmp, ignore_errors=True)

    def close(self) -> dict[str, Any]:
        """Trim to the images actually added, write the card and sheet, publish."""
        if self.count == 0:
            self.abort()
            raise MascotError("no usable images were found, so no data set was written")
        self._images.flush()
        del self._images
        images = _trim_npy(self._tmp / "images.npy", self.count)
        labels = self._labels[: self.count]
        np.save(self._tmp / "labels.npy", labels)
        (self._tmp / "schema.json").write_text(json.dumps(self.schema.to_json(), indent=1))
        if any(self._tags):
            with open(self._tmp / "tags.jsonl", "w") as fh:
                fh.writelines(json.dumps(t, sort_keys=True) + "\n" for t in self._tags)
        card = build_card(images, labels, self.schema, self.sources, self.description)
        if self.palette:
            from engine.pixelgrid import palette_of

            try:
                card["palette"] = palette_of(images)
            except MascotError:
                shutil.rmtree(self._tmp, ignore_errors=True)
                raise
        (self._tmp / "card.json").write_text(json.dumps(card, indent=1))
        contact_sheet(images[:64]).save(self._tmp / "contact_sheet.png")
        publish(self._tmp, self.out)
        return card


def _trim_npy(path: Path, count: int) -> np.ndarray:
    full = np.load(path, mmap_mode="r")
    if count == len(full):
        return full
    trimmed = np.lib.format.open_memmap(
        path.with_suffix(".trim.npy"), mode="w+", dtype=np.uint8, shape=(count, *full.shape[1:])
    )
    trimmed[:] = full[:count]
    trimmed.flush()
    del full, trimmed
    os.replace(path.with_suffix(".trim.npy"), path)
    return np.load(path, mmap_mode="r")


def fingerprint(images: np.ndarray, labels: np.ndarray) -> str:
    """Content hash of pixels and labels: same data, same fingerprint, whatever the path."""
    digest = hashlib.sha256()
    digest.update(repr((images.shape, labels.shape)).encode())
    for start in range(0, len(images), 1024):
        digest.update(np.ascontiguousarray(images[start : start + 1024]).tobytes())
    digest.update(np.ascontiguousarray(labels).tobytes())
    return digest.hexdigest()[:16]


def build_card(
    images: np.ndarray, labels: np.ndarray, schema: Schema, sources: Iterable[Source], description: str = ""
) -> dict[str, Any]:
    counts = {}
    for i, attr in enumerate(schema.attributes):
        column = labels[:, i]
        per_value = {v: int((column == j).sum()) for j, v in enumerate(attr.values)}
        per_value["(not visible)"] = int((column == UNKNOWN).sum())
        counts[attr.name] = per_value
    return {
        "format_version": FORMAT_VERSION,
        "description": description,
        "count": len(images),
        "resolution": int(images.shape[1]),
        "fingerprint": fingerprint(images, labels),
        "attribute_counts": counts,
        "sources": [s.__dict__ for s in sources],
    }


def contact_sheet(images: np.ndarray, columns: int = 8) -> Image.Image:
    """A grid of HxWx3 uint8 images as one PIL image."""
    n, h, w, _ = images.shape
    rows = max(1, -(-n // columns))
    sheet = np.full((rows * h, columns * w, 3), 255, dtype=np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        sheet[r * h : (r + 1) * h, c * w : (c + 1) * w] = img
    return Image.fromarray(sheet)


class Dataset:
    """A data set folder opened for reading; images stay memory-mapped."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise MascotError(f"no data set at '{root}': the folder does not exist")
        missing = [f for f in FILES if not (self.root / f).is_file()]
        if missing:
            raise MascotError(f"'{root}' is not a complete data set: missing {', '.join(missing)}")
        try:
            self.card = json.loads((self.root / "card.json").read_text())
            self.schema = Schema.from_json(json.loads((self.root / "schema.json").read_text()))
            self.images = np.load(self.root / "images.npy", mmap_mode="r")
            self.labels = np.load(self.root / "labels.npy")
        except (ValueError, OSError) as exc:
            raise MascotError(f"the data set at '{root}' is corrupt: {exc}") from None
        self._validate()
        self.schema = self.schema.with_joint(self.labels)  # which values occur together here

    def _validate(self) -> None:
        n = len(self.images)
        if self.images.dtype != np.uint8 or self.images.ndim != 4 or self.images.shape[3] != 3:
            raise MascotError(f"'{self.root}/images.npy' must be uint8 (N, H, W, 3), got {self.images.shape}")
        if self.labels.shape != (n, len(self.schema.attributes)):
            raise MascotError(f"'{self.root}': labels {self.labels.shape} do not match {n} images")
        if self.card.get("count") != n:
            raise MascotError(f"'{self.root}': card says {self.card.get('count')} images, found {n}")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def resolution(self) -> int:
        return int(self.images.shape[1])

    @property
    def fingerprint(self) -> str:
        return str(self.card["fingerprint"])

    @property
    def palette(self) -> list[str] | None:
        """Every colour of a pixel-art set at its grid ("#rrggbb"), or None for other data."""
        return self.card.get("palette")

    def tags(self) -> list[dict[str, Any]]:
        path = self.root / "tags.jsonl"
        if not path.exists():
            return [{} for _ in range(len(self))]
        return [json.loads(line) for line in path.read_text().splitlines()]

    def conditioning(self) -> np.ndarray:
        """Conditioning vectors (N, schema.dim) for every image."""
        return self.schema.encode_indices(self.labels)


def describe(root: str | Path) -> str:
    """The card of a data set as readable text."""
    ds = Dataset(root)
    card = ds.card
    lines = [
        f"{ds.root}: {card['count']} images at {card['resolution']}px, fingerprint {card['fingerprint']}",
    ]
    if card.get("description"):
        lines.append(card["description"])
    for name, per_value in card["attribute_counts"].items():
        shown = ", ".join(f"{v}={n}" for v, n in per_value.items() if n or v != "(not visible)")
        lines.append(f"  {name}: {shown}")
    for src in card.get("sources", []):
        lines.append(f"  source: {src['name']} ({src['licence']}) {src.get('credit', '')}".rstrip())
    return "\n".join(lines)
