"""What each discriminator augmentation buys on a small set: families x modes at an equal budget.

    OMP_NUM_THREADS=2 python bench/augment_small_data.py
    python bench/augment_small_data.py --families dcgan projected --modes ada diffaugment none \\
        --images 300 --res 32 --kimg 20 --samples 1000

A user with a few hundred pictures is who ``train --augment`` is for, so the set is that small:
``--images`` DiceBear renders drawn (seeded) from data/tag-seen-2k-64 and resized to ``--res``,
with a further 1,000 renders of the same source held out. Every family x mode trains with the
family's default settings, the same seed and the same number of images shown (``--kimg``; an
equal kimg rather than equal minutes, since other jobs share this CPU). Each run is then judged
by the project's metrics on ``--samples`` samples: KID on EfficientNet-Lite0 features against
the training images (as ``mascot-engine eval``) and against the held-out renders (the same
distribution, pictures G never saw), and memorization (share of samples nearer a training image
than training images are to each other, and of near-copies).

Writes bench/augment_small_data.json (one row per run), docs/augment.png (each run's samples
side by side, with ADA's p over the run), and prints a Markdown table. Run folders and the
subsets go under ``--out`` (runs/augment-bench); a finished run is not trained again.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from engine import features as F
from engine.checkpoint import load_checkpoint
from engine.data.dataset import Dataset, DatasetWriter, Source
from engine.metrics.context import EvalConfig, EvalContext
from engine.metrics.kid import KIDOptions, kernel_distance
from engine.metrics.memorization import MemorizationOptions
from engine.metrics.registry import get_metric
from engine.sampling import render, resolve
from engine.train.config import TrainConfig
from engine.train.loop import train

SOURCE = Path("data/tag-seen-2k-64")
HELD_OUT = 1000
GRID_SEEDS = 16  # a 4x4 sheet of samples per run in the figure


def build_subsets(out: Path, n_train: int, res: int, seed: int) -> tuple[Path, Path]:
    """``n_train`` images to train on and ``HELD_OUT`` others of the same source, at ``res``."""
    src = Dataset(SOURCE)
    order = np.random.default_rng(seed).permutation(len(src))
    parts = {"train": order[:n_train], "heldout": order[n_train : n_train + HELD_OUT]}
    folders = {name: out / f"dicebear-{name}-{len(idx)}-{res}px" for name, idx in parts.items()}
    for name, idx in parts.items():
        if not (folders[name] / "card.json").is_file():
            write_subset(src, np.sort(idx), res, folders[name], f"{name} subset of {SOURCE}, seed {seed}")
    return folders["train"], folders["heldout"]


def write_subset(src: Dataset, idx: np.ndarray, res: int, out: Path, description: str) -> None:
    with DatasetWriter(
        out, resolution=res, schema=src.schema, capacity=len(idx), description=description
    ) as w:
        for i in idx:
            image = Image.fromarray(np.asarray(src.images[i])).resize((res, res), Image.Resampling.LANCZOS)
            w.add(np.asarray(image), src.labels[i])
        w.sources = [Source(**s) for s in src.card.get("sources", [])]


def train_run(family: str, mode: str, data: Path, out: Path, args) -> Path:
    if (out / "model" / "model.json").is_file():
        return out / "model"
    cfg = TrainConfig().with_overrides(
        dict(
            family=family,
            augment=mode,
            data=str(data),
            out=str(out),
            kimg=args.kimg,
            batch_size=args.batch,
            tick_kimg=args.kimg / 20,
            snapshot_kimg=args.kimg,
            seed=args.seed,
            device="cpu",
        )
    )
    return train(cfg)


def judge(model: Path, data: Path, heldout: Path, samples: int, out: Path) -> dict:
    """KID against the training images and the held-out ones, and memorization, on one set of samples."""
    out.mkdir(parents=True, exist_ok=True)
    ctx = EvalContext(load_checkpoint(model), Dataset(data), EvalConfig(samples=samples, progress=False), out)
    kid_train = get_metric("kid_effl0").fn(ctx, KIDOptions())["kid"]
    memo = get_metric("memorization").fn(ctx, MemorizationOptions())
    held = F.cached_real_effl0(
        Dataset(heldout), size=ctx.config.feature_size, max_real=HELD_OUT, progress=False
    )
    return {
        "kid_train": kid_train,
        "kid_heldout": kernel_distance(held, ctx.gen_effl0()),
        "nearer_than_train_nn": memo["frac_nearer_than_median_train_nn"],
        "near_copies": memo["near_copy_fraction"],
    }


def ada_curve(run: Path) -> list[tuple[float, float]]:
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines() if line.strip()]
    return [(r["kimg"], r["stat/ada_p"]) for r in rows if "stat/ada_p" in r]


def sample_sheet(model: Path) -> np.ndarray:
    ckpt = load_checkpoint(model)
    images = render(ckpt.G, ckpt.schema, [resolve(ckpt.schema, {}, s) for s in range(GRID_SEEDS)])
    side = int(GRID_SEEDS**0.5)
    rows = [np.concatenate(list(images[r * side : (r + 1) * side]), axis=1) for r in range(side)]
    return np.concatenate(rows, axis=0)


def figure(rows: list[dict], runs: Path, data: Path, modes: list[str], path: Path) -> None:
    """One row per family: the training images, each mode's samples, ADA's p over the run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    families = list(dict.fromkeys(r["family"] for r in rows))
    cols = len(modes) + 2
    fig, axes = plt.subplots(len(families), cols, figsize=(2.6 * cols, 2.9 * len(families)), squeeze=False)
    real = np.asarray(Dataset(data).images[:GRID_SEEDS])
    side = int(GRID_SEEDS**0.5)
    real_sheet = np.concatenate(
        [np.concatenate(list(real[r * side : (r + 1) * side]), 1) for r in range(side)]
    )
    for i, family in enumerate(families):
        axes[i, 0].imshow(real_sheet)
        axes[i, 0].set_title("training images", fontsize=9)
        axes[i, 0].set_ylabel(family, fontsize=11)
        for j, mode in enumerate(modes):
            row = next(r for r in rows if r["family"] == family and r["mode"] == mode)
            axes[i, j + 1].imshow(sample_sheet(runs / f"{family}-{mode}" / "model"))
            axes[i, j + 1].set_title(
                f"{mode}\nKID train {row['kid_train']:.3f} / held-out {row['kid_heldout']:.3f}", fontsize=8
            )
        for ax in axes[i, : cols - 1]:
            ax.set_xticks([])
            ax.set_yticks([])
        curve = ada_curve(runs / f"{family}-ada")
        axes[i, -1].plot([k for k, _ in curve], [p for _, p in curve])
        axes[i, -1].set_title("ADA p (with --augment ada)", fontsize=9)
        axes[i, -1].set_xlabel("kimg", fontsize=8)
        axes[i, -1].set_ylim(bottom=0)
        axes[i, -1].grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def markdown_table(rows: list[dict]) -> str:
    lines = [
        "| family | --augment | KID vs train | KID vs held-out | nearer than train NN | near-copies "
        "| final ADA p | train min |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        p = "" if r["ada_p"] is None else f"{r['ada_p']:.3f}"
        lines.append(
            f"| {r['family']} | {r['mode']} | {r['kid_train']:.4f} | {r['kid_heldout']:.4f} | "
            f"{r['nearer_than_train_nn']:.2f} | {r['near_copies']:.3f} | {p} | "
            f"{r['train_seconds'] / 60:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--families", nargs="+", default=["dcgan", "projected"])
    ap.add_argument("--modes", nargs="+", default=["ada", "diffaugment", "none"])
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--res", type=int, default=32)
    ap.add_argument("--kimg", type=float, default=20.0)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/augment-bench")
    ap.add_argument("--json", default="bench/augment_small_data.json")
    ap.add_argument("--png", default="docs/augment.png")
    args = ap.parse_args()

    out = Path(args.out)
    data, heldout = build_subsets(out, args.images, args.res, args.seed)
    rows = []
    for family in args.families:
        for mode in args.modes:
            run = out / f"{family}-{mode}"
            start = time.time()
            model = train_run(family, mode, data, run, args)
            print(f"{family} --augment {mode}: trained in {(time.time() - start) / 60:.1f} min", flush=True)
            meta = json.loads((model / "model.json").read_text())
            curve = ada_curve(run)
            scores = judge(model, data, heldout, args.samples, run / "report")
            rows.append(
                {
                    "family": family,
                    "mode": mode,
                    "kimg": meta["training"]["kimg"],
                    "train_seconds": meta["training"]["seconds"],
                    "ada_p": curve[-1][1] if curve else None,
                    **scores,
                }
            )
            print(markdown_table(rows[-1:]).splitlines()[-1], flush=True)
    settings = {k: v for k, v in vars(args).items() if k not in ("json", "png")}
    Path(args.json).write_text(json.dumps({"settings": settings, "rows": rows}, indent=1))
    figure(rows, out, data, args.modes, Path(args.png))
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
