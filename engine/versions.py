"""Model versions with lineage, in the engine's own state folder: promote, roll back, serve.

    <state>/models/<name>-<where>/<version>.<key>/   a stored copy: model.safetensors + model.json
    <state>/models/<name>-<where>/serving.json       which stored copy serves now
    <state>/models/<name>-<where>/history.jsonl      one line per promotion, reload by path or rollback

``<state>`` is $MASCOT_STATE_DIR, or else a ``state`` folder beside the checkpoints folder
(``./state`` for ``checkpoints/default``; git ignores it). The configured folder
(``checkpoints/<name>``, tracked in git) is only ever read: a deployment can ``git pull`` a
new default while the engine runs and adopt it by promoting that folder.

A copy is keyed by its content (the hash of its files), never by its version name alone: a
folder whose model.json names a stored version but whose files differ is a new copy. A
candidate is copied into a temporary folder, hashed again, loaded and made to draw there
(engine/checkpoint_probe.py), and only then renamed into place, so a refused one leaves
nothing behind. Switching rewrites serving.json with one ``os.replace``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.checkpoint import DISCRIMINATOR, META, WEIGHTS, file_sha256, load_checkpoint, read_meta
from engine.checkpoint_probe import probe
from engine.errors import MascotError

STATE_ENV = "MASCOT_STATE_DIR"


class VersionError(MascotError):
    pass


@dataclass(frozen=True)
class Change:
    """One line of history.jsonl."""

    action: str  # promote | reload | rollback
    version: str
    previous: str | None
    reason: str
    time: float
    copy: str = ""  # the stored copy's folder name: <version>.<content key>

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def state_root(live: Path) -> Path:
    """The engine's state folder: $MASCOT_STATE_DIR, else ``state`` beside the checkpoints folder."""
    given = os.environ.get(STATE_ENV)
    return Path(given).expanduser() if given else live.absolute().parent.parent / "state"


def model_folder(configured: Path, state: Path) -> Path:
    """``<state>/models/<name>-<where>``: <where> hashes the configured folder's path (relative to
    the state folder's parent when it lies there, so moving a checkout keeps its state), so two
    checkouts or two folders of the same name never share versions."""
    here, base = configured.absolute(), state.absolute().parent
    where = here.relative_to(base) if here.is_relative_to(base) else here
    return state / "models" / f"{configured.name}-{hashlib.sha256(str(where).encode()).hexdigest()[:8]}"


def content_key(folder: Path) -> str:
    """The hash of a checkpoint folder's files (model.json, weights, discriminator if any)."""
    digest = hashlib.sha256()
    for name in (META, WEIGHTS, DISCRIMINATOR):
        digest.update(file_sha256(folder / name).encode() if (folder / name).is_file() else b"-")
    return digest.hexdigest()[:16]


class VersionStore:
    def __init__(self, live: str | Path, state: str | Path | None = None) -> None:
        self.configured = Path(live)  # checkpoints/<name>: read, never written
        self.root = model_folder(self.configured, Path(state or state_root(self.configured)))

    # --- reading -------------------------------------------------------------------
    @property
    def live(self) -> Path:
        """The folder that serves: the stored copy serving.json names, else the configured folder."""
        copy = self._serving().get("copy")
        if isinstance(copy, str) and (self.root / copy / META).is_file():
            return self.root / copy
        return self.configured

    def copies(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if (p / META).is_file() and not p.name.startswith("."))

    def path_of(self, version: str) -> Path:
        """A stored copy by its folder name, or the newest stored copy of a version name."""
        if not isinstance(version, str) or not version or "/" in version or version.startswith("."):
            raise VersionError(f"{json.dumps(version)[:80]} is not a model version name")
        if (self.root / version / META).is_file():
            return self.root / version
        named = [p for p in self.copies() if p.name.rpartition(".")[0] == version]
        if not named:
            raise VersionError(f"no stored version '{version}' of model '{self.configured.name}'")
        return max(named, key=lambda p: p.stat().st_mtime)

    def has(self, version: str) -> bool:
        try:
            self.path_of(version)
            return True
        except VersionError:
            return False

    def current(self) -> str | None:
        """The version that serves now (read from its model.json)."""
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
        """Copy a checkpoint folder in (once per content) after it loads and draws; returns the
        copy's folder name, which ``path_of`` and ``switch`` take."""
        src = Path(checkpoint)
        meta = read_meta(src)
        if file_sha256(src / WEIGHTS) != meta["weights_sha256"]:
            raise VersionError(f"'{src}' is corrupt: its weights do not match the hash in its model.json")
        key = content_key(src)
        name = f"{meta['version']}.{key}"
        target = self.root / name
        if (target / META).is_file() and content_key(target) == key:
            return name
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.partial-", dir=self.root))
        try:
            for part in (WEIGHTS, META, DISCRIMINATOR):  # the discriminator is optional
                if part != DISCRIMINATOR or (src / part).is_file():
                    shutil.copy2(src / part, tmp / part)
            if content_key(tmp) != key:
                raise VersionError(f"'{src}' changed while it was being copied; try again")
            probe(load_checkpoint(tmp))
            if target.exists():  # a damaged copy of the same name: the checked one replaces it
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return name

    def adopt_live_folder(self) -> None:
        """Before the first switch, the configured folder becomes the first stored version, so a
        rollback can return to it. A folder that cannot be a version is left as it is."""
        if self._serving():
            return
        try:
            name = self.add(self.configured)
        except (MascotError, OSError):
            return
        self._write_serving(name)

    def switch(self, version: str, action: str, reason: str = "") -> Change:
        """Serve the stored copy ``version`` names from now on, and append the change to history."""
        folder = self.path_of(version)
        change = Change(
            action, str(read_meta(folder)["version"]), self.current(), reason, time.time(), folder.name
        )
        self._write_serving(folder.name)
        with open(self.root / "history.jsonl", "a") as fh:
            fh.write(json.dumps(change.to_json()) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        return change

    def _serving(self) -> dict[str, Any]:
        try:
            value = json.loads((self.root / "serving.json").read_text())
        except (OSError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    def _write_serving(self, name: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".serving.json.{os.getpid()}"
        tmp.write_text(json.dumps({"copy": name, "since": time.time()}))
        os.replace(tmp, self.root / "serving.json")
