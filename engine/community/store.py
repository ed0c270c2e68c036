"""Where a community's own model lives, what it may use, and how it is forgotten.

Everything of one community is under one folder of the engine's state folder, so nothing of
it mixes with another's and ``forget`` is one removal:

    <state>/communities/<id>/pictures/        the pictures it uploaded, as sent (checked names)
    <state>/communities/<id>/data/set/        the data set built from them (engine/data format)
    <state>/communities/<id>/run/             the training run: resume point, chunk logs, grids
    <state>/communities/<id>/model/           the configured folder its versions are keyed by
    <state>/communities/<id>/models/          its versions: serving.json, history.jsonl, copies
    <state>/communities/<id>/community.json   settings, budgets, what was built, every chunk

A community's id is what the chat calls it (``discord-<guild id>``, ``web-<name>``); the model
it serves has the same name. ``community.json`` is rewritten whole with one rename, so a crash
leaves the old file or the new one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import MascotError

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
META_FILE = "community.json"


class CommunityError(MascotError):
    """Bad input or a budget spent: the message says what was wrong and what is allowed."""


class UnknownCommunity(CommunityError):
    pass


@dataclass(frozen=True)
class Limits:
    """What one community may store and spend; every refusal names the limit it met."""

    file_bytes: int = 8 * 2**20  # one picture
    upload_bytes: int = 40 * 2**20  # one upload, all its pictures (base64 in a 64 MiB body)
    pictures: int = 3000  # pictures kept at once
    min_pictures: int = 16  # fewer cannot make a data set worth training
    min_side: int = 32  # pixels, a raster picture's shorter side; SVGs are drawn at any size
    disk_bytes: int = 1024 * 2**20  # everything under the community's folder
    cpu_minutes: float = 240.0  # training and its evaluations, over every chunk


@dataclass
class CommunityState:
    """community.json: what the community has and has spent."""

    id: str
    created: float = field(default_factory=time.time)
    preset: str = "cpu-small"
    cpu_minutes_budget: float = Limits.cpu_minutes
    cpu_minutes_spent: float = 0.0
    built: dict[str, Any] = field(default_factory=dict)  # the data set's summary, {} until built
    chunks: list[dict[str, Any]] = field(default_factory=list)  # one entry per finished chunk
    running: dict[str, Any] = field(default_factory=dict)  # the chunk in progress: pid, started

    @property
    def cpu_minutes_left(self) -> float:
        return max(0.0, self.cpu_minutes_budget - self.cpu_minutes_spent)


def check_id(community: Any) -> str:
    if not isinstance(community, str) or not ID_PATTERN.match(community):
        shown = json.dumps(community)[:60] if isinstance(community, str) else type(community).__name__
        raise CommunityError(
            f"{shown} is not a community id: 1-48 of lower-case letters, digits, '-' and '_', "
            "starting with a letter or digit (e.g. discord-1234)"
        )
    return community


class Community:
    """One community's folder: its paths, its state file, its disk use."""

    def __init__(self, root: Path, community: str) -> None:
        self.id = check_id(community)
        self.folder = Path(root) / self.id

    @property
    def pictures(self) -> Path:
        return self.folder / "pictures"

    @property
    def data(self) -> Path:
        return self.folder / "data" / "set"

    @property
    def run(self) -> Path:
        return self.folder / "run"

    @property
    def configured(self) -> Path:
        return self.folder / "model"

    def exists(self) -> bool:
        return (self.folder / META_FILE).is_file()

    def state(self) -> CommunityState:
        path = self.folder / META_FILE
        if not path.is_file():
            raise UnknownCommunity(f"no community '{self.id}': upload its pictures first")
        try:
            raw = json.loads(path.read_text())
            return CommunityState(**raw)
        except (ValueError, TypeError) as exc:
            raise CommunityError(f"'{path}' is not a community's state file: {exc}") from None

    def save(self, state: CommunityState) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{META_FILE}.{os.getpid()}"
        tmp.write_text(json.dumps(asdict(state), indent=1))
        os.replace(tmp, self.folder / META_FILE)

    def open(self, limits: Limits, preset: str) -> CommunityState:
        """Its state, created on first use with the budgets of ``limits``."""
        if self.exists():
            return self.state()
        state = CommunityState(self.id, preset=preset, cpu_minutes_budget=limits.cpu_minutes)
        self.save(state)
        return state

    def disk_bytes(self) -> int:
        """Bytes of its files now; a chunk may be writing, so a file gone mid-count counts 0."""
        # os.walk skips folders that vanish under it (a trainer's temporary ones); rglob raises.
        return sum(_file_bytes(Path(top, name)) for top, _, names in os.walk(self.folder) for name in names)

    def check_disk(self, limits: Limits, adding: int = 0) -> None:
        used = self.disk_bytes()
        if used + adding > limits.disk_bytes:
            raise CommunityError(
                f"community '{self.id}' would use {_mib(used + adding)} of disk, over its budget of "
                f"{_mib(limits.disk_bytes)} (now {_mib(used)}); forget pictures or the model first"
            )

    def forget(self) -> None:
        """Remove everything of this community: pictures, data set, runs, model and versions."""
        if self.folder.exists():
            shutil.rmtree(self.folder)


def communities_root(state: Path) -> Path:
    return Path(state) / "communities"


def known(root: Path) -> list[str]:
    """Every community with a state file under ``root``."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if ID_PATTERN.match(p.name) and (p / META_FILE).is_file())


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def _file_bytes(path: Path) -> int:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return 0
    return info.st_size if stat.S_ISREG(info.st_mode) else 0
