"""How far variations move: mean EfficientNet-Lite0 feature distance parent -> variation and
variation <-> variation (siblings), against parent -> another seed, on a served model.

    python bench/variation_distance.py [--model checkpoints/default] [--parents 32] [--strength 0.4]
        [--kind step|turn] [--sheet variations.png]

Each parent is a seed with its attributes drawn as /v1/generate draws them; its variations
(engine/creative.py, indices 1-4) keep those attributes, and so do the random-seed
references (the latent is all that differs), printed beside references with their own
attributes too. Good variations differ from each other clearly (sibling distance) while each
stays nearer its parent than a random seed with the same attributes is. ``--kind turn`` draws
variations of the earlier kind (stored identities still name them) for comparison.
Distances are L2 between pooled 1280-d features at 224 px. ``--sheet`` writes the first 6
parents, each followed by its 4 variations, as a picture.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

import numpy as np
import torch
from PIL import Image

from engine import creative
from engine.checkpoint import load_checkpoint
from engine.effnet import pooled_features
from engine.sampling import render, resolve
from engine.serve.contract import DEFAULT_STRENGTH

KINDS = {"step": creative.vary, "turn": creative.turned}


def mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 3)


def measure(
    model: str, parents: int, strength: float, kind: str, per_parent: int = 4, sheet: str = ""
) -> dict:
    ck = load_checkpoint(model)
    torch.set_grad_enabled(False)
    rows = {
        "parent_to_variation": [],
        "variation_to_variation": [],
        "random_seed_same_attributes": [],
        "random_seed_own_attributes": [],
    }
    rows_for_sheet = []
    for p in range(parents):
        seed = 1000 + p
        attrs = resolve(ck.schema, {}, seed).attrs
        parent = creative.seed_recipe(seed)
        items = [(parent, attrs)] + [
            (KINDS[kind](parent, i, strength), attrs) for i in range(1, per_parent + 1)
        ]
        items += [(creative.seed_recipe(50_000 + p * per_parent + i), attrs) for i in range(per_parent)]
        pixels = creative.render(ck.G, ck.schema, items)
        others = [resolve(ck.schema, {}, 90_000 + p * per_parent + i) for i in range(per_parent)]
        own = render(ck.G, ck.schema, others)
        f = pooled_features(pixels)
        g = pooled_features(own)
        kids = f[1 : per_parent + 1]
        d = lambda x, anchor=f[0]: (x - anchor).norm(dim=1)
        rows["parent_to_variation"] += d(kids).tolist()
        rows["variation_to_variation"] += [
            float((kids[a] - kids[b]).norm()) for a, b in itertools.combinations(range(per_parent), 2)
        ]
        rows["random_seed_same_attributes"] += d(f[per_parent + 1 :]).tolist()
        rows["random_seed_own_attributes"] += d(g).tolist()
        if p < 6:
            rows_for_sheet.append(np.concatenate(list(pixels[: per_parent + 1]), axis=1))
    if sheet:
        Image.fromarray(np.concatenate(rows_for_sheet, axis=0)).save(sheet)
    means = {k: mean(v) for k, v in rows.items()}
    random = means["random_seed_same_attributes"]
    return {
        "model": model,
        "version": ck.version,
        "parents": parents,
        "per_parent": per_parent,
        "kind": kind,
        "strength": strength,
        "mean_distance": means,
        "ratio_parent_to_random": round(means["parent_to_variation"] / random, 3),
        "ratio_sibling_to_random": round(means["variation_to_variation"] / random, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="checkpoints/default")
    ap.add_argument("--parents", type=int, default=32)
    ap.add_argument("--strength", type=float, default=DEFAULT_STRENGTH)
    ap.add_argument("--kind", choices=sorted(KINDS), default="step")
    ap.add_argument("--sheet", default="")
    args = ap.parse_args()
    start = time.perf_counter()
    out = measure(args.model, args.parents, args.strength, args.kind, sheet=args.sheet)
    out["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
