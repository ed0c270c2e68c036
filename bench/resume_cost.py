"""What a compact resume point costs against an exact one.

    python bench/resume_cost.py --exact RUN_DIR --data data/dicebear-20k-128 [--steps 40] [--batch 8]

RUN_DIR holds an exact resume point (fp32 weights and Adam moments, as the training loop
writes it). The script continues it twice for the same steps with the same data order and
latents: once exactly, once from ``compact_resume``'s copy (weights in bf16, optimizer state
dropped). A third, exact run with other random draws (data order, latents) is the noise
floor: how far two equally valid continuations drift apart anyway. It prints how far each
run's EMA generator ends from the exact run's on fixed samples (mean absolute pixel
difference, in [0, 2] units), how far the exact run's EMA generator moved over those steps,
and the last losses.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from engine.checkpoint import compact_resume, load_checkpoint
from engine.sampling import render, resolve
from engine.train.config import TrainConfig
from engine.train.loop import TrainingRun

SEEDS = range(16)


def pixels(model_dir: Path) -> np.ndarray:
    ck = load_checkpoint(model_dir)
    return render(ck.G, ck.schema, [resolve(ck.schema, {}, s) for s in SEEDS]).astype(np.float64) / 127.5


def continue_run(run_dir: Path, data: str, steps: int, batch: int) -> list[dict]:
    meta = json.loads((run_dir / "resume.json").read_text())
    nimg = meta["state"]["nimg"]
    cfg = TrainConfig(
        family=meta["family"],
        data=data,
        out=str(run_dir),
        resume=True,
        batch_size=batch,
        kimg=max(nimg + steps * batch, 1) / 1000,
        cond_dropout=0.3,
        device="cpu",
        tick_kimg=1e6,
        snapshot_kimg=1e6,
        check_every=max(steps, 1),
    )
    TrainingRun(cfg).run()
    stats = run_dir / "stats.jsonl"
    return [json.loads(line) for line in stats.read_text().splitlines()][-1:] if stats.is_file() else []


def reseed(run_dir: Path) -> None:
    """Give a copied run other random draws (latents, data order) from here on."""
    meta = json.loads((run_dir / "resume.json").read_text())
    state = torch.Generator().manual_seed(987654321).get_state()
    encoded = base64.b64encode(state.numpy().tobytes()).decode()
    meta["rng"] = {"torch": encoded, "data": encoded}
    (run_dir / "resume.json").write_text(json.dumps(meta))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exact", required=True, type=Path, help="run folder with an exact resume point")
    ap.add_argument("--data", required=True)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        exact, compact, start, other = (Path(tmp) / name for name in ("exact", "compact", "start", "other"))
        for copy in (exact, start, other):
            shutil.copytree(args.exact, copy, ignore=shutil.ignore_patterns("grids", "stats.jsonl", "model"))
        compact_resume(exact, compact)
        reseed(other)
        continue_run(start, args.data, 0, args.batch)  # no step: writes the starting EMA generator
        before = pixels(start / "model")
        last = {
            name: continue_run(d, args.data, args.steps, args.batch)
            for name, d in (("exact", exact), ("compact", compact), ("other draws", other))
        }
        after = {
            name: pixels(d / "model")
            for name, d in (("exact", exact), ("compact", compact), ("other", other))
        }
    print(
        f"{args.steps} steps of batch {args.batch} from {args.exact} "
        "(mean |pixel| of EMA generator outputs, [0, 2]):"
    )
    print(f"  the exact run moved from the start            {np.abs(after['exact'] - before).mean():.5f}")
    print(
        "  compact resume vs exact                       "
        f"{np.abs(after['compact'] - after['exact']).mean():.5f}"
    )
    print(
        "  exact with other draws vs exact (noise floor) "
        f"{np.abs(after['other'] - after['exact']).mean():.5f}"
    )
    for name, stats in last.items():
        shown = {
            k: round(v, 4) for k, v in (stats[0] if stats else {}).items() if k.startswith(("loss/", "stat/"))
        }
        print(f"  {name:8s} last tick: {shown}")


if __name__ == "__main__":
    main()
