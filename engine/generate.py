"""``mascot-engine generate``: draw mascots from a checkpoint on the command line.

mascot-engine generate --checkpoint checkpoints/default hair:blue smile:yes --seed 42 -o out.png
... --count 4 -o out.png          out-0.png .. out-3.png (seeds 42..45)
... --grid 8 -o grid.png          one contact sheet of 8 seeds
... --grid 8 --rows hair -o g.png rows = every hair colour, columns = the same 8 seeds
... --grid 8 --rows smile style:big-smile -o g.png   the same, with the style held
... --interpolate 1 2 --frames 16 -o morph.gif
... --size 512 -o big.png        through the upscale-and-restore stage (checkpoints/upscale)
--checkpoint checkpoints/pixel --size 512   pixel art: snapped to its palette, cells enlarged
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from engine.errors import MascotError


def register(subparsers) -> None:
    p = subparsers.add_parser("generate", help="draw mascots from a checkpoint")
    p.add_argument("attributes", nargs="*", help="attribute requests like hair:blue smile:yes")
    p.add_argument("--checkpoint", default="checkpoints/default", help="checkpoint folder")
    p.add_argument("--seed", type=int, default=0, help="first seed (0..2^31-1)")
    p.add_argument("--count", type=int, default=1, help="number of images (consecutive seeds)")
    p.add_argument("--grid", type=int, metavar="N", help="write one grid of N seeds instead of files")
    p.add_argument(
        "--rows", metavar="ATTRIBUTE", help="with --grid: one row per value of this attribute, same seeds"
    )
    p.add_argument("--truncation", type=float, default=1.0, help="0..1; lower is safer, less varied")
    p.add_argument("--interpolate", type=int, nargs=2, metavar=("SEED_A", "SEED_B"), help="write a GIF")
    p.add_argument("--frames", type=int, default=16, help="frames of --interpolate")
    p.add_argument(
        "--size", type=int, help="side in px: the model's own (default), or 2x / 4x (/ 8x) through --upscaler"
    )
    p.add_argument(
        "--upscaler", default="checkpoints/upscale", help="the upscale-and-restore stage used by --size"
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("-o", "--out", default="out.png", help="output file (PNG, or GIF for --interpolate)")
    p.set_defaults(func=run)
    e = subparsers.add_parser("export", help="copy a checkpoint for shipping (optionally float16)")
    e.add_argument("--checkpoint", required=True, help="source checkpoint folder (e.g. RUN/model)")
    e.add_argument("--out", required=True, help="destination folder (e.g. checkpoints/default)")
    e.add_argument("--half", action="store_true", help="store weights as float16 (served as float32/64)")
    e.add_argument(
        "--report",
        action="append",
        help="an 'eval' folder of this checkpoint: its metrics go into model.json (repeat it to add "
        "the posted protocol's report beside the one at the model's own size)",
    )
    e.add_argument(
        "--styles",
        nargs="+",
        metavar="STYLE",
        help="offer only these styles: the others are never drawn unasked and are refused when asked "
        "for (a style the model cannot yet draw well stays trainable but is not served)",
    )
    e.add_argument(
        "--serve",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set how the same weights are served (pixel art: cell_vote=0.1, the weight of each "
        "neighbour's vote in a cell's colour); a setting that changes the network is refused",
    )
    e.set_defaults(func=export)


def export(args: argparse.Namespace) -> int:
    from engine.checkpoint import export_checkpoint
    from engine.train.cli import parse_arch

    serve = parse_arch(args.serve, "--serve", "cell_vote=0.1")
    meta = export_checkpoint(args.checkpoint, args.out, args.half, args.report, args.styles, serve)
    print(f"wrote {args.out}: {meta['version']} ({meta['weights_dtype']})")
    return 0


def run(args: argparse.Namespace) -> int:
    from engine.checkpoint import load_checkpoint
    from engine.sampling import check_seed, interpolate, render, resolve

    if not 1 <= args.count <= 1000:
        raise MascotError(f"--count must be from 1 to 1000, got {args.count}")
    ckpt = load_checkpoint(args.checkpoint, args.device)
    given = ckpt.schema.parse(" ".join(args.attributes))
    ckpt.schema.check_offered(given)
    out = Path(args.out)
    enlarge = finishing(args, ckpt)
    if args.interpolate:
        a, b = (resolve(ckpt.schema, given, check_seed(s), args.truncation) for s in args.interpolate)
        if not 2 <= args.frames <= 240:
            raise MascotError(f"--frames must be from 2 to 240, got {args.frames}")
        frames = interpolate(ckpt.G, ckpt.schema, a, b, args.frames, args.device)
        write_gif(enlarge(frames), out)
        print(f"wrote {out} ({args.frames} frames)")
        return 0
    if args.rows:
        if args.size not in (None, ckpt.resolution):
            raise MascotError("--rows draws at the model's own size; leave out --size")
        return write_attribute_grid(ckpt, args, given, out)
    n = args.grid or args.count
    seeds = [check_seed(args.seed + i) for i in range(n)]
    requests = [resolve(ckpt.schema, given, s, args.truncation) for s in seeds]
    images = enlarge(render(ckpt.G, ckpt.schema, requests, args.device))
    for path in write_images(images, out, grid=bool(args.grid)):
        print(f"wrote {path}")
    return 0


def finishing(args: argparse.Namespace, ckpt):
    """A function from the generator's uint8 pixels to what is written: a pixel-art model's
    snapped to its palette and enlarged by nearest neighbour, any other's upscaled when asked."""
    if ckpt.output is None:
        return upscaling(args, ckpt.resolution)
    size = args.size or ckpt.resolution
    if size not in ckpt.output.sizes():
        raise MascotError(f"--size must be one of {', '.join(map(str, ckpt.output.sizes()))}, got {size}")
    return lambda images: ckpt.output.finish(images, size)


def upscaling(args: argparse.Namespace, native: int):
    """A function that takes uint8 images at ``native`` px to ``--size`` (identity when not asked)."""
    if args.size in (None, native):
        return lambda images: images
    from engine.upscale.stage import enlarge_with

    if not (Path(args.upscaler) / "upscaler.json").is_file():
        raise MascotError(
            f"--size {args.size} needs the upscale stage, and '{args.upscaler}' has none; "
            f"leave out --size for {native}px, or train one with 'mascot-engine upscale train'"
        )
    enlarge = enlarge_with(args.upscaler, native, args.size)
    return lambda images: np.stack([enlarge(image) for image in images])


def write_attribute_grid(ckpt, args: argparse.Namespace, given: dict[str, str], out: Path) -> int:
    """Fixed noise, changing attribute: the picture that shows what one attribute does.
    Attributes asked beside ``--rows`` hold in every cell."""
    from engine.sampling import check_seed
    from engine.train.visuals import sample_grid

    if not args.grid:
        raise MascotError("--rows needs --grid N (the number of seeds per row)")
    row_attribute = ckpt.schema.attribute(args.rows).name
    if row_attribute in given:
        raise MascotError(
            f"--rows {row_attribute} gives every row its own {row_attribute}; "
            f"drop {row_attribute}:{given[row_attribute]} or choose other rows"
        )
    seeds = [check_seed(args.seed + i) for i in range(args.grid)]
    out.parent.mkdir(parents=True, exist_ok=True)
    sample_grid(ckpt.G, ckpt.schema, seeds, row_attribute, args.device, args.truncation, given).save(out)
    print(f"wrote {out}")
    return 0


def write_images(images: np.ndarray, out: Path, grid: bool) -> list[Path]:
    out.parent.mkdir(parents=True, exist_ok=True)
    if grid:
        from engine.data.dataset import contact_sheet

        contact_sheet(images, columns=min(8, len(images))).save(out)
        return [out]
    if len(images) == 1:
        Image.fromarray(images[0]).save(out)
        return [out]
    paths = [out.with_name(f"{out.stem}-{i}{out.suffix}") for i in range(len(images))]
    for img, path in zip(images, paths):
        Image.fromarray(img).save(path)
    return paths


def write_gif(frames: np.ndarray, out: Path, ms_per_frame: int = 80) -> None:
    """A looping GIF that goes there and back (ping-pong), so it never jumps."""
    out.parent.mkdir(parents=True, exist_ok=True)
    seq = [Image.fromarray(f) for f in np.concatenate([frames, frames[-2:0:-1]])]
    seq[0].save(out, save_all=True, append_images=seq[1:], duration=ms_per_frame, loop=0)
