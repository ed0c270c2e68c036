"""The grid a person judges a model by: seeds 1-16 of each offered style, each beside a real
render of the same attributes, at the posted size.

The model's mascot is drawn exactly as the service draws ``/mascot style:S seed:N`` (attributes
the request leaves open come from the seed, truncation 1, the upscale stage to the posted
size); the real one is DiceBear drawing those attributes, so every difference between the
two pictures of a pair is the model's. One PNG per style: four rows of four pairs, model
left, DiceBear right, cells at ``cell`` pixels (the posted picture scaled down, so a style's
sheet stays a few megabytes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from engine.atomic import atomic_write_bytes
from engine.errors import MascotError

SEEDS = tuple(range(1, 17))
PAIRS_PER_ROW = 4
GAP = 8  # pixels between pairs, none inside a pair; dark, so that white backgrounds stay apart
GAP_GREY = 64


def style_requests(schema, style: str | None, seeds: Sequence[int] = SEEDS) -> list:
    from engine.sampling import resolve

    given = {"style": style} if style is not None else {}
    return [resolve(schema, given, seed) for seed in seeds]


def dicebear_renders(attrs: Sequence[Mapping[str, str]], size: int) -> np.ndarray:
    """DiceBear drawing each attribute set (a part the set leaves open, such as hair under a
    hat, takes the first colour of its palette: it is hidden or absent anyway)."""
    from engine.data import dicebear as D

    requests = []
    for n, a in enumerate(attrs):
        spec = D.STYLES[a["style"]]
        full = {"smile": "no", "glasses": "no", "hat": "no", **a}
        colours = {
            "hair": D.HAIR[a.get("hair", "black")][0],
            "eyes": D.EYES[a.get("eyes", "black")][0],
            "skin": D.SKIN[a.get("skin", "light")][0],
        }
        requests.append(
            {"style": spec.export, "options": spec.options(full, colours, f"grid-{n}"), "probes": {}}
        )
    exports = sorted({r["style"] for r in requests})
    with D.NodeRenderer(D.ensure_dicebear(D.cache_dir()), exports) as node:
        rendered = node.render(requests)
    backgrounds = [D.BACKGROUND[a.get("background", "white")] for a in attrs]
    return np.stack([D.rasterize((r["svg"], {}, size, bg))[0] for r, bg in zip(rendered, backgrounds)])


def pair_sheet(model: np.ndarray, real: np.ndarray, cell: int) -> np.ndarray:
    """Pairs (model, real) side by side, PAIRS_PER_ROW pairs a row, uint8 (H, W, 3)."""
    from PIL import Image

    if len(model) != len(real) or not len(model):
        raise MascotError(f"a grid needs as many real renders as mascots; got {len(model)} and {len(real)}")

    def fit(image: np.ndarray) -> np.ndarray:
        if image.shape[0] == cell:
            return image
        return np.asarray(Image.fromarray(image).resize((cell, cell), Image.LANCZOS))

    rows = -(-len(model) // PAIRS_PER_ROW)
    width = PAIRS_PER_ROW * 2 * cell + (PAIRS_PER_ROW - 1) * GAP
    sheet = np.full((rows * cell + (rows - 1) * GAP, width, 3), GAP_GREY, np.uint8)
    for n, (m, r) in enumerate(zip(model, real)):
        y, x = (n // PAIRS_PER_ROW) * (cell + GAP), (n % PAIRS_PER_ROW) * (2 * cell + GAP)
        sheet[y : y + cell, x : x + cell] = fit(m)
        sheet[y : y + cell, x + cell : x + 2 * cell] = fit(r)
    return sheet


def write_grids(
    ctx,
    styles: Sequence[str] | None,
    out_dir: Path,
    real_renderer: Callable[[Sequence[Mapping[str, str]], int], np.ndarray] = dicebear_renders,
    cell: int = 256,
) -> dict[str, str]:
    """One sheet per style (or one for a model without styles) in ``out_dir``: style -> file name."""
    import io

    from PIL import Image

    size = ctx.config.size or ctx.checkpoint.meta.get("resolution")
    written = {}
    for style in styles or [None]:
        requests = style_requests(ctx.checkpoint.schema, style)
        model = ctx.posted(ctx.render(requests, desc=None), show=False)
        real = real_renderer([dict(r.attrs) for r in requests], size)
        name = f"grid-{style}.png" if style else "grid.png"
        buf = io.BytesIO()
        Image.fromarray(pair_sheet(model, real, min(cell, size))).save(buf, format="PNG", optimize=True)
        atomic_write_bytes(out_dir / name, buf.getvalue())
        written[style or "all"] = name
    return written
