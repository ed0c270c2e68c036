"""``mascot-engine train``: flags over config.toml's [train] over TrainConfig defaults."""

from __future__ import annotations

import argparse
import ast
from typing import Any

from engine.errors import MascotError
from engine.train.presets import PRESETS, preset

FLAG_TO_FIELD = {
    "family": "family",
    "data": "data",
    "out": "out",
    "res": "resolution",
    "kimg": "kimg",
    "minutes": "minutes",
    "session_minutes": "session_minutes",
    "check_every": "check_every",
    "batch": "batch_size",
    "lr_g": "lr_g",
    "lr_d": "lr_d",
    "seed": "seed",
    "tick_kimg": "tick_kimg",
    "snapshot_kimg": "snapshot_kimg",
    "device": "device",
    "precision": "precision",
    "init_from": "init_from",
    "freeze_d": "freeze_d",
    "grid_attribute": "grid_attribute",
    "extra_data": "extra_data",
    "extra_share": "extra_share",
    "cond_dropout": "cond_dropout",
    "augment": "augment",
}


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a generator family on a data set")
    p.add_argument("--config", help="settings file (default: ./config.toml)")
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="a whole recipe from engine/train/presets.py; other flags override its values",
    )
    p.add_argument("--family", help="dcgan | acgan | yurugan | stylegan2 | projected")
    p.add_argument("--data", help="data set folder")
    p.add_argument("--out", help="run folder (checkpoints, grids, stats)")
    p.add_argument("--res", type=int, help="training resolution (default: the data's)")
    p.add_argument("--kimg", type=float, help="length in thousands of real images")
    p.add_argument(
        "--minutes", type=float, help="stop once training has taken this long (all sessions together)"
    )
    p.add_argument(
        "--session-minutes",
        type=float,
        help="stop this run after this long, however long earlier runs took (a time-boxed chunk)",
    )
    p.add_argument(
        "--check-every", type=int, help="steps between finite-loss checks (each waits for the GPU)"
    )
    p.add_argument("--compile", action="store_true", help="torch.compile the generator and D's heads")
    p.add_argument("--batch", type=int)
    p.add_argument("--lr-g", type=float)
    p.add_argument("--lr-d", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--tick-kimg", type=float)
    p.add_argument("--snapshot-kimg", type=float)
    p.add_argument("--device", choices=["auto", "cuda", "mps", "cpu"])
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"])
    p.add_argument("--init-from", help="start from this checkpoint's generator (fine-tuning)")
    p.add_argument("--freeze-d", type=int, help="FreezeD: discriminator blocks kept fixed")
    p.add_argument(
        "--cond-dropout", type=float, help="probability of blanking each attribute of a training label"
    )
    p.add_argument("--extra-data", help="second data set mixed into real batches (curated mascots)")
    p.add_argument(
        "--extra-share", type=float, help="share of real images drawn from --extra-data (default 0.25)"
    )
    p.add_argument(
        "--augment",
        metavar="MODE",
        help="what every image the discriminator sees goes through: ada, diffaugment or none "
        "(default: the family's; a resumed or fine-tuned run keeps its own)",
    )
    p.add_argument("--grid-attribute", help="attribute whose values are the sample grid's rows")
    p.add_argument("--arch", action="append", default=[], metavar="KEY=VALUE", help="architecture override")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.set_defaults(func=run)


def parse_arch(items: list[str], flag: str = "--arch", example: str = "width=64") -> dict[str, Any]:
    out = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise MascotError(f"{flag} takes KEY=VALUE (e.g. {flag} {example}), got '{item}'")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw  # a bare word is a string
        out[key.strip()] = value
    return out


def config_from_args(args: argparse.Namespace):
    from engine.config import load_config, section
    from engine.train.config import TrainConfig

    file_values = section(load_config(args.config), "train")
    cfg = TrainConfig().with_overrides(file_values)
    if getattr(args, "preset", None):
        chosen = preset(args.preset)
        if "arch" in chosen:
            chosen["arch"] = {**dict(cfg.arch), **chosen["arch"]}
        cfg = cfg.with_overrides(chosen)
    flags = {field: getattr(args, flag) for flag, field in FLAG_TO_FIELD.items()}
    flags["resume"] = args.resume or None
    flags["compile"] = args.compile or None
    if args.arch:
        flags["arch"] = {**dict(cfg.arch), **parse_arch(args.arch)}
    return cfg.with_overrides(flags)


def run(args: argparse.Namespace) -> int:
    from engine.train.loop import train

    path = train(config_from_args(args))
    print(f"checkpoint: {path}")
    return 0
