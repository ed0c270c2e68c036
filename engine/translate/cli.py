"""``mascot-engine translate train | measure | apply``: CycleGAN between two picture folders."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path


def register(subparsers) -> None:
    tr = subparsers.add_parser("translate", help="train, measure and apply an unpaired translator (CycleGAN)")
    sub = tr.add_subparsers(dest="translate_command", required=True, metavar="ACTION")
    t = sub.add_parser("train", help="train A <-> B translators; Ctrl-C leaves a checkpoint")
    t.add_argument("--a", required=True, help="source domain: a data set folder (e.g. data/emoji)")
    t.add_argument("--b", required=True, help="target domain: a data set folder (e.g. data/tag-seen-2k-64)")
    t.add_argument("--out", default="runs/cyclegan", help="run folder (model/, resume.*, stats, PNGs)")
    t.add_argument("--res", type=int, help="side pictures are translated at (default 64)")
    t.add_argument(
        "--steps",
        type=int,
        help="train until this many steps in all; the LR decays over the second half (default 4000)",
    )
    t.add_argument("--minutes", type=float, help="stop this session after this long")
    t.add_argument("--batch", type=int, help="pictures per step from each domain (default 1)")
    t.add_argument("--lr", type=float, help="Adam learning rate (default 2e-4)")
    t.add_argument(
        "--cycle", type=float, help="weight of the cycle-consistency L1, the paper's lambda (default 10)"
    )
    t.add_argument("--identity", type=float, help="weight of the identity loss, times --cycle (default 0.5)")
    t.add_argument("--holdout", type=int, help="pictures of each folder kept out of training (default 200)")
    t.add_argument("--channels", type=int, help="generator width (default 32)")
    t.add_argument("--blocks", type=int, help="generator residual blocks (default 6)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out")
    t.set_defaults(func=_train)
    m = sub.add_parser("measure", help="KID of A->B and of untranslated A against B, cycle errors, a sheet")
    m.add_argument("--checkpoint", required=True, help="translator folder (e.g. runs/cyclegan/model)")
    m.add_argument("--a", help="source folder (default: the one it was trained on)")
    m.add_argument("--b", help="target folder (default: the one it was trained on)")
    m.add_argument("--images", type=int, default=200, help="held-out pictures per domain")
    m.add_argument("--feature-size", type=int, default=224, help="side EfficientNet-Lite0 sees")
    m.add_argument("--sheet", help="write an A | A->B | A->B->A sheet of held-out pictures here (PNG)")
    m.set_defaults(func=_measure)
    a = sub.add_parser("apply", help="translate picture files A->B")
    a.add_argument("--checkpoint", required=True)
    a.add_argument("pictures", nargs="+", help="PNG, JPEG or WebP files")
    a.add_argument("--out", required=True, help="folder for the translated PNGs (same names)")
    a.set_defaults(func=_apply)


def _train(args: argparse.Namespace) -> int:
    from engine.translate.model import TranslatorArch
    from engine.translate.train import TranslateRun, TranslateTrainConfig

    given = (("channels", args.channels), ("blocks", args.blocks), ("resolution", args.res))
    arch = TranslatorArch(**{k: v for k, v in given if v is not None}).validate()
    flags = {
        "a": args.a,
        "b": args.b,
        "out": args.out,
        "steps": args.steps,
        "minutes": args.minutes,
        "batch_size": args.batch,
        "lr": args.lr,
        "holdout": args.holdout,
        "cycle": args.cycle,
        "identity": args.identity,
    }
    cfg = dataclasses.replace(
        TranslateTrainConfig(arch=arch, resume=args.resume),
        **{k: v for k, v in flags.items() if v is not None},
    )
    print(f"translator: {TranslateRun(cfg).run()}")
    return 0


def _measure(args: argparse.Namespace) -> int:
    from engine.translate.measure import measure, sheet

    row = measure(args.checkpoint, args.a, args.b, args.images, feature_size=args.feature_size)
    d = row["domains"]
    print(
        f"{row['images']['a']} held-out {d['a']} pictures vs {row['images']['b']} held-out {d['b']}, "
        f"after {row['steps']} steps"
    )
    print(
        f"  KID x1000 to {d['b']}:  {d['a']}->{d['b']} {row['kid_x1000']['a_to_b']:.2f}   "
        f"{d['a']} untranslated {row['kid_x1000']['a_untranslated']:.2f}"
    )
    print(
        f"  cycle error (mean |x - round trip|, 0-1):  A->B->A {row['cycle_l1']['a_to_b_to_a']:.4f}   "
        f"B->A->B {row['cycle_l1']['b_to_a_to_b']:.4f}"
    )
    if args.sheet:
        print(f"wrote {sheet(args.checkpoint, args.sheet, args.a)}")
    print(json.dumps(row))
    return 0


def _apply(args: argparse.Namespace) -> int:
    from PIL import Image

    from engine.errors import MascotError
    from engine.invert import read_picture
    from engine.translate.stage import Translator

    translator = Translator(args.checkpoint)
    out = Path(args.out)
    pictures = [Path(p) for p in args.pictures]
    for p in pictures:
        if not p.is_file():
            raise MascotError(f"no picture at '{p}'")
    out.mkdir(parents=True, exist_ok=True)
    for p in pictures:
        try:
            image = read_picture(p.read_bytes())
        except MascotError as exc:
            raise MascotError(f"'{p}': {exc}") from None
        Image.fromarray(translator.apply(image)).save(out / f"{p.stem}.png")
        print(f"{p} -> {out / f'{p.stem}.png'}")
    return 0
