"""How near picture -> mascot gets: the inverted mascot against random ones, on pictures with known labels.

    python bench/invert_quality.py --pictures data/real-256 --count 8 [--checkpoint checkpoints/default]
        [--tagger checkpoints/tagger] [--steps 80] [--sheet docs/invert-sheet.png]

For each picture: EfficientNet-Lite0 pooled-feature distance from the picture to (a) its
inverted mascot, (b) the nearest of the search's seeded starts (no optimisation), and (c) the
mean of 8 random mascots with the same attributes; and the share of the picture's own labels
(where its data set has them) that the mascot's attributes match. Writes a sheet of
picture | mascot rows (--sheet) and the figures as JSON (--json).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.checkpoint import load_checkpoint
from engine.data.dataset import Dataset, contact_sheet
from engine.effnet import pooled_features
from engine.invert import InvertConfig, Inverter, fit_square
from engine.metrics.evalnet import load_tagger
from engine.sampling import render, resolve, to_uint8


def draw(ck, z: np.ndarray, attrs: dict[str, str]) -> np.ndarray:
    c = torch.from_numpy(ck.schema.encode(attrs))[None].float()
    with torch.no_grad():
        return to_uint8(ck.G(torch.from_numpy(z)[None], c))[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--pictures", required=True, help="a data set folder (its labels, when known, are checked)"
    )
    ap.add_argument("--count", type=int, default=8)
    ap.add_argument("--checkpoint", default="checkpoints/default")
    ap.add_argument("--tagger", default="checkpoints/tagger")
    ap.add_argument("--steps", type=int, default=InvertConfig.steps)
    ap.add_argument("--sheet", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    ck = load_checkpoint(args.checkpoint)
    tagger = load_tagger(args.tagger) if args.tagger else None
    cfg = InvertConfig(steps=args.steps, budget_s=600)
    inverter = Inverter(ck.G, ck.schema, ck.resolution, tagger, cfg)
    starts_only = Inverter(ck.G, ck.schema, ck.resolution, tagger, dataclasses.replace(cfg, steps=1))
    ds = Dataset(args.pictures)
    rows, sheet = [], []
    for i in np.linspace(0, len(ds) - 1, args.count).astype(int):
        picture = np.asarray(ds.images[i])
        start = time.perf_counter()
        found = inverter(picture)
        seconds = time.perf_counter() - start
        first = starts_only(picture)
        mascot, start_pic = draw(ck, found.latent, found.attributes), draw(ck, first.latent, first.attributes)
        randoms = render(ck.G, ck.schema, [resolve(ck.schema, found.attributes, 1000 + k) for k in range(8)])
        feats = pooled_features(
            np.stack([fit_square(picture, ck.resolution), mascot, start_pic, *randoms])
        ).numpy()
        dist = np.linalg.norm(feats[1:] - feats[0], axis=1)
        truth = {a.name: a.values[v] for a, v in zip(ds.schema.attributes, ds.labels[i]) if v >= 0}
        shared = [k for k in truth if k in found.attributes]
        rows.append(
            {
                "index": int(i),
                "mascot": float(dist[0]),
                "best_start": float(dist[1]),
                "random_mean": float(dist[2:].mean()),
                "steps": found.steps,
                "seconds": seconds,
                "labels_matched": (sum(truth[k] == found.attributes[k] for k in shared) / len(shared))
                if shared
                else None,
            }
        )
        sheet += [fit_square(picture, ck.resolution), mascot]
        print(
            f"picture {i}: distance to mascot {dist[0]:.2f}, best start {dist[1]:.2f}, random "
            f"{dist[2:].mean():.2f}; "
            f"{found.steps} steps in {seconds:.1f} s"
        )
    mean = {
        k: float(np.mean([r[k] for r in rows if r[k] is not None]))
        for k in ("mascot", "best_start", "random_mean", "seconds", "labels_matched")
        if any(r[k] is not None for r in rows)
    }
    print("mean: " + ", ".join(f"{k} {v:.3f}" for k, v in mean.items()))
    if args.sheet:
        contact_sheet(np.stack(sheet), columns=2).save(args.sheet)
        print(f"wrote {args.sheet} (picture | mascot)")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "mean": mean, "steps": args.steps}, indent=1))


if __name__ == "__main__":
    main()
