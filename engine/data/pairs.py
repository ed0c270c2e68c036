"""``mascot-engine data pairs``: the same DiceBear avatars drawn small and large.

The renderer can draw an avatar at any size, so exact (small, large) pairs cost nothing:
the upscale-and-restore stage learns from them what clean lines and flat colour regions look
like at 512px. Both sides are ordinary data sets drawn with the same seed (so the same
avatars, checked label by label): ``DIR/lr`` at ``--lr`` pixels and ``DIR/hr`` at ``--hr``.
The generator's degradations are applied to the small side during training, not here, so
every epoch sees new ones.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import MascotError

# Large side / small side: 4x takes the 128 px generator to the posted 512, 8x a 64 px one.
# The upscale stage (engine/upscale/model.py) is built for exactly these.
SCALES = (2, 4, 8)

if TYPE_CHECKING:
    from engine.data.dataset import Dataset


def register(subparsers) -> None:
    p = subparsers.add_parser("pairs", help="the same avatars at two sizes (the upscaler's training pairs)")
    p.add_argument("--count", type=int, required=True, help="number of avatars")
    p.add_argument("--out", required=True, help="folder to write (lr/ and hr/ data sets inside)")
    p.add_argument("--lr", type=int, default=128, help="small side in pixels (default 128, the generator's)")
    p.add_argument("--hr", type=int, default=512, help="large side in pixels (default 512)")
    p.add_argument(
        "--seed", type=int, default=1, help="random seed (default 1: other avatars than the GAN's seed 7)"
    )
    p.set_defaults(func=_run)


def build(count: int, out: str | Path, lr: int = 128, hr: int = 512, seed: int = 1) -> Path:
    from engine.data import dicebear
    from engine.data.dataset import Dataset

    if lr < 1 or hr % lr or hr // lr not in SCALES:
        raise MascotError(f"--hr must be 2, 4 or 8 times --lr, got {lr} and {hr}")
    out = Path(out)
    for side, size in (("lr", lr), ("hr", hr)):
        if not (out / side / "card.json").is_file():
            dicebear.build(_dicebear_args(count, size, out / side, seed))
    small, large = Dataset(out / "lr"), Dataset(out / "hr")
    if len(small) != len(large) or not np.array_equal(small.labels, large.labels):
        raise MascotError(
            f"'{out}': the two sides are not the same avatars; delete the folder and build it again"
        )
    (out / "pairs.json").write_text(
        json.dumps({"count": len(small), "lr": lr, "hr": hr, "seed": seed}, indent=1)
    )
    return out


def _dicebear_args(count: int, size: int, out: Path, seed: int) -> argparse.Namespace:
    """What ``data dicebear`` itself would be given: every option it has, at its default."""
    from engine.data import dicebear

    parser = argparse.ArgumentParser()
    dicebear.register(parser.add_subparsers())
    return parser.parse_args(
        ["dicebear", "--count", str(count), "--size", str(size), "--out", str(out), "--seed", str(seed)]
    )


def pairs_scale(pairs: str | Path) -> int:
    """Large side / small side of a folder made by ``build``."""
    small, large = open_pairs(pairs)
    return large.resolution // small.resolution


def open_pairs(pairs: str | Path) -> tuple[Dataset, Dataset]:
    """The (small, large) data sets of a folder made by ``build``."""
    from engine.data.dataset import Dataset

    if not (Path(pairs) / "pairs.json").is_file():
        raise MascotError(
            f"'{pairs}' is not a pairs folder (no pairs.json): make one with 'mascot-engine data pairs'"
        )
    return Dataset(Path(pairs) / "lr"), Dataset(Path(pairs) / "hr")


def _run(args: argparse.Namespace) -> int:
    out = build(args.count, args.out, args.lr, args.hr, args.seed)
    print(f"pairs: {out}/lr ({args.lr}px) and {out}/hr ({args.hr}px), {args.count} avatars")
    return 0
