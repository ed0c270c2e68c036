"""Dynamic micro-batching: requests that arrive within a short window share one forward pass.

Each image's latent comes from its own seeded generator (engine.sampling), so batching
never changes pixels. The queue is bounded: a full queue refuses at once (the service
answers 429 with Retry-After) instead of letting waits grow without limit. The forward
pass runs in a worker thread so the event loop keeps accepting requests meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from engine.checkpoint import Checkpoint
from engine.errors import MascotError
from engine.sampling import Request, render


class QueueFull(MascotError):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"the engine is busy; try again in {retry_after:.0f} s")
        self.retry_after = retry_after


@dataclass
class _Item:
    ckpt: Checkpoint
    request: Request
    future: asyncio.Future = field(repr=False)


class Batcher:
    def __init__(self, *, window_ms: float = 5.0, max_batch: int = 64, queue_size: int = 256,
                 device: str = "cpu", on_batch: Callable[[int], None] | None = None) -> None:  # fmt: skip
        self.window = window_ms / 1000.0
        self.max_batch = max_batch
        self.device = device
        self.on_batch = on_batch or (lambda n: None)
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=queue_size)
        self._task: asyncio.Task | None = None
        self._seconds_per_image = 0.01  # running estimate, for Retry-After

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="batcher")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def submit(self, ckpt: Checkpoint, requests: list[Request]) -> list[np.ndarray]:
        """Queue every request (all or none) and wait for their images."""
        if self._queue.maxsize - self._queue.qsize() < len(requests):
            raise QueueFull(retry_after=max(1.0, self.depth * self._seconds_per_image))
        loop = asyncio.get_running_loop()
        items = [_Item(ckpt, r, loop.create_future()) for r in requests]
        for item in items:
            self._queue.put_nowait(item)
        return list(await asyncio.gather(*(i.future for i in items)))

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            deadline = time.monotonic() + self.window
            while len(batch) < self.max_batch:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except asyncio.TimeoutError:
                    break
            await self._render_groups(batch)

    async def _render_groups(self, batch: list[_Item]) -> None:
        # One forward pass per (model object, truncation): a reload mid-batch keeps both apart.
        groups: dict[tuple[int, float], list[_Item]] = {}
        for item in batch:
            if not item.future.cancelled():
                groups.setdefault((id(item.ckpt), item.request.truncation), []).append(item)
        for items in groups.values():
            start = time.monotonic()
            try:
                images = await asyncio.to_thread(
                    render, items[0].ckpt.G, items[0].ckpt.schema, [i.request for i in items], self.device
                )
            except Exception as exc:  # a broken model fails its requests, not the batcher
                for item in items:
                    if not item.future.done():
                        item.future.set_exception(exc)
                continue
            self._seconds_per_image = 0.8 * self._seconds_per_image + 0.2 * (time.monotonic() - start) / len(items)
            self.on_batch(len(items))
            for item, image in zip(items, images):
                if not item.future.done():
                    item.future.set_result(image)
