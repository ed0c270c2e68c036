"""Pictures a community uploads: checked one by one before anything is kept.

Each file is refused by name, with the reason, when it is not one of the kinds read here
(judged from its bytes, not its name: a PDF called cat.png is refused), cannot be decoded,
is smaller than ``Limits.min_side``, is over the per-file size, or repeats a picture already
kept (the same bytes, whatever the name). The limits on one upload, on the pictures kept and
on the community's disk are stated in the refusal. What passes is written to the
community's ``pictures/`` folder under a safe version of its name.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.community.store import Community, CommunityError, Limits
from engine.data.svgrefs import outside_references
from engine.errors import shown

KINDS = ("PNG", "JPEG", "WebP", "GIF", "SVG")
SUFFIX_OF = {"PNG": ".png", "JPEG": ".jpg", "WebP": ".webp", "GIF": ".gif", "SVG": ".svg"}
ALLOWED = "PNG, JPEG, WebP, GIF or SVG"
MAX_NAME = 80


@dataclass
class Intake:
    """What happened to one upload: the pictures kept and each refusal with its reason."""

    kept: list[str] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)

    def refuse(self, name: str, reason: str) -> None:
        self.refused.append({"file": name, "reason": reason})

    def to_json(self, community: Community, limits: Limits) -> dict[str, Any]:
        pictures = stored_pictures(community)
        return {
            "kept": self.kept,
            "refused": self.refused,
            "pictures": len(pictures),
            "pictures_bytes": sum(p.stat().st_size for p in pictures),
            "limits": limits_json(limits),
        }


def limits_json(limits: Limits) -> dict[str, Any]:
    return {
        "kinds": list(KINDS),
        "file_bytes": limits.file_bytes,
        "upload_bytes": limits.upload_bytes,
        "pictures": limits.pictures,
        "min_pictures": limits.min_pictures,
        "min_side": limits.min_side,
        "disk_bytes": limits.disk_bytes,
        "cpu_minutes": limits.cpu_minutes,
    }


def kind_of(data: bytes) -> str | None:
    """The picture kind these bytes are, from their first bytes; None for any other."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<?xml", b"<svg", b"<!--", b"<!doctype svg")) and b"<svg" in head:
        return "SVG"
    return None


def safe_name(name: str) -> str:
    """The file's own name (no folders), in letters, digits, '.', '_' and '-'."""
    base = re.split(r"[\\/]", name)[-1]
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or "picture"
    return cleaned[-MAX_NAME:]


def raster_problem(data: bytes, min_side: int) -> str | None:
    """Why a raster picture cannot be used (undecodable, too small), or None."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()  # decodes the first frame: a truncated file fails here, not in training
            width, height = im.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        return f"cannot be read as a picture ({str(exc)[:120]})"
    if min(width, height) < min_side:
        return f"is {width}x{height} pixels; pictures need at least {min_side} pixels a side"
    return None


def svg_problem(data: bytes) -> str | None:
    try:
        import resvg_py  # noqa: F401  (the renderer data folder draws SVGs with)
    except ImportError:
        return "is an SVG, and this engine has no SVG renderer (pip install resvg-py)"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "is not UTF-8 text, so not an SVG that can be drawn"
    outside = outside_references(text)
    if outside:
        return (
            f"is an SVG that refers to something outside itself ({shown(outside[0])}); only SVGs "
            "whose images are all inside them (data: or #id) are taken"
        )
    return None


def stored_pictures(community: Community) -> list[Path]:
    folder = community.pictures
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def take_pictures(community: Community, files: list[tuple[str, bytes]], limits: Limits) -> Intake:
    """Check ``files`` (name, bytes) and keep those that pass; refusals are reported by name."""
    check_upload(files, limits)
    community.check_disk(limits, sum(len(data) for _, data in files))
    existing = stored_pictures(community)
    seen = {hashlib.sha256(p.read_bytes()).hexdigest(): p.name for p in existing}
    names = {p.name for p in existing}
    room = limits.pictures - len(existing)
    intake = Intake()
    community.pictures.mkdir(parents=True, exist_ok=True)
    for name, data in files:
        reason = picture_problem(data, limits)
        digest = hashlib.sha256(data).hexdigest()
        if reason is None and digest in seen:
            reason = f"is a duplicate of {seen[digest]}"
        if reason is None and room <= 0:
            reason = f"the community already keeps {limits.pictures} pictures, the most allowed"
        if reason is not None:
            intake.refuse(name, reason)
            continue
        stored = unique_name(safe_name(name), kind_of(data), names)
        (community.pictures / stored).write_bytes(data)
        names.add(stored)
        seen[digest] = stored
        room -= 1
        intake.kept.append(stored)
    return intake


def check_upload(files: list[tuple[str, bytes]], limits: Limits) -> None:
    if not files:
        raise CommunityError(f"no pictures were sent; send 1 to {limits.pictures} files ({ALLOWED})")
    total = sum(len(data) for _, data in files)
    if total > limits.upload_bytes:
        raise CommunityError(
            f"{len(files)} files of {size_text(total)} in one upload; at most "
            f"{size_text(limits.upload_bytes)} an upload (send them in parts)"
        )
    if len(files) > limits.pictures:
        raise CommunityError(f"{len(files)} files in one upload; at most {limits.pictures}")


def picture_problem(data: bytes, limits: Limits) -> str | None:
    if len(data) > limits.file_bytes:
        return f"is {size_text(len(data))}; at most {size_text(limits.file_bytes)} a picture"
    kind = kind_of(data)
    if kind is None:
        return f"is not a picture of a kind read here ({ALLOWED})"
    return svg_problem(data) if kind == "SVG" else raster_problem(data, limits.min_side)


def size_text(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


def unique_name(name: str, kind: str | None, taken: set[str]) -> str:
    """``name`` with the suffix of its real kind, numbered when another picture has it."""
    stem = Path(name).stem or "picture"
    suffix = SUFFIX_OF.get(kind or "", Path(name).suffix)
    candidate, n = f"{stem}{suffix}", 1
    while candidate in taken:
        n += 1
        candidate = f"{stem}-{n}{suffix}"
    return candidate
