"""Model versions on disk, with lineage: promote a challenger, roll back to the previous one.

    checkpoints/<name>                    -> a symlink to <name>-versions/<version>
    checkpoints/<name>-versions/<version>/ model.safetensors + model.json (parent inside)
    checkpoints/<name>-versions/history.jsonl   one line per promotion or rollback

Serving reads ``checkpoints/<name>`` as before; a promotion copies the challenger into
its version folder (temp name, then rename), then repoints the symlink with one
``os.replace`` of a fresh link, so a reader sees the old version or the new one, never a
mix. The first promotion turns a plain ``checkpoints/<name>`` folder into the first
entry of the versions folder, so the original is never lost.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.checkpoint import DISCRIMINATOR, META, WEIGHTS, file_sha256, read_meta
from engine.errors import MascotError


class VersionError(MascotError):
    pass


@dataclass(frozen=True)
class Change:
    """One line of history.jsonl."""

    action: str  # promote | rollback
    version: str
    previous: str | None
    reason: str
    time: float

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class VersionStore:
    def __init__(self, live: str | Path) -> None:
        self.live = Path(live)
        self.root = self.live.with_name(f"{self.live.name}-versions")

    # --- reading -------------------------------------------------------------------
    def path_of(self, version: str) -> Path:
        if not version or "/" in version or version.startswith("."):
            raise VersionError(f"'{version}' is not a model version name")
        return self.root / version

    def has(self, version: str) -> bool:
        try:
            return (self.path_of(version) / META).is_file()
        except VersionError:
            return False

    def current(self) -> str | None:
        """The version ``checkpoints/<name>`` serves now (read from its model.json)."""
        try:
            return str(read_meta(self.live)["version"])
        except MascotError:
            return None

    def history(self) -> list[Change]:
        path = self.root / "history.jsonl"
        if not path.exists():
            return []
        changes = []
        for line in path.read_text().splitlines():
            try:
                changes.append(Change(**json.loads(line)))
            except (ValueError, TypeError):
                continue  # a torn last line from a crash: the lines before it still count
        return changes

    def previous(self) -> str | None:
        """The version served before the current one: what a rollback returns to."""
        current = self.current()
        for change in reversed(self.history()):
            if change.version == current and change.previous and self.has(change.previous):
                return change.previous
        return None

    # --- writing -------------------------------------------------------------------
    def add(self, checkpoint: str | Path) -> str:
        """Copy a checkpoint folder into the versions folder (once); returns its version."""
        meta = read_meta(checkpoint)
        if file_sha256(Path(checkpoint) / WEIGHTS) != meta["weights_sha256"]:
            raise VersionError(
                f"'{checkpoint}' is corrupt: its weights do not match the hash in its model.json"
            )
        version = str(meta["version"])
        target = self.path_of(version)
        if not target.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{version}.partial-", dir=self.root))
            for name in (WEIGHTS, META, DISCRIMINATOR):  # the discriminator is optional
                if name != DISCRIMINATOR or (Path(checkpoint) / name).is_file():
                    shutil.copy2(Path(checkpoint) / name, tmp / name)
            os.replace(tmp, target)
        return version

    def adopt_live_folder(self) -> None:
        """A plain ``checkpoints/<name>`` folder becomes a version, and the live path a symlink."""
        if self.live.is_symlink() or not self.live.is_dir():
            return
        try:
            version = self.add(self.live)
        except MascotError:
            # A corrupt live folder cannot be a version, and must not block the switch that
            # replaces it; it is set aside, not deleted, for someone to look at.
            os.rename(self.live, self.live.with_name(f".{self.live.name}.unreadable-{int(time.time())}"))
            return
        retired = self.live.with_name(f".{self.live.name}.adopted-{os.getpid()}")
        os.rename(self.live, retired)
        self._point_at(version)
        shutil.rmtree(retired, ignore_errors=True)

    def switch(self, version: str, action: str, reason: str = "") -> Change:
        """Repoint the live symlink at ``version`` and append the change to history."""
        if not self.has(version):
            raise VersionError(f"no stored version '{version}' under {self.root}")
        change = Change(action, version, self.current(), reason, time.time())
        self._point_at(version)
        with open(self.root / "history.jsonl", "a") as fh:
            fh.write(json.dumps(change.to_json()) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        return change

    def _point_at(self, version: str) -> None:
        link = self.live.with_name(f".{self.live.name}.link-{os.getpid()}")
        if link.is_symlink() or link.exists():
            link.unlink()
        # Relative, so the checkpoints folder can be moved or mounted elsewhere.
        os.symlink(os.path.join(self.root.name, version), link)
        os.replace(link, self.live)
