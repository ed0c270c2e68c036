"""``mascot-engine data emoji``: character-like emoji as an unlabelled mascot set.

The YuruGAN path needs a small set of characters without classes; emoji faces, people,
animals and creatures are exactly that. Two open sources, both from npm, pinned:

    noto      emoji-datasource-google  64 px PNGs of Google's Noto Emoji + emoji.json
    openmoji  openmoji                 colour SVGs + data/openmoji.json (rasterized here)

The package is installed once into a cache folder (``$MASCOT_CACHE`` or
``~/.cache/mascotbot``, under ``npm-emoji/<source>``) and reused. Flags, objects, symbols,
hands and body parts are left out: they are not characters. What is kept has one label,
``category`` (the Unicode emoji subgroup such as ``face-smiling`` or ``animal-mammal``);
everything else the package says (names, group, skin tone, hair, author) goes into the
tags, so clustering can replace the label later without losing it. A skin-tone variant's
tags name its base emoji (``variant_of``), so clustering puts it in its base's class.
Licences and credits are read from the installed package, never written from memory.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import MascotError

SKIN_TONES = {
    "1F3FB": "light",
    "1F3FC": "medium-light",
    "1F3FD": "medium",
    "1F3FE": "medium-dark",
    "1F3FF": "dark",
}
HAIR = {"1F9B0": "red", "1F9B1": "curly", "1F9B2": "bald", "1F9B3": "white"}
GENDER = {"2640": "female", "2642": "male"}
# Unicode emoji subgroups that show a character. Hands, body parts, hearts and the
# "person-symbol" silhouettes and footprints are not characters, so they stay out; nor
# "family" (couples and families: several figures, not one mascot).
CHARACTER_SUBGROUPS = ("face-", "cat-face", "monkey-face", "person", "animal-")
NOT_CHARACTERS = ("person-symbol",)


@dataclass(frozen=True)
class EmojiPackage:
    """One npm package of emoji images, pinned."""

    source: str  # the --source name
    package: str
    version: str


PACKAGES = {
    "noto": EmojiPackage("noto", "emoji-datasource-google", "16.0.0"),
    "openmoji": EmojiPackage("openmoji", "openmoji", "17.0.0"),
}


@dataclass(frozen=True)
class EmojiConfig:
    source: str = "noto"
    size: int = 64
    background: str = "#ffffff"
    skin_tones: str = "all"  # "all": every skin-tone variant; "none": only the default yellow/neutral


@dataclass(frozen=True)
class Emoji:
    """One emoji image to rasterize, with its label and tags."""

    path: Path  # a PNG (noto) or SVG (openmoji)
    category: str  # the Unicode subgroup, the data set's one label
    tags: dict[str, Any]


# --- the npm package ------------------------------------------------------------


def cache_root() -> Path:
    """Where downloaded packages live: ``$MASCOT_CACHE`` or ``~/.cache/mascotbot``."""
    return Path(os.environ.get("MASCOT_CACHE") or Path.home() / ".cache" / "mascotbot")


def package_dir(pkg: EmojiPackage) -> Path:
    return cache_root() / "npm-emoji" / pkg.source / "node_modules" / pkg.package


def installed_version(pkg: EmojiPackage) -> str | None:
    try:
        return json.loads((package_dir(pkg) / "package.json").read_text()).get("version")
    except (OSError, ValueError):
        return None


def ensure_package(pkg: EmojiPackage) -> Path:
    """The package's folder, installing the pinned version with npm the first time."""
    if installed_version(pkg) == pkg.version:
        return package_dir(pkg)
    npm = shutil.which("npm")
    if npm is None:
        raise MascotError("npm is needed to fetch the emoji images once; install Node.js 18 or newer")
    prefix = cache_root() / "npm-emoji" / pkg.source
    prefix.mkdir(parents=True, exist_ok=True)
    print(f"installing {pkg.package}@{pkg.version} into {prefix} (once) ...", file=sys.stderr)
    cmd = [
        npm,
        "install",
        "--prefix",
        str(prefix),
        "--no-audit",
        "--no-fund",
        "--ignore-scripts",
        "--no-save",
        f"{pkg.package}@{pkg.version}",
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        raise MascotError(
            f"npm took more than 15 minutes to install {pkg.package}; check the network"
        ) from None
    if done.returncode != 0 or installed_version(pkg) != pkg.version:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise MascotError(f"npm could not install {pkg.package}@{pkg.version}: {' '.join(tail)}")
    return package_dir(pkg)


# --- which emoji, with which tags -----------------------------------------------


def is_character(subgroup: str) -> bool:
    return subgroup.startswith(CHARACTER_SUBGROUPS) and subgroup not in NOT_CHARACTERS


def codepoint_tags(hexcode: str) -> dict[str, Any]:
    """Skin tones, hair and gender spelled out from the modifier code points of an emoji."""
    points = hexcode.upper().split("-")
    tags: dict[str, Any] = {}
    tones = [SKIN_TONES[p] for p in points if p in SKIN_TONES]
    if tones:
        tags["skin_tone"] = tones if len(tones) > 1 else tones[0]
    hair = [HAIR[p] for p in points if p in HAIR]
    if hair:
        tags["hair"] = hair[0]
    gender = [GENDER[p] for p in points if p in GENDER]
    if gender:
        tags["gender"] = gender[0]
    return tags


def slug(text: str) -> str:
    # Same spelling rule as engine.schema, so a category is asked for as it is stored.
    return re.sub(r"[\s_&-]+", "-", text.strip().lower())


def noto_emoji(root: Path, skin_tones: str) -> list[Emoji]:
    """The character-like emoji of emoji-datasource-google, skin-tone variants included if asked."""
    entries = json.loads((root / "emoji.json").read_text())
    out = []
    for entry in sorted(entries, key=lambda e: e["sort_order"]):
        subgroup = slug(entry["subcategory"])
        if not is_character(subgroup):
            continue
        base = {
            "source": "noto",
            "name": entry["name"].lower(),
            "short_names": entry["short_names"],
            "group": slug(entry["category"]),
            "subgroup": subgroup,
        }
        variants = [entry]
        if skin_tones == "all":
            variants += list((entry.get("skin_variations") or {}).values())
        for variant in variants:
            path = root / "img" / "google" / "64" / variant["image"]
            if variant.get("has_img_google") and path.is_file():
                tags = {**base, "unified": variant["unified"], **codepoint_tags(variant["unified"])}
                if variant is not entry:
                    tags["variant_of"] = entry["unified"]  # clustering labels a variant with its base
                out.append(Emoji(path, subgroup, tags))
    return out


def openmoji_emoji(root: Path, skin_tones: str) -> list[Emoji]:
    """The character-like Unicode emoji of OpenMoji (its own 'extras' are left out)."""
    entries = json.loads((root / "data" / "openmoji.json").read_text())
    out = []
    for entry in entries:
        subgroup = slug(entry["subgroups"])
        if entry["group"].startswith("extras") or not is_character(subgroup):
            continue
        if skin_tones == "none" and entry.get("skintone"):
            continue
        path = root / "color" / "svg" / f"{entry['hexcode']}.svg"
        if not path.is_file():
            continue
        tags = {
            "source": "openmoji",
            "name": entry["annotation"],
            "unified": entry["hexcode"],
            "group": entry["group"],
            "subgroup": subgroup,
            "author": entry.get("openmoji_author", ""),
            "keywords": [t.strip() for t in entry.get("tags", "").split(",") if t.strip()],
            **codepoint_tags(entry["hexcode"]),
        }
        if entry.get("skintone_base_hexcode") and entry["skintone_base_hexcode"] != entry["hexcode"]:
            tags["variant_of"] = entry["skintone_base_hexcode"]  # clustering labels a variant with its base
        out.append(Emoji(path, subgroup, tags))
    return out


# --- licences, read from the package ----------------------------------------------


def noto_sources(root: Path, version: str):
    from engine.data.dataset import Source

    readme = (root / "README.md").read_text(errors="replace")
    # The README states the licence of each vendor's images on one line each.
    match = re.search(r"Noto images,? are available under the \[([^\]]+)\]\(([^)]+)\)", readme)
    if match is None:
        raise MascotError(
            f"cannot find the Noto image licence in {root / 'README.md'}; not building without it"
        )
    licence_name, licence_url = match.groups()
    meta_licence = json.loads((root / "package.json").read_text()).get("license", "")
    meta_credit = (root / "LICENSE").read_text(errors="replace")
    copyright_line = next((line for line in meta_credit.splitlines() if "Copyright" in line), "").strip()
    return [
        Source(
            f"Noto Emoji images (emoji-datasource-google {version})",
            _spdx(licence_name),
            "Google, Noto Emoji",
            licence_url,
        ),
        Source(
            f"emoji-data metadata (emoji-datasource-google {version})",
            meta_licence,
            copyright_line,
            "https://github.com/iamcal/emoji-data",
        ),
    ]


def openmoji_sources(root: Path, version: str):
    from engine.data.dataset import Source

    meta = json.loads((root / "package.json").read_text())
    readme = (root / "README.md").read_text(errors="replace")
    # The README's own attribution suggestion, links stripped to their text.
    match = re.search(r"^> (All emojis designed by .+)$", readme, flags=re.MULTILINE)
    credit = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", match.group(1)) if match else "OpenMoji"
    return [Source(f"OpenMoji {version}", meta.get("license", ""), credit.strip(), meta.get("homepage", ""))]


def _spdx(name: str) -> str:
    return {"Apache License 2.0": "Apache-2.0"}.get(name, name)


# --- building -----------------------------------------------------------------------

FINDERS: dict[str, Callable[[Path, str], list[Emoji]]] = {"noto": noto_emoji, "openmoji": openmoji_emoji}
SOURCES = {"noto": noto_sources, "openmoji": openmoji_sources}


def load_emoji_image(emoji: Emoji, size: int):
    """A PIL image of one emoji: the PNG as is, the SVG rendered at ``size`` (transparent)."""
    from PIL import Image

    if emoji.path.suffix == ".svg":
        import resvg_py

        png = resvg_py.svg_to_bytes(svg_path=str(emoji.path), width=size, height=size)
        return Image.open(io.BytesIO(bytes(png)))
    return Image.open(emoji.path)


def build_emoji(cfg: EmojiConfig, out: Path) -> dict[str, Any]:
    """Install (once) the package of ``cfg.source``, and write its character emoji to ``out``."""
    from tqdm import tqdm

    from engine.data.dataset import DatasetWriter
    from engine.data.imageprep import check_size, parse_colour, square_image
    from engine.schema import Schema, choice

    if cfg.source not in PACKAGES:
        raise MascotError(f"unknown emoji source '{cfg.source}'; choose one of: {', '.join(PACKAGES)}")
    if cfg.skin_tones not in ("all", "none"):
        raise MascotError(f"--skin-tones must be 'all' or 'none', got '{cfg.skin_tones}'")
    size, background = check_size(cfg.size), parse_colour(cfg.background)
    pkg = PACKAGES[cfg.source]
    root = ensure_package(pkg)
    emoji = FINDERS[cfg.source](root, cfg.skin_tones)
    if cfg.source == "noto" and size > 64:
        print(
            f"note: Noto images in {pkg.package} are 64 px; they are upscaled to {size} px", file=sys.stderr
        )
    counts = Counter(e.category for e in emoji)
    schema = Schema((choice("category", dict(sorted(counts.items()))),))
    description = f"character-like emoji from {pkg.package} {pkg.version} ({len(counts)} subgroups)"
    with DatasetWriter(
        out, resolution=size, schema=schema, capacity=len(emoji), description=description
    ) as w:
        w.sources = SOURCES[cfg.source](root, pkg.version)
        for e in tqdm(emoji, desc=f"emoji {cfg.source}", unit="img"):
            image = square_image(load_emoji_image(e, size), size, background)
            w.add(image, {"category": e.category}, tags=e.tags)
    return {"count": len(emoji), "categories": dict(counts)}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "emoji",
        help="character-like emoji (Noto or OpenMoji) as an unlabelled set",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--source", default="noto", help="noto (Apache-2.0) or openmoji (CC BY-SA 4.0)")
    p.add_argument("--out", required=True, help="data set folder to write")
    p.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    p.add_argument("--background", default="#ffffff", help="colour behind transparent pixels")
    p.add_argument("--skin-tones", default="all", help="all: every skin-tone variant; none: only the default")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    cfg = EmojiConfig(
        source=args.source, size=args.size, background=args.background, skin_tones=args.skin_tones
    )
    summary = build_emoji(cfg, Path(args.out))
    print(f"wrote {summary['count']} emoji in {len(summary['categories'])} categories to {args.out}")
    return 0
