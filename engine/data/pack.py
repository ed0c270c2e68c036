"""``mascot-engine data pack`` / ``unpack``: a data set as one compressed file, and back.

For training on another machine (a rented GPU) that cannot render DiceBear (no Node there):
a data set travels as one small file. Mascot renders share outlines and flat colours across
images, so one LZMA stream over the raw pixels (a 64 MiB window spans about 1,300 images at 128px) is about a
third smaller than lossless WebP per image: 20,000 renders at 128px fit in about 32 MB.
Packing keeps every pixel and label, so the unpacked set has the same fingerprint, and a
run resumes on it.
"""

from __future__ import annotations

import argparse
import lzma
import shutil
import tarfile
import time
from pathlib import Path

from engine.errors import MascotError

# The files a training run reads; the contact sheet and tags are for people, not for training.
PACKED = ("card.json", "schema.json", "labels.npy", "images.npy")
LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "pack", help="one .tar.xz of a data set's training files (to train on another machine)"
    )
    p.add_argument("dir", help="data set folder")
    p.add_argument("--out", required=True, help="file to write, e.g. data/dicebear-20k-128.tar.xz")
    p.set_defaults(func=_run_pack)
    u = subparsers.add_parser("unpack", help="a packed data set back into a folder")
    u.add_argument("file", help="a file written by 'data pack'")
    u.add_argument("--out", required=True, help="data set folder to create")
    u.set_defaults(func=_run_unpack)


def pack(root: str | Path, out: str | Path) -> Path:
    from engine.data.dataset import Dataset

    ds = Dataset(root)  # refuses an incomplete or corrupt set before any work
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with (
        lzma.open(tmp, "wb", format=lzma.FORMAT_XZ, filters=LZMA_FILTERS) as xz,
        tarfile.open(fileobj=xz, mode="w") as tar,
    ):
        for name in PACKED:
            tar.add(ds.root / name, arcname=name)
    tmp.replace(out)
    return out


def unpack(file: str | Path, out: str | Path) -> Path:
    from engine.atomic import publish, staging_dir

    file, out = Path(file), Path(out)
    if not file.is_file():
        raise MascotError(f"no packed data set at '{file}'")
    tmp = staging_dir(out)  # checked before it becomes the data set: a refused pack leaves nothing behind
    try:
        _extract_checked(file, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    publish(tmp, out)
    return out


def _extract_checked(file: Path, out: Path) -> None:
    from engine.data.dataset import Dataset, fingerprint

    try:
        with tarfile.open(file, mode="r:xz") as tar:
            members = tar.getmembers()
            names = sorted(m.name for m in members)
            if names != sorted(PACKED) or not all(m.isfile() for m in members):
                raise MascotError(
                    f"'{file}' is not a packed data set: it holds {', '.join(names)}; "
                    f"expected {', '.join(PACKED)}"
                )
            tar.extractall(out, filter="data")
    except (tarfile.TarError, lzma.LZMAError, EOFError) as exc:
        raise MascotError(f"'{file}' is not a readable packed data set: {exc}") from None
    ds = Dataset(out)
    if fingerprint(ds.images, ds.labels) != ds.fingerprint:
        raise MascotError(f"'{file}' unpacked to pixels or labels that do not match its card's fingerprint")


def _run_pack(args: argparse.Namespace) -> int:
    start = time.time()
    out = pack(args.dir, args.out)
    print(
        f"packed {args.dir} into {out} ({out.stat().st_size / 2**20:.1f} MiB) in {time.time() - start:.0f} s"
    )
    return 0


def _run_unpack(args: argparse.Namespace) -> int:
    start = time.time()
    out = unpack(args.file, args.out)
    print(f"unpacked {args.file} into {out} in {time.time() - start:.0f} s")
    return 0
