"""Seeds 1-16 of the pixel-art model beside real DiceBear renders with the same attributes.

    python bench/pixel_grid.py --checkpoint checkpoints/pixel --out docs/pixel-grid.png

Each seed is drawn the way the engine serves it (the attributes it resolves, the
generator, the palette snap, the nearest-neighbour enlargement) and set above a real
pixel-art avatar that DiceBear draws with the same attributes (Node, as for the data).
Rows alternate: model, then real. ``--cell`` is the side each picture gets in the sheet;
``--json`` also writes each seed's attributes and whether every model cell is a palette colour.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from engine.checkpoint import load_checkpoint
from engine.data.dataset import contact_sheet
from engine.data.dicebear import (
    BACKGROUND,
    NodeRenderer,
    Sampler,
    cache_dir,
    ensure_dicebear,
    rasterize,
)
from engine.sampling import render, resolve

STYLE = "pixel-art"
TRIES = 400  # draws per seed until DiceBear shows every asked value (hair under a hat does not)


def model_pictures(checkpoint: str, seeds: list[int], size: int):
    ck = load_checkpoint(checkpoint)
    requests = [resolve(ck.schema, {}, seed) for seed in seeds]
    cells = render(ck.G, ck.schema, requests, "cpu")
    return ck, [dict(r.attrs) for r in requests], ck.output.finish(cells, size)


def real_pictures(schema, wanted: list[dict[str, str]], size: int) -> np.ndarray:
    """One DiceBear pixel-art avatar per attribute set, showing every asked value."""
    from engine.data.dicebear import STYLES

    spec = STYLES[STYLE]
    out = []
    with NodeRenderer(ensure_dicebear(cache_dir()), [spec.export]) as node:
        for i, attrs in enumerate(wanted):
            forced = {k: v for k, v in attrs.items() if k != "style"}
            sampler = Sampler(schema, (STYLE,), forced, seed=i)
            out.append(_first_match(sampler, node, forced, size))
    return np.stack(out)


def _first_match(sampler: Sampler, node: NodeRenderer, forced: dict[str, str], size: int) -> np.ndarray:
    for _ in range(TRIES):
        draw = sampler.draw()
        (rendered,) = node.render([draw.request])
        image, visible = rasterize((rendered["svg"], rendered["probes"], 16, BACKGROUND[draw.background]))
        labels = draw.spec.labels(rendered["extra"], rendered["svg"], visible)
        labels["background"] = draw.background
        if all(labels.get(k) == v for k, v in forced.items()):
            scale = size // 16
            return image.repeat(scale, axis=0).repeat(scale, axis=1)
    raise SystemExit(f"DiceBear drew nothing showing {forced} in {TRIES} tries")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default="checkpoints/pixel")
    p.add_argument("--out", default="docs/pixel-grid.png")
    p.add_argument("--seeds", type=int, default=16, help="seeds 1..N")
    p.add_argument(
        "--cell", type=int, default=128, choices=(16, 128, 256, 512), help="side of each picture in the sheet"
    )
    p.add_argument("--no-real", action="store_true", help="the model's pictures only")
    p.add_argument("--json", help="also write each seed's attributes and palette check here")
    args = p.parse_args()
    seeds = list(range(1, args.seeds + 1))
    ck, attrs, fake = model_pictures(args.checkpoint, seeds, args.cell)
    palette = {tuple(c) for c in ck.output.palette.tolist()}
    in_palette = [{tuple(c) for c in img.reshape(-1, 3).tolist()} <= palette for img in fake]
    columns = 8
    if args.no_real:
        sheet = fake
    else:
        real = real_pictures(ck.schema, attrs, args.cell)
        rows = []
        for start in range(0, len(seeds), columns):
            rows += [fake[start : start + columns], real[start : start + columns]]
        sheet = np.concatenate(rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(sheet, columns=columns).save(args.out)
    print(f"wrote {args.out}: seeds 1-{args.seeds}; every model cell a palette colour: {all(in_palette)}")
    if args.json:
        rows = [
            {"seed": s, "attributes": a, "palette_only": ok} for s, a, ok in zip(seeds, attrs, in_palette)
        ]
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
