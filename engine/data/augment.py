"""``mascot-engine data augment``: YuruGAN's offline augmentation of a small set.

The paper multiplies its 4,018 mascots by five with Keras' ImageDataGenerator: rotation
within ±8°, a shift within ±5 % of the side, zoom between 90 % and 110 %. Here each
original is written first, then ``factor - 1`` copies, each with its own random
rotation, shift (both axes) and zoom (one scale for both axes: a mascot's proportions are
part of its identity). Labels and tags are kept; every copy's tags record its original
(``augment.source``) and the parameters drawn, so clustering can label the originals
only and pass their labels on, as the paper does. Corners the transform uncovers are
filled with the image's border colour (the median of its outermost pixels), which for a
mascot on a plain background is that background, so no black wedges appear.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import MascotError

MAX_FACTOR = 100


@dataclass(frozen=True)
class AugmentConfig:
    factor: int = 5  # output size / input size; the originals are included
    max_rotate_deg: float = 8.0
    max_shift: float = 0.05  # fraction of the side, each axis
    zoom: tuple[float, float] = (0.9, 1.1)
    seed: int = 0


@dataclass(frozen=True)
class Jitter:
    """One drawn transform."""

    rotate_deg: float
    shift: tuple[float, float]  # fraction of the side, (x, y)
    zoom: float

    def as_tags(self) -> dict[str, Any]:
        return {
            "rotate_deg": round(self.rotate_deg, 3),
            "shift": [round(s, 4) for s in self.shift],
            "zoom": round(self.zoom, 4),
        }


def draw_jitter(cfg: AugmentConfig, rng: np.random.Generator) -> Jitter:
    rotate = rng.uniform(-cfg.max_rotate_deg, cfg.max_rotate_deg)
    shift = rng.uniform(-cfg.max_shift, cfg.max_shift, size=2)
    return Jitter(float(rotate), (float(shift[0]), float(shift[1])), float(rng.uniform(*cfg.zoom)))


def border_colour(image: np.ndarray) -> tuple[int, int, int]:
    """Median colour of the outermost ring of pixels: the background, for a mascot picture."""
    ring = np.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]])
    return tuple(int(c) for c in np.median(ring, axis=0))


def apply_jitter(image: np.ndarray, jitter: Jitter) -> np.ndarray:
    """``image`` rotated, zoomed about its centre and shifted; uncovered corners in its border colour."""
    from PIL import Image

    size = image.shape[0]
    centre = (size - 1) / 2.0
    angle = np.deg2rad(jitter.rotate_deg)
    # PIL's AFFINE maps each output pixel to the input pixel it samples, so this is the
    # inverse of "zoom, rotate about the centre, then shift".
    cos, sin = np.cos(angle) / jitter.zoom, np.sin(angle) / jitter.zoom
    tx, ty = centre + jitter.shift[0] * size, centre + jitter.shift[1] * size
    a, b, d, e = cos, sin, -sin, cos
    c = centre - a * tx - b * ty
    f = centre - d * tx - e * ty
    out = Image.fromarray(image).transform(
        (size, size),
        Image.Transform.AFFINE,
        (a, b, c, d, e, f),
        resample=Image.Resampling.BICUBIC,
        fillcolor=border_colour(image),
    )
    return np.asarray(out, dtype=np.uint8)


def augment_dataset(src: Path, out: Path, cfg: AugmentConfig) -> dict[str, Any]:
    """Write ``factor`` images per image of ``src`` (the original first) to ``out``."""
    from tqdm import tqdm

    from engine.data.dataset import Dataset, DatasetWriter, Source

    if not 1 <= cfg.factor <= MAX_FACTOR:
        raise MascotError(
            f"--factor must be a whole number from 1 to {MAX_FACTOR} (the paper uses 5), got {cfg.factor}"
        )
    if src.resolve() == out.resolve():
        raise MascotError(
            "--out must differ from the input folder; the input is read while the output is written"
        )
    ds = Dataset(src)
    tags = ds.tags()
    rng = np.random.default_rng(cfg.seed)
    description = (
        f"{ds.card.get('description') or src.name}, augmented x{cfg.factor} (YuruGAN: ±8°, ±5%, 90-110%)"
    )
    with DatasetWriter(
        out,
        resolution=ds.resolution,
        schema=ds.schema,
        capacity=len(ds) * cfg.factor,
        description=description,
    ) as writer:
        writer.sources = [Source(**s) for s in ds.card.get("sources", [])]
        for i in tqdm(range(len(ds)), desc="augment", unit="img"):
            original = np.asarray(ds.images[i])
            writer.add(original, ds.labels[i], tags={**tags[i], "augment": {"source": i}})
            for _ in range(cfg.factor - 1):
                jitter = draw_jitter(cfg, rng)
                writer.add(
                    apply_jitter(original, jitter),
                    ds.labels[i],
                    tags={**tags[i], "augment": {"source": i, **jitter.as_tags()}},
                )
    return {"count": len(ds) * cfg.factor, "originals": len(ds)}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "augment",
        help="YuruGAN's offline augmentation (rotate, shift, zoom)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", help="data set folder to augment")
    p.add_argument(
        "--factor", type=int, default=5, help="images out per image in, originals included (default 5)"
    )
    p.add_argument("--out", default=None, help="data set folder to write (default: DIR-aug)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    src = Path(args.dir)
    out = Path(args.out) if args.out else src.with_name(src.name + "-aug")
    result = augment_dataset(src, out, AugmentConfig(factor=args.factor, seed=args.seed))
    print(f"wrote {result['count']} images ({result['originals']} originals x{args.factor}) to {out}")
    return 0
