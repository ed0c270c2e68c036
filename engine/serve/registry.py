"""The models a service holds, by name, with atomic hot reload.

A request takes a reference to the current Checkpoint once and keeps it, so a reload
that swaps the entry never changes the weights under a request in flight. Start-up and
every reload load and validate the checkpoint completely and make it draw a probe batch
(engine/checkpoint_probe.py), off the event loop, before it serves; if that fails, the old
model keeps serving and the error is returned. A model serves the version its state
folder names (engine/versions.py), else its configured folder.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import torch

from engine.checkpoint import Checkpoint, load_checkpoint
from engine.checkpoint_probe import probe
from engine.errors import MascotError
from engine.versions import VersionStore


class UnknownModel(MascotError):
    pass


class Registry:
    def __init__(
        self, paths: dict[str, Path], default: str, device: str = "cpu", dtype: torch.dtype = torch.float64
    ) -> None:
        if default not in paths:
            raise MascotError(
                f"the default model '{default}' is not among the models to load: {', '.join(paths)}"
            )
        self.paths = dict(paths)
        self.default = default
        self.device = device
        self.dtype = dtype
        self._models: dict[str, Checkpoint] = {}
        self._reload_lock = asyncio.Lock()

    def load_all(self) -> None:
        for name, path in self.paths.items():
            serving = VersionStore(path).live
            self._models[name] = self._load(serving)
            self.paths[name] = serving

    def _load(self, path: Path) -> Checkpoint:
        ck = load_checkpoint(path, self.device, self.dtype)
        probe(ck)
        return ck

    @property
    def ready(self) -> bool:
        return set(self._models) == set(self.paths)

    def names(self) -> list[str]:
        return list(self._models)

    def get(self, name: str | None) -> Checkpoint:
        key = name or self.default
        if key not in self._models:
            known = ", ".join(self._models) or "(none loaded)"
            raise UnknownModel(f"unknown model '{key}'; available models: {known}")
        return self._models[key]

    async def put(self, name: str, path: Path) -> Checkpoint:
        """Serve ``path`` as ``name`` from now on, whether or not ``name`` served before: a
        community's own model, which appears once it has trained and is rebuilt with new
        classes when its pictures change. Loaded and probed off the event loop first."""
        async with self._reload_lock:
            fresh = await asyncio.to_thread(self._load, Path(path))
            self._models[name] = fresh
            self.paths[name] = Path(path)
            return fresh

    def drop(self, name: str) -> None:
        """Stop serving ``name`` (a forgotten community's model); the configured ones stay."""
        if name == self.default:
            raise MascotError(f"the default model '{name}' cannot be dropped")
        self._models.pop(name, None)
        self.paths.pop(name, None)

    async def reload(self, name: str, path: str | None = None) -> Checkpoint:
        """Load ``name`` again (from ``path`` if given) and swap it in atomically."""
        if name not in self.paths:
            raise UnknownModel(f"unknown model '{name}'; available models: {', '.join(self.paths)}")
        async with self._reload_lock:
            target = Path(path) if path else self.paths[name]
            fresh = await asyncio.to_thread(self._load, target)
            current = self._models.get(name)
            if current is not None and fresh.schema.interface() != current.schema.interface():
                # Clients built their commands from the old schema; a silent change breaks them.
                # A new prior is fine: it only changes what unset attributes default to.
                raise MascotError(
                    f"refused: '{target}' has a different attribute schema "
                    f"from the model '{name}' it would replace"
                )
            self._models[name] = fresh  # one assignment: requests in flight keep the old object
            self.paths[name] = target
            return fresh
