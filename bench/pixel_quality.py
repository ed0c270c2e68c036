"""How near the pixel-art model's pictures are to real renders, measured on the served cells.

    python bench/pixel_quality.py --checkpoint checkpoints/pixel --data data/pixel-16 \
        --samples 1000 --json bench/pixel_quality.json

Generated: seeds 1..N, attributes resolved as the engine resolves them, snapped to the
palette as served. Real: N renders of the data set, and N other renders for the
real-against-real ceiling. Both sides are enlarged by nearest neighbour to the feature
network's input (no blur on either side), then:

* KID-EffLite0 and precision/recall (k-NN, k = 5) in EfficientNet-Lite0 features;
* palette: the share of generated cells that were already a palette colour before the snap
  (the snap makes every served cell one; this says how far it had to move them);
* speckle: colours per picture, and lone cells per picture (a cell whose colour none of its
  four neighbours has); real pixel art has about ten colours and a few lone cells (the eyes);
* colour attributes read exactly from the cells: the value whose DiceBear colours cover the
  most cells (hair, eyes, skin), the corner cell (background). A value asked for and not
  read back, or not readable at all, is a miss. The same reader on real renders against
  their labels is its ceiling.

Prints the figures as JSON (and writes them to ``--json``).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np

from engine.checkpoint import load_checkpoint
from engine.data.dataset import Dataset
from engine.data.dicebear import BACKGROUND, EYES, HAIR, SKIN
from engine.features import effl0_features
from engine.metrics.kid import kernel_distance
from engine.metrics.prc import precision_recall_coverage
from engine.sampling import render, resolve

FEATURE_SIZE = 160  # 16 px x 10: a whole number of feature pixels per cell
COLOURS = {"hair": HAIR, "eyes": EYES, "skin": SKIN}
CORNER_BACKGROUND = {hexes: name for name, hexes in BACKGROUND.items()}


def hex_cells(image: np.ndarray) -> Counter:
    return Counter(f"{r:02x}{g:02x}{b:02x}" for r, g, b in image.reshape(-1, 3).tolist())


def read_colours(image: np.ndarray) -> dict[str, str | None]:
    """Each colour attribute as the cells show it; None when no cell has any of its colours."""
    cells = hex_cells(image)
    out: dict[str, str | None] = {}
    for name, palette in COLOURS.items():
        counts = {value: sum(cells[h] for h in hexes) for value, hexes in palette.items()}
        best = max(counts, key=counts.get)
        out[name] = best if counts[best] else None
    r, g, b = image[0, 0].tolist()
    out["background"] = CORNER_BACKGROUND.get(f"{r:02x}{g:02x}{b:02x}")
    return out


def colour_precision(images: np.ndarray, asked: list[dict[str, str]]) -> dict[str, float]:
    """Share of asked colour values read back, per attribute."""
    hits: Counter = Counter()
    total: Counter = Counter()
    for image, attrs in zip(images, asked):
        read = read_colours(image)
        for name in (*COLOURS, "background"):
            if name in attrs:
                total[name] += 1
                hits[name] += read[name] == attrs[name]
    return {name: round(hits[name] / total[name], 4) for name in total}


def speckle(images: np.ndarray) -> dict[str, float]:
    """Mean colours per picture, and mean lone cells per picture (unlike all four neighbours)."""
    codes = images.astype(np.int64) @ np.array([65536, 256, 1])  # (N, H, W): one number a colour
    padded = np.pad(codes, ((0, 0), (1, 1), (1, 1)), constant_values=-1)  # -1: no neighbour there
    centre = padded[:, 1:-1, 1:-1]
    neighbours = (padded[:, :-2, 1:-1], padded[:, 2:, 1:-1], padded[:, 1:-1, :-2], padded[:, 1:-1, 2:])
    lone = np.logical_and.reduce([centre != n for n in neighbours])
    colours = [len(np.unique(c)) for c in codes]
    return {
        "colours_per_picture": round(float(np.mean(colours)), 2),
        "lone_cells": round(float(lone.sum((1, 2)).mean()), 2),
    }


def labels_of(ds: Dataset, rows: np.ndarray) -> list[dict[str, str]]:
    out = []
    for row in ds.labels[rows]:
        out.append({a.name: a.values[i] for a, i in zip(ds.schema.attributes, row) if i >= 0})
    return out


def features(images: np.ndarray) -> np.ndarray:
    scale = FEATURE_SIZE // images.shape[1]
    big = images.repeat(scale, axis=1).repeat(scale, axis=2)
    return effl0_features(big, size=FEATURE_SIZE, progress=False)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default="checkpoints/pixel")
    p.add_argument("--data", default="data/pixel-16")
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--json", help="write the figures here too")
    args = p.parse_args()
    start = time.perf_counter()
    ck = load_checkpoint(args.checkpoint)
    ds = Dataset(args.data)
    n = args.samples
    requests = [resolve(ck.schema, {}, seed) for seed in range(1, n + 1)]
    raw = np.concatenate([render(ck.G, ck.schema, requests[i : i + 256], "cpu") for i in range(0, n, 256)])
    fake = ck.output.snap(raw)
    rows = np.random.default_rng(0).permutation(len(ds))[: 2 * n]
    real, other = np.asarray(ds.images[rows[:n]]), np.asarray(ds.images[rows[n:]])
    f_fake, f_real, f_other = features(fake), features(real), features(other)
    asked = [dict(r.attrs) for r in requests]
    result = {
        "checkpoint": ck.version,
        "samples": n,
        "model": {
            "kid_effl0": round(kernel_distance(f_real, f_fake), 5),
            **{k: round(v, 4) for k, v in precision_recall_coverage(f_real, f_fake, k=5).items()},
            "cells_in_palette_before_snap": round(float((raw == fake).all(axis=3).mean()), 4),
            **speckle(fake),
            "colour_attributes": colour_precision(fake, asked),
        },
        "real_vs_real": {
            "kid_effl0": round(kernel_distance(f_real, f_other), 5),
            **{k: round(v, 4) for k, v in precision_recall_coverage(f_real, f_other, k=5).items()},
            **speckle(other),
            "colour_attributes": colour_precision(other, labels_of(ds, rows[n:])),
        },
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
