"""Folders and files that appear complete or not at all: write beside, then rename.

Data sets and checkpoints are built in a hidden staging folder; reports, caches and tables
are written to a hidden temporary file. Either way a crash, a full disk or Ctrl-C never
leaves something at the destination that looks finished but is not.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from engine.errors import MascotError


def staging_dir(out: Path) -> Path:
    """A new hidden folder beside ``out`` (same file system, so the final rename is atomic)."""
    parent = Path(out).resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{Path(out).name}.partial-", dir=parent))
    except OSError as exc:
        raise MascotError(
            f"cannot write to '{parent}': {exc.strerror}; choose another output folder"
        ) from None


def publish(tmp: Path, out: Path) -> None:
    """Move the finished staging folder to ``out``, replacing what was there only now."""
    # mkdtemp makes private (0700) folders; what we publish is meant to be read by others.
    os.chmod(tmp, 0o755)
    for f in tmp.iterdir():
        if f.is_file():
            os.chmod(f, 0o644)
    out = Path(out)
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())
