"""What a route module may ask of the engine's service (engine/serve/app.py's ``EngineService``).

Route modules take the service as this protocol rather than importing the class, so they sit
below the app that registers them (engine/serve/routes.py) and nothing imports upward.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from cachetools import LRUCache

from engine.checkpoint import Checkpoint
from engine.sampling import Request
from engine.serve.registry import Registry
from engine.serve.requests import ApiError
from engine.serve.workers import WorkerPool
from engine.versions import VersionStore


class Service(Protocol):
    cfg: Any  # ServeConfig
    registry: Registry
    cache: LRUCache
    pool: WorkerPool
    jobs: Any  # JobRunner once started: fine-tunes in child processes
    upscaler: Any  # the upscale stage, None without one
    roots: tuple[str, ...]  # the folders a request may name paths under
    ready: bool  # models loaded and admission calibrated

    def sizes(self, ck: Checkpoint) -> list[int]:
        """The sides the model is served at: its own, and those of the upscale stage."""

    def model(self, name: str | None) -> Checkpoint:
        """The named model (the default for None); 503 while loading, 404 when unknown."""

    def attributes(self, ck: Checkpoint, raw: Any, offered_only: bool = True) -> dict[str, str]:
        """A request's attributes parsed against the model's schema (400 naming what is wrong);
        a value the model does not offer is refused unless ``offered_only`` is False."""

    def size(self, ck: Checkpoint, requested: int | None) -> int:
        """The picture's side: the model's own for None, else one it offers (400 otherwise)."""

    def finished(self, ck: Checkpoint, pixels: Any, size: int) -> Any:
        """The generator's pixels as served at ``size``."""

    async def images(self, ck: Checkpoint, reqs: list[Request], fmt: str, size: int) -> list[bytes]:
        """Encoded pictures of plain seeds, through the queue, the serving forward and the cache."""

    async def draw(self, work: Callable[[], Any], ck: Checkpoint, size: int, images: int) -> Any:
        """``work()`` on a worker, admitted as ``images`` pictures at ``size``."""

    async def switch(self, name: str, store: VersionStore, version: str, action: str, reason: str) -> dict:
        """Serve ``version`` of ``name`` from ``store``, recorded as ``action`` (promote, rollback)."""

    async def add_and_switch(
        self, name: str, store: VersionStore, path: Any, action: str, reason: str
    ) -> dict:
        """Keep the checkpoint folder ``path`` as a version in ``store`` and serve it (422 when refused)."""

    async def roll_back(self, name: str, store: VersionStore, version: str, reason: str) -> dict:
        """Serve ``version`` again, or the one before the current (409 when there is none)."""

    def deadline(self) -> float: ...

    def timed_out(self) -> ApiError: ...
