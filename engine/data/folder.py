"""``mascot-engine data folder``: a user's own pictures as a training set.

Every PNG, JPEG, WebP, GIF, BMP, TIFF and SVG under SRC (recursively) is flattened over
the background colour, padded with a small margin to a square (never cropped) and
resized. SVGs are drawn by resvg (at twice --size, then resized); an animated GIF, WebP or a multi-page
TIFF gives its first frame (and says so). A picture smaller than --size is enlarged and
reported; one that would need more than 4x is skipped, as a blur is not a mascot. Files
that cannot be read, and pictures of kinds not read here (HEIC, PSD, ...), are listed by
name, one line each, and skipped; exact duplicates (the same pixels, whatever the file
name or format) are kept once.

Labels, in order of preference:

* ``--tags tags.csv``: a ``file`` column (path relative to SRC, or a bare file name when
  it is unique) and one column per attribute. The schema is built from the values
  found: a column whose values are all yes/no (true/false, 1/0) becomes a flag, any
  other a choice; an empty cell means "not visible". A column with a single value says
  nothing and is dropped with a note.
* no tags file, pictures in two or more sub-folders: one choice attribute ``folder``
  whose values are the top-level sub-folder names (pictures directly in SRC are
  "not visible").
* otherwise the set is unlabelled: attribute ``class`` with placeholder values 0|1 and
  every label unknown, so it trains unconditionally until ``data cluster`` gives it
  real classes.

``--grid auto`` is for pixel art: each picture is read at its own grid (the cell size on
which it is piecewise constant, found from where its colours change: a 16x16 drawing saved
at 256px becomes 16x16 again), never resized; smaller grids are centred on the largest
one found, which becomes the set's resolution, and the card records every colour (the
palette). A model trained on it draws the grid itself and is served snapped to that
palette (engine/pixelgrid.py). A picture without a clear grid (a photo, a JPEG's noise, an
SVG) is skipped and named.

``--auto-tag`` instead labels every picture with the attribute classifier of a labelled
set (``--tagger DATA``; see engine/data/autotag.py): its schema, the readings at or above
``--tag-threshold`` as labels, the rest unknown, and every reading with its confidence in
OUT/autotags.json (the kept labels also in OUT/autotags.csv).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import re
import sys
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.errors import MascotError

RASTER = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")
VECTOR = (".svg", ".svgz")
SUFFIXES = RASTER + VECTOR
# Picture kinds a user may well have that are not read here: refused by name, never silently.
NOT_READ = {
    ".heic": "HEIC",
    ".heif": "HEIF",
    ".avif": "AVIF",
    ".jxl": "JPEG XL",
    ".psd": "Photoshop",
    ".xcf": "GIMP",
    ".kra": "Krita",
    ".ico": "icon",
    ".eps": "EPS",
    ".ai": "Illustrator",
    ".pdf": "PDF",
    ".jp2": "JPEG 2000",
    ".tga": "TGA",
    ".dng": "raw",
    ".cr2": "raw",
    ".nef": "raw",
    ".arw": "raw",
    ".raw": "raw",
}
MAX_GRID = 256  # with --grid auto, a picture with more cells a side than this is not pixel art
MAX_ENLARGE = 4.0  # beyond this a small picture is more blur than mascot: skipped
CHUNK = 256  # pictures labelled at once (the tagger reads them in batches)
YES_NO = {
    "yes": "yes",
    "y": "yes",
    "true": "yes",
    "1": "yes",
    "no": "no",
    "n": "no",
    "false": "no",
    "0": "no",
}


@dataclass(frozen=True)
class FolderConfig:
    size: int = 128
    background: str = "#ffffff"
    margin: float = 0.04  # of the long side, each side: room for outlines touching the edge
    licence: str = "unknown (supplied by the user)"
    credit: str = ""
    grid: bool = False  # pixel art: each picture at its own grid, one pixel per cell


@dataclass
class FolderReport:
    """What happened to every file: skipped (with the reason), duplicates, notes, others ignored."""

    skipped: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    enlarged: list[tuple[str, str]] = field(default_factory=list)
    first_frames: list[tuple[str, int]] = field(default_factory=list)
    ignored: Counter = field(default_factory=Counter)  # suffix -> files that are not pictures

    def skip(self, name: str, reason: str) -> None:
        from tqdm import tqdm

        self.skipped.append((name, reason))
        tqdm.write(f"skipped {name}: {reason}", file=sys.stderr)


@dataclass(frozen=True)
class Labels:
    """A schema and each file's attributes (keyed by path relative to SRC, posix)."""

    schema: Any  # engine.schema.Schema
    per_file: dict[str, dict[str, str]]


def find_images(src: Path, report: FolderReport | None = None) -> list[Path]:
    """Every picture under ``src``, sorted so builds are reproducible; kinds not read go to ``report``."""
    report = report if report is not None else FolderReport()
    if not src.exists():
        raise MascotError(f"the folder '{src}' does not exist")
    if not src.is_dir():
        raise MascotError(f"'{src}' is not a folder; give the folder that holds your pictures")
    files = []
    for path in sorted(p for p in src.rglob("*") if p.is_file() and not p.name.startswith(".")):
        suffix = path.suffix.lower()
        if suffix in SUFFIXES:
            files.append(path)
        elif suffix in NOT_READ:
            report.skip(
                path.relative_to(src).as_posix(),
                f"{NOT_READ[suffix]} pictures are not read; "
                f"convert them to PNG (read: {', '.join(SUFFIXES)})",
            )
        else:
            report.ignored[suffix or "(no suffix)"] += 1
    if not files:
        refused = f" ({len(report.skipped)} of a kind not read, listed above)" if report.skipped else ""
        raise MascotError(
            f"no pictures in '{src}'{refused}; allowed kinds: {', '.join(SUFFIXES)} (searched recursively)"
        )
    return files


def tag_value(text: str) -> str:
    # Same spelling rule as engine.schema, so 'Light Blue' is later asked for as light-blue.
    return re.sub(r"[\s_-]+", "-", text.strip().lower())


# --- labels ------------------------------------------------------------------------


def labels_from_csv(path: Path, files: list[str]) -> Labels:
    """Schema and per-file attributes from a tags CSV (see the module docstring)."""
    from engine.schema import Schema

    per_file = match_rows_to_files(path, read_tag_rows(path), files)
    columns = [tag_value(c) for c in read_columns(path) if c != "file"]
    if len(set(columns)) != len(columns):
        raise MascotError(f"{path} has two columns with the same name (ignoring case and spaces): {columns}")
    attributes = [a for a in (attribute_from_column(c, per_file) for c in columns) if a is not None]
    if not attributes:
        raise MascotError(f"{path} has no column with two or more different values; nothing to learn from it")
    schema = Schema(tuple(attributes))
    canonical = {
        f: {a.name: a.canonical(attrs[a.name]) for a in schema.attributes if a.name in attrs}
        for f, attrs in per_file.items()
    }
    return Labels(schema, canonical)


def match_rows_to_files(
    path: Path, rows: list[dict[str, str]], files: list[str]
) -> dict[str, dict[str, str]]:
    """Each row's attributes under the picture it names (relative path, or a unique bare name)."""
    by_name = Counter(Path(f).name for f in files)
    known = set(files)
    per_file: dict[str, dict[str, str]] = {}
    for row in rows:
        key = (row.pop("file") or "").strip().replace("\\", "/")
        if key not in known and by_name.get(Path(key).name) == 1:
            key = next(f for f in files if Path(f).name == Path(key).name)
        if key not in known:
            print(
                f"note: {path.name} names '{key}', which is not a picture in the folder; ignored",
                file=sys.stderr,
            )
            continue
        per_file[key] = {tag_value(k): tag_value(v) for k, v in row.items() if v is not None and v.strip()}
    return per_file


def attribute_from_column(name: str, per_file: dict[str, dict[str, str]]):
    """A flag if every value is yes/no-like, else a choice; None if fewer than two values."""
    from engine.schema import choice, flag

    values = Counter(attrs[name] for attrs in per_file.values() if name in attrs)
    if len(values) < 2:
        print(f"note: column '{name}' has fewer than two different values; dropped", file=sys.stderr)
        return None
    if set(values) <= set(YES_NO):
        yes = sum(n for v, n in values.items() if YES_NO[v] == "yes")
        return flag(name, yes / sum(values.values()))
    return choice(name, dict(sorted(values.items())))


def read_columns(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return [c.strip() for c in next(csv.reader(fh), [])]


def read_tag_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise MascotError(f"the tags file '{path}' does not exist")
    columns = read_columns(path)
    if "file" not in columns:
        raise MascotError(
            f"{path} needs a header row starting with a 'file' column, then one column per attribute "
            f"(found: {', '.join(columns) or 'nothing'})"
        )
    if len(columns) < 2:
        raise MascotError(f"{path} has only a 'file' column; add one column per attribute")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh, fieldnames=columns)
        next(reader)  # the header
        return [{k: v for k, v in row.items() if k is not None} for row in reader]


def labels_from_subfolders(files: list[str]) -> Labels | None:
    """A ``folder`` attribute from top-level sub-folder names, if there are two or more."""
    from engine.schema import Schema, choice

    tops = {f: tag_value(f.split("/")[0]) for f in files if "/" in f}
    counts = Counter(tops.values())
    if len(counts) < 2:
        return None
    schema = Schema((choice("folder", dict(sorted(counts.items()))),))
    return Labels(schema, {f: ({"folder": tops[f]} if f in tops else {}) for f in files})


def unlabelled(files: list[str]) -> Labels:
    from engine.schema import class_schema

    # Attribute needs two values; both stay unused (every label unknown) until clustering.
    return Labels(class_schema(2), {f: {} for f in files})


# --- pictures ----------------------------------------------------------------------


def read_picture(path: Path, size: int):
    """(picture, frames, problem): the decoded picture (an SVG drawn to fit ``size``), how
    many frames the file has (only the first is used), or the reason it cannot be read."""
    if path.suffix.lower() in VECTOR:
        return draw_svg(path, size)
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.draft("RGB", (size, size))  # JPEG: decode at reduced scale, much faster
            image.load()  # the first frame of an animation or a multi-page TIFF
            return image.copy(), getattr(image, "n_frames", 1), None
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        return None, 0, _reason(exc)


def draw_svg(path: Path, size: int):
    """An SVG drawn by resvg with its long side at twice ``size`` (the resize to ``size`` anti-aliases)."""
    import io

    import resvg_py
    from PIL import Image

    try:
        png = resvg_py.svg_to_bytes(
            svg_path=str(path), width=2 * size, height=2 * size, resources_dir=str(path.parent)
        )
        with Image.open(io.BytesIO(png)) as image:
            image.load()
            return image.copy(), 1, None
    except (OSError, ValueError, RuntimeError) as exc:
        return None, 0, f"not a drawable SVG ({_reason(exc)})"


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]


def too_small(image, size: int) -> tuple[str | None, str | None]:
    """(problem, note): a picture that would be enlarged past MAX_ENLARGE is a problem; one
    enlarged less is a note (kept, but the user should know it will look soft)."""
    long_side = max(image.size)
    if long_side >= size:
        return None, None
    factor = size / long_side
    shape = f"{image.size[0]}x{image.size[1]} px"
    if factor > MAX_ENLARGE:
        return (
            f"too small: {shape} would be enlarged {factor:.1f}x to --size {size} (at most "
            f"{MAX_ENLARGE:g}x); "
            f"use --size {int(long_side * MAX_ENLARGE)} or less, or a larger picture"
        ), None
    return None, f"{shape}, enlarged {factor:.1f}x"


def content_hash(image) -> str:
    """Hash of the decoded pixels: same picture saved twice (any name, PNG or WebP) hashes alike."""
    rgba = image.convert("RGBA")
    return hashlib.sha256(repr(rgba.size).encode() + rgba.tobytes()).hexdigest()


def prepared_pictures(src: Path, paths: list[Path], cfg: FolderConfig, report: FolderReport):
    """(name, uint8 square image) for every readable, new picture; the rest go to ``report``."""
    from tqdm import tqdm

    from engine.data.imageprep import parse_colour, square_image

    background = parse_colour(cfg.background)
    seen: dict[str, str] = {}
    for path in tqdm(paths, desc="pictures", unit="img"):
        name = path.relative_to(src).as_posix()
        image, frames, problem = read_picture(path, cfg.size)
        small, note = too_small(image, cfg.size) if image is not None else (None, None)
        if problem or small:
            report.skip(name, problem or small)
            continue
        digest = content_hash(image)
        if digest in seen:
            report.duplicates.append((name, seen[digest]))
            continue
        seen[digest] = name
        if note:
            report.enlarged.append((name, note))
        if frames > 1:
            report.first_frames.append((name, frames))
        yield name, square_image(image, cfg.size, background, cfg.margin)


def grid_pictures(src: Path, paths: list[Path], cfg: FolderConfig, report: FolderReport):
    """(pictures, grid): every readable, new picture at its own grid (one pixel per cell),
    centred on the largest grid found, which is returned as the set's resolution."""
    import numpy as np
    from PIL import Image
    from tqdm import tqdm

    from engine.data.imageprep import flatten_alpha, parse_colour
    from engine.pixelgrid import to_cells

    background = parse_colour(cfg.background)
    seen: dict[str, str] = {}
    found = []
    for path in tqdm(paths, desc="pictures", unit="img"):
        name = path.relative_to(src).as_posix()
        if path.suffix.lower() in VECTOR:
            report.skip(name, "an SVG has no pixel grid; export it as PNG to use --grid auto")
            continue
        image, frames, problem = read_picture(path, 1 << 16)  # no JPEG draft: every pixel counts
        if problem:
            report.skip(name, problem)
            continue
        digest = content_hash(image)
        if digest in seen:
            report.duplicates.append((name, seen[digest]))
            continue
        seen[digest] = name
        cells = to_cells(np.asarray(flatten_alpha(image, background)))
        if max(cells.shape[:2]) > MAX_GRID:
            report.skip(
                name,
                f"no pixel grid: {cells.shape[1]}x{cells.shape[0]} cells (at most {MAX_GRID} a side); "
                "is it pixel art saved without smoothing (PNG, not JPEG)?",
            )
            continue
        if frames > 1:
            report.first_frames.append((name, frames))
        found.append((name, cells))
    grid = max((max(cells.shape[:2]) for _, cells in found), default=1)
    pictures = [
        (name, np.asarray(pad_to_square_at(Image.fromarray(cells), grid, background)))
        for name, cells in found
    ]
    return pictures, grid


def pad_to_square_at(image, side: int, background):
    """``image`` centred on a ``side`` x ``side`` canvas of ``background`` (whole cells, no resize)."""
    from PIL import Image

    canvas = Image.new("RGB", (side, side), background)
    canvas.paste(image, ((side - image.size[0]) // 2, (side - image.size[1]) // 2))
    return canvas


def build_folder(
    src: Path, out: Path, cfg: FolderConfig, tags: Path | None = None, tagger=None
) -> dict[str, Any]:
    """Write the pictures under ``src`` as a data set at ``out``; returns what was kept and skipped.

    ``tagger`` (an engine.data.autotag.AutoTagger) labels the pictures instead of ``tags``
    or the sub-folders."""
    import numpy as np

    from engine.data.dataset import DatasetWriter, Source
    from engine.data.imageprep import check_size, parse_colour

    check_size(cfg.size), parse_colour(cfg.background)  # refuse bad settings before any work
    report = FolderReport()
    paths = find_images(src, report)
    size, pictures = cfg.size, None
    if cfg.grid:
        pictures, size = grid_pictures(src, paths, cfg, report)
        if not pictures:
            raise MascotError(f"no picture under '{src}' is pixel art with a grid; nothing was written")
        cfg = replace(cfg, size=size, margin=0.0)
    else:
        pictures = prepared_pictures(src, paths, cfg, report)
    names = [p.relative_to(src).as_posix() for p in paths]
    labels = None if tagger else choose_labels(tags, names)
    schema = tagger.schema if tagger else labels.schema
    label_chunk = (
        tagger.label if tagger else (lambda chunk_names, _: [labels.per_file.get(n, {}) for n in chunk_names])
    )
    kept: list[str] = []
    rows = []
    description = f"pictures from {src}" + (
        f", each at its pixel grid ({size}x{size} cells)" if cfg.grid else ""
    )
    with DatasetWriter(
        out, resolution=size, schema=schema, capacity=len(paths), description=description, palette=cfg.grid
    ) as writer:
        writer.sources = [Source(f"folder {src}", cfg.licence, cfg.credit)]
        for chunk in chunks(pictures, CHUNK):
            chunk_names = [name for name, _ in chunk]
            images = np.stack([image for _, image in chunk])
            attrs_list = label_chunk(chunk_names, strip_margin(images, cfg.margin))
            for name, image, attrs in zip(chunk_names, images, attrs_list):
                writer.add(image, attrs, tags={"file": name, **attrs, **confidences(tagger, name)})
                rows.append(schema.indices(attrs))
                kept.append(name)
        if tagger:
            schema = writer.schema = tagger.schema_for(np.array(rows).reshape(-1, len(schema.attributes)))
    if tagger:
        tagger.write(out, kept)
    return {
        "count": len(kept),
        "skipped": report.skipped,
        "duplicates": report.duplicates,
        "schema": schema,
        "report": report,
        "size": size,
    }


def strip_margin(images, margin: float):
    """The square images without the border ``square_image`` added: the tagger learnt on
    pictures that fill the frame, and a white border made it call coloured backgrounds white."""
    border = round(images.shape[1] * margin / (1 + 2 * margin))
    return (
        images[:, border : images.shape[1] - border, border : images.shape[2] - border] if border else images
    )


def choose_labels(tags: Path | None, names: list[str]) -> Labels:
    return (
        (labels_from_csv(tags, names) if tags else None) or labels_from_subfolders(names) or unlabelled(names)
    )


def confidences(tagger, name: str) -> dict[str, Any]:
    if tagger is None:
        return {}
    return {"confidence": {a: r.confidence for a, r in tagger.readings[name].items()}}


def chunks(items, n: int):
    """Lists of up to ``n`` consecutive items."""
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "folder",
        help="your own pictures (PNG/JPEG/WebP/GIF/BMP/TIFF/SVG) as a data set",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("src", help="folder of pictures, searched recursively")
    p.add_argument("--out", required=True, help="data set folder to write")
    p.add_argument("--size", type=int, default=None, help="image side in pixels (default 128)")
    p.add_argument(
        "--grid",
        choices=["auto"],
        help="pixel art: read each picture at its own grid (one pixel per cell, never resized) "
        "and record the palette; the set's side is the largest grid found",
    )
    p.add_argument("--tags", default=None, help="CSV: a 'file' column, then one column per attribute")
    p.add_argument(
        "--auto-tag",
        action="store_true",
        help="label the pictures with the attribute classifier of --tagger's data set",
    )
    p.add_argument(
        "--tagger",
        default=None,
        metavar="DATA",
        help="labelled data set whose classifier tags (default: config.toml [schedule] data)",
    )
    p.add_argument(
        "--tag-threshold",
        type=float,
        default=None,
        help="confidence below which a reading is stored as unknown (default 0.8)",
    )
    p.add_argument("--background", default="#ffffff", help="colour behind transparency and padding")
    p.add_argument("--licence", default=FolderConfig.licence, help="licence of the pictures, for the card")
    p.add_argument("--credit", default="", help="who made the pictures, for the card")
    p.set_defaults(func=_run)


def tagger_from_args(args: argparse.Namespace):
    """The AutoTagger asked for, or None; conflicting or orphaned tagging flags are refused."""
    if not args.auto_tag:
        if args.tagger or args.tag_threshold is not None:
            raise MascotError("--tagger and --tag-threshold only apply with --auto-tag")
        return None
    if args.tags:
        raise MascotError("--auto-tag and --tags both label the pictures; give one of them")
    from engine.data.autotag import DEFAULT_THRESHOLD, AutoTagger, check_threshold, load_tagger

    threshold = check_threshold(DEFAULT_THRESHOLD if args.tag_threshold is None else args.tag_threshold)
    model, source = load_tagger(args.tagger)
    return AutoTagger(model, threshold, source=source)


def _run(args: argparse.Namespace) -> int:
    if args.grid and args.size is not None:
        raise MascotError("--grid auto sizes the set to the pictures' own grid; leave out --size")
    cfg = FolderConfig(
        size=args.size or FolderConfig.size,
        background=args.background,
        licence=args.licence,
        credit=args.credit,
        grid=bool(args.grid),
    )
    tagger = tagger_from_args(args)
    result = build_folder(Path(args.src), Path(args.out), cfg, Path(args.tags) if args.tags else None, tagger)
    print(
        f"wrote {result['count']} pictures to {args.out} "
        f"({len(result['duplicates'])} duplicates removed, {len(result['skipped'])} skipped)"
    )
    if cfg.grid:
        print(f"pixel grid: {result['size']}x{result['size']} cells, one pixel each; palette in the card")
    print_report(result["report"], result["size"])
    print("schema:\n" + result["schema"].describe())
    if tagger:
        print(f"auto-tags (every reading with its confidence in {Path(args.out) / 'autotags.json'}):")
        print(tagger.describe())
    return 0


def print_report(report: FolderReport, size: int, shown: int = 20) -> None:
    for name, original in report.duplicates:
        print(f"  duplicate {name} (same as {original})")
    if report.first_frames:
        print(f"{len(report.first_frames)} animated or multi-page pictures: the first frame of each is used")
        for name, frames in report.first_frames[:shown]:
            print(f"  {name}: first of {frames} frames")
    if report.enlarged:
        print(
            f"{len(report.enlarged)} pictures are smaller than --size {size} and were enlarged "
            "(they will look "
            f"soft; a smaller --size keeps them sharp):"
        )
        for name, note in report.enlarged[:shown]:
            print(f"  {name}: {note}")
        if len(report.enlarged) > shown:
            print(f"  ... and {len(report.enlarged) - shown} more")
    if report.ignored:
        kinds = ", ".join(f"{n} {suffix}" for suffix, n in sorted(report.ignored.items()))
        print(f"ignored {sum(report.ignored.values())} files that are not pictures ({kinds})")
