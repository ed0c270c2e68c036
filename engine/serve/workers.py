"""The drawing workers: one thread per core, fed by one queue, where light work never starves.

Every piece of drawing work (a bucket of generated images with their upscaling and encoding,
a chunk of an interpolation's frames, a creative render, a picture's search) runs here, on
``workers`` threads that each run torch at ``threads`` intra-op threads. On a small CPU one
single-thread forward per core does more than one forward spread over every core (torch's
parallel regions wait on their slowest thread, and much of a small generator's forward is too
small to split).

Work is *light* (a picture at the model's own size or 256 px) or *heavy* (512 px pictures,
interpolations, searches). A free worker takes the oldest light work first, then the oldest
heavy work. Heavy work comes in short pieces (a bucket of 512 px pictures, a few frames of an
interpolation), so a light request arriving while heavy work fills every worker waits for one
piece at most, and heavy work alone still has every core. The one long piece, a picture's
search (seconds), runs on ``workers - 1`` workers at most, so one always stays for the rest.

Each piece of work carries its request's deadline: a piece that has not started by then is
dropped and its request answered 503, so a late request holds no worker. Work whose caller
has gone (a cancelled request) is dropped the same way.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from engine.errors import MascotError

# A piece of work: what runs on a worker. ``prepare`` (on the event loop, once a worker is held)
# may gather more before it runs, or find there is nothing left to do (None).
Prepare = Callable[[], Awaitable[Callable[[], Any] | None]]


class Expired(MascotError):
    """The request's deadline passed before this work could start."""


def cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def worker_count(setting: int) -> int:
    """[engine] workers: 0 means one per core."""
    if isinstance(setting, bool) or not isinstance(setting, int) or not 0 <= setting <= 256:
        raise MascotError(
            f"[engine] workers must be a whole number from 0 (one per core) to 256, got {setting!r}"
        )
    return setting or cores()


@dataclass
class _Piece:
    prepare: Prepare
    heavy: bool
    long: bool
    deadline: float
    future: asyncio.Future = field(repr=False)
    started: bool = False


class WorkerPool:
    def __init__(self, workers: int = 1, threads: int | None = None) -> None:
        self.workers = max(1, workers)
        # Torch's intra-op threads are one process-wide setting: the cores shared among several
        # workers; one worker leaves torch's own choice (OMP_NUM_THREADS, or every core) alone.
        if threads is None and self.workers > 1:
            threads = max(1, cores() // self.workers)
        self.threads = threads
        self.long_limit = max(1, self.workers - 1)
        self.free = self.workers
        self.heavy_running = 0
        self.long_running = 0
        self._light: deque[_Piece] = deque()
        self._heavy: deque[_Piece] = deque()
        self._executor: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task] = set()

    @property
    def waiting(self) -> int:
        return len(self._light) + len(self._heavy)

    def start(self) -> None:
        import torch

        if self.threads is not None and torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        self._loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="mascot-worker")

    async def stop(self) -> None:
        for piece in (*self._light, *self._heavy):
            if not piece.future.done():
                piece.future.cancel()
        self._light.clear()
        self._heavy.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._executor:
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def run(
        self,
        fn: Callable[[], Any],
        *,
        heavy: bool = False,
        long: bool = False,
        deadline: float = float("inf"),
    ) -> Any:
        """``fn()`` on a worker; ``Expired`` if it could not start before ``deadline`` (monotonic).
        ``long`` work (heavy, for seconds) never holds the last worker."""

        async def ready() -> Callable[[], Any]:
            return fn

        return await self.run_prepared(ready, heavy=heavy or long, long=long, deadline=deadline)

    async def run_prepared(
        self, prepare: Prepare, *, heavy: bool = False, long: bool = False, deadline: float = float("inf")
    ):
        """Like ``run``, for work decided when a worker is free (the batcher gathers what waits then)."""
        if self._executor is None:
            raise RuntimeError("the worker pool has not been started")
        piece = _Piece(prepare, heavy or long, long, deadline, self._loop.create_future())
        (self._heavy if heavy else self._light).append(piece)
        self._dispatch()
        if math.isinf(deadline):
            return await piece.future  # cancelled by its caller: dropped when its turn comes
        try:  # answered at its deadline, not when a worker next frees
            return await asyncio.wait_for(asyncio.shield(piece.future), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            if piece.started:
                return await piece.future  # one short piece: it finishes
            piece.future.cancel()
            raise Expired("the request's time ran out before it could start") from None
        except asyncio.CancelledError:
            piece.future.cancel()  # its caller gave up: not run, or its result not awaited
            raise

    def _next(self) -> _Piece | None:
        now = time.monotonic()
        for lane in (self._light, self._heavy):
            skipped = []  # long pieces waiting for a worker they may take
            piece = None
            while lane and piece is None:
                piece = lane.popleft()
                if piece.future.done():  # its caller gave up
                    piece = None
                elif now > piece.deadline:
                    piece.future.set_exception(Expired("the request's time ran out before it could start"))
                    piece = None
                elif piece.long and self.long_running >= self.long_limit:
                    skipped.append(piece)
                    piece = None
            lane.extendleft(reversed(skipped))
            if piece is not None:
                return piece
        return None

    def _dispatch(self) -> None:
        while self.free and (piece := self._next()) is not None:
            self.free -= 1
            self.heavy_running += piece.heavy
            self.long_running += piece.long
            piece.started = True
            task = self._loop.create_task(self._work(piece))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _work(self, piece: _Piece) -> None:
        try:
            fn = await piece.prepare()
            result = None if fn is None else await self._loop.run_in_executor(self._executor, fn)
        except BaseException as exc:  # the caller's error, delivered to the caller
            if not piece.future.done():
                if isinstance(exc, asyncio.CancelledError):
                    piece.future.cancel()
                else:
                    piece.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            if not piece.future.done():
                piece.future.set_result(result)
        finally:
            self.free += 1
            self.heavy_running -= piece.heavy
            self.long_running -= piece.long
            self._dispatch()


async def run_all(
    pool: WorkerPool, fns: list[Callable[[], Any]], *, heavy: bool = False, deadline: float = float("inf")
) -> list[Any]:
    """Each of ``fns`` as its own piece of work; the first failure drops the pieces not yet run."""
    pieces = [asyncio.ensure_future(pool.run(fn, heavy=heavy, deadline=deadline)) for fn in fns]
    try:
        return list(await asyncio.gather(*pieces))
    except BaseException:
        for piece in pieces:
            piece.cancel()
        await asyncio.gather(*pieces, return_exceptions=True)
        raise
