"""How much a variation looks like its parent: mean EfficientNet-Lite0 feature distance
parent -> variation against parent -> another seed, on a served model.

    python bench/variation_distance.py [--model checkpoints/default] [--parents 32] [--strength 0.3]

Each parent is a seed with its attributes drawn as /v1/generate draws them; its
variations (engine/creative.py, indices 1-4) keep those attributes, and so do the
random-seed references (the latent is all that differs), printed beside references
with their own attributes too. Distances are L2 between pooled 1280-d features at 224 px.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from engine import creative
from engine.checkpoint import load_checkpoint
from engine.effnet import pooled_features
from engine.sampling import render, resolve


def measure(model: str, parents: int, strength: float, per_parent: int = 4) -> dict:
    ck = load_checkpoint(model)
    torch.set_grad_enabled(False)
    rows = {"variation": [], "random_seed_same_attributes": [], "random_seed_own_attributes": []}
    for p in range(parents):
        seed = 1000 + p
        attrs = resolve(ck.schema, {}, seed).attrs
        parent = creative.seed_recipe(seed)
        items = [(parent, attrs)] + [
            (creative.vary(parent, i, strength), attrs) for i in range(1, per_parent + 1)
        ]
        items += [(creative.seed_recipe(50_000 + p * per_parent + i), attrs) for i in range(per_parent)]
        pixels = creative.render(ck.G, ck.schema, items)
        others = [resolve(ck.schema, {}, 90_000 + p * per_parent + i) for i in range(per_parent)]
        own = render(ck.G, ck.schema, others)
        f = pooled_features(pixels)
        g = pooled_features(own)
        d = lambda x, anchor=f[0]: (x - anchor).norm(dim=1)
        rows["variation"] += d(f[1 : per_parent + 1]).tolist()
        rows["random_seed_same_attributes"] += d(f[per_parent + 1 :]).tolist()
        rows["random_seed_own_attributes"] += d(g).tolist()
    means = {k: round(sum(v) / len(v), 3) for k, v in rows.items()}
    return {
        "model": model,
        "version": ck.version,
        "parents": parents,
        "per_parent": per_parent,
        "strength": strength,
        "mean_distance": means,
        "ratio_variation_to_random": round(means["variation"] / means["random_seed_same_attributes"], 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="checkpoints/default")
    ap.add_argument("--parents", type=int, default=32)
    ap.add_argument("--strength", type=float, default=0.3)
    args = ap.parse_args()
    start = time.perf_counter()
    out = measure(args.model, args.parents, args.strength)
    out["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
