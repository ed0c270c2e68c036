"""``mascot-engine upscale train | measure``: the upscale-and-restore stage."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path


def register(subparsers) -> None:
    up = subparsers.add_parser("upscale", help="train and measure the upscale-and-restore stage")
    sub = up.add_subparsers(dest="upscale_command", required=True, metavar="ACTION")
    t = sub.add_parser("train", help="train on (small, large) render pairs; Ctrl-C leaves a checkpoint")
    t.add_argument("--pairs", required=True, help="folder made by 'mascot-engine data pairs'")
    t.add_argument("--out", default="runs/upscale", help="run folder (model/, resume.*, stats, PNGs)")
    t.add_argument("--steps", type=int, help="train until this many steps in all (default 20000)")
    t.add_argument("--minutes", type=float, help="stop this session after this long")
    t.add_argument("--batch", type=int, help="crops per step (default 16)")
    t.add_argument("--patch", type=int, help="side of the small crops (default 32)")
    t.add_argument("--lr", type=float, help="Adam learning rate (default 2e-4)")
    t.add_argument(
        "--perceptual", type=float, help="weight of the EfficientNet-Lite0 feature loss (default 0.02)"
    )
    t.add_argument("--channels", type=int, help="width of the network (default 32)")
    t.add_argument("--blocks", type=int, help="residual blocks (default 6)")
    t.add_argument(
        "--scale", type=int, choices=[2, 4, 8], help="output side / input side (default: the pairs')"
    )
    t.add_argument("--resume", action="store_true", help="continue the run in --out")
    t.set_defaults(func=_train)
    m = sub.add_parser("measure", help="PSNR and feature distance on held-out degraded pairs, vs Lanczos")
    m.add_argument("--checkpoint", required=True, help="upscaler folder (e.g. checkpoints/upscale)")
    m.add_argument("--pairs", required=True)
    m.add_argument("--images", type=int, default=64)
    m.add_argument("--json", help="also write the figures to this file")
    # What the stage does to a generator's samples by KID is evaluation's: 'mascot-engine eval --size 256
    # --upscaler DIR' beside '--upscaler lanczos' (docs/upscale.md).
    m.add_argument("--generator", help="also draw this checkpoint's samples as a side-by-side sheet")
    m.add_argument("--grid", help="with --generator: write the side-by-side sheet here (and NAME-512.png)")
    m.set_defaults(func=_measure)


def _train(args: argparse.Namespace) -> int:
    from engine.data.pairs import pairs_scale
    from engine.upscale.model import UpscalerArch
    from engine.upscale.train import UpscaleRun, UpscaleTrainConfig

    scale = args.scale or pairs_scale(args.pairs)
    arch = UpscalerArch(
        scale=scale,
        **{k: v for k, v in (("channels", args.channels), ("blocks", args.blocks)) if v is not None},
    )
    flags = {
        "pairs": args.pairs,
        "out": args.out,
        "steps": args.steps,
        "minutes": args.minutes,
        "batch_size": args.batch,
        "patch": args.patch,
        "lr": args.lr,
        "perceptual": args.perceptual,
    }
    cfg = dataclasses.replace(
        UpscaleTrainConfig(arch=arch, resume=args.resume), **{k: v for k, v in flags.items() if v is not None}
    )
    print(f"upscaler: {UpscaleRun(cfg).run()}")
    return 0


def _measure(args: argparse.Namespace) -> int:
    from engine.upscale.measure import measure, side_by_side

    table = measure(args.checkpoint, args.pairs, args.images)
    print(f"{'':18s}{'PSNR dB':>9s}{'feature distance':>18s}   ({args.images} held-out pairs, degraded)")
    for name, row in table.items():
        print(f"{name:18s}{row['psnr_db']:>9.2f}{row['feature_distance']:>18.3f}")
    if args.generator and args.grid:
        print(f"wrote {side_by_side(args.checkpoint, args.generator, args.grid)}")
    print(json.dumps(table))
    if args.json:
        from engine.atomic import atomic_write_text

        atomic_write_text(Path(args.json), json.dumps(table, indent=1))
    return 0
