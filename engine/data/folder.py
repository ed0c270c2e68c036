"""``mascot-engine data folder``: a user's own pictures as a training set.

Every PNG, JPEG and WebP under SRC (recursively) is flattened over the background
colour, padded with a small margin to a square (never cropped) and resized. Files that
cannot be read are listed, one line each, and skipped; exact duplicates (the same
pixels, whatever the file name or format) are kept once.

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
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import MascotError

SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
YES_NO = {"yes": "yes", "y": "yes", "true": "yes", "1": "yes", "no": "no", "n": "no", "false": "no", "0": "no"}


@dataclass(frozen=True)
class FolderConfig:
    size: int = 128
    background: str = "#ffffff"
    margin: float = 0.04  # of the long side, each side: room for outlines touching the edge
    licence: str = "unknown (supplied by the user)"
    credit: str = ""


@dataclass(frozen=True)
class Labels:
    """A schema and each file's attributes (keyed by path relative to SRC, posix)."""

    schema: Any  # engine.schema.Schema
    per_file: dict[str, dict[str, str]]


def find_images(src: Path) -> list[Path]:
    """Every picture under ``src``, sorted so builds are reproducible."""
    if not src.exists():
        raise MascotError(f"the folder '{src}' does not exist")
    if not src.is_dir():
        raise MascotError(f"'{src}' is not a folder; give the folder that holds your pictures")
    files = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not files:
        raise MascotError(f"no pictures in '{src}'; allowed kinds: {', '.join(SUFFIXES)} (searched recursively)")
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


def match_rows_to_files(path: Path, rows: list[dict[str, str]], files: list[str]) -> dict[str, dict[str, str]]:
    """Each row's attributes under the picture it names (relative path, or a unique bare name)."""
    by_name = Counter(Path(f).name for f in files)
    known = set(files)
    per_file: dict[str, dict[str, str]] = {}
    for row in rows:
        key = (row.pop("file") or "").strip().replace("\\", "/")
        if key not in known and by_name.get(Path(key).name) == 1:
            key = next(f for f in files if Path(f).name == Path(key).name)
        if key not in known:
            print(f"note: {path.name} names '{key}', which is not a picture in the folder; ignored", file=sys.stderr)
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
    """The decoded picture, or the reason it cannot be read."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.draft("RGB", (size, size))  # JPEG: decode at reduced scale, much faster
            image.load()
            return image.copy(), None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        return None, f"{type(exc).__name__}: {exc}".splitlines()[0][:200]


def content_hash(image) -> str:
    """Hash of the decoded pixels: same picture saved twice (any name, PNG or WebP) hashes alike."""
    rgba = image.convert("RGBA")
    return hashlib.sha256(repr(rgba.size).encode() + rgba.tobytes()).hexdigest()


def build_folder(src: Path, out: Path, cfg: FolderConfig, tags: Path | None = None) -> dict[str, Any]:
    """Write the pictures under ``src`` as a data set at ``out``; returns what was kept and skipped."""
    from tqdm import tqdm

    from engine.data.dataset import DatasetWriter, Source
    from engine.data.imageprep import check_size, parse_colour, square_image

    size, background = check_size(cfg.size), parse_colour(cfg.background)
    paths = find_images(src)
    names = [p.relative_to(src).as_posix() for p in paths]
    labels = (labels_from_csv(tags, names) if tags else None) or labels_from_subfolders(names) or unlabelled(names)
    skipped: list[tuple[str, str]] = []
    duplicates: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    description = f"pictures from {src}"
    with DatasetWriter(out, resolution=size, schema=labels.schema, capacity=len(paths),
                       description=description) as writer:  # fmt: skip
        writer.sources = [Source(f"folder {src}", cfg.licence, cfg.credit)]
        for path, name in zip(tqdm(paths, desc="pictures", unit="img"), names):
            image, problem = read_picture(path, size)
            if problem:
                skipped.append((name, problem))
                tqdm.write(f"skipped {name}: {problem}", file=sys.stderr)
                continue
            digest = content_hash(image)
            if digest in seen:
                duplicates.append((name, seen[digest]))
                continue
            seen[digest] = name
            attrs = labels.per_file.get(name, {})
            writer.add(square_image(image, size, background, cfg.margin), attrs, tags={"file": name, **attrs})
    return {"count": len(seen), "skipped": skipped, "duplicates": duplicates, "schema": labels.schema}


def register(subparsers) -> None:
    p = subparsers.add_parser("folder", help="your own pictures (PNG/JPEG/WebP, recursive) as a data set",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("src", help="folder of pictures, searched recursively")
    p.add_argument("--out", required=True, help="data set folder to write")
    p.add_argument("--size", type=int, default=128, help="image side in pixels (default 128)")
    p.add_argument("--tags", default=None, help="CSV: a 'file' column, then one column per attribute")
    p.add_argument("--background", default="#ffffff", help="colour behind transparency and padding")
    p.add_argument("--licence", default=FolderConfig.licence, help="licence of the pictures, for the card")
    p.add_argument("--credit", default="", help="who made the pictures, for the card")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    cfg = FolderConfig(size=args.size, background=args.background, licence=args.licence, credit=args.credit)
    result = build_folder(Path(args.src), Path(args.out), cfg, Path(args.tags) if args.tags else None)
    print(f"wrote {result['count']} pictures to {args.out} "
          f"({len(result['duplicates'])} duplicates removed, {len(result['skipped'])} unreadable skipped)")  # fmt: skip
    for name, original in result["duplicates"]:
        print(f"  duplicate {name} (same as {original})")
    print("schema:\n" + result["schema"].describe())
    return 0
