"""Dynamic micro-batching at fixed bucket shapes, on a forward thread of its own.

Requests queue; the batcher takes everything waiting (up to the largest bucket) and runs it
as forward passes of the configured bucket sizes only: 13 waiting with buckets (1, 2, 4, 8)
run as 8 + 4 + 1, and with buckets (4, 8) as 8 + 4 + a 4 padded with one spare row. A lone
request starts at once (no window is waited while the queue is idle); under load the
running forward pass is the window in which the next batch gathers.

The forward pass (engine.serve.forward) gives a request the same bytes alone, in any
bucket, at any position; running only bucket shapes keeps every shape that serves one that
the tests check. It runs on one dedicated thread (torch's own threads do the parallel work)
so it never waits behind image encoding, which runs on the event loop's default pool.

The queue is bounded: a full queue refuses at once (the service answers 429 with
Retry-After) instead of letting waits grow without limit.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from engine.checkpoint import Checkpoint
from engine.errors import MascotError
from engine.sampling import Request
from engine.serve.forward import serving_forward

DEFAULT_BUCKETS = (1, 2, 4)


class QueueFull(MascotError):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"the engine is busy; try again in {retry_after:.0f} s")
        self.retry_after = retry_after


@dataclass
class _Item:
    ckpt: Checkpoint
    request: Request
    future: asyncio.Future = field(repr=False)


def check_buckets(buckets: Sequence[int]) -> tuple[int, ...]:
    """Sorted, distinct, positive batch sizes; anything else is a clear error."""
    if (
        isinstance(buckets, (str, bytes))
        or not buckets
        or not all(isinstance(b, int) and not isinstance(b, bool) and 1 <= b <= 1024 for b in buckets)
    ):
        raise MascotError(
            f"buckets must be a list of whole numbers from 1 to 1024, like [1, 2, 4, 8]; got {buckets!r}"
        )
    return tuple(sorted(set(buckets)))


def plan(n: int, buckets: Sequence[int]) -> list[int]:
    """Bucket sizes whose forward passes serve ``n`` images: the largest that fits, repeatedly;
    a remainder smaller than every bucket is padded up to the smallest."""
    out = []
    while n > 0:
        fits = [b for b in buckets if b <= n]
        b = fits[-1] if fits else buckets[0]
        out.append(b)
        n -= b
    return out


class Batcher:
    def __init__(
        self,
        *,
        window_ms: float = 0.0,
        max_batch: int = 64,
        buckets: Sequence[int] = DEFAULT_BUCKETS,
        queue_size: int = 256,
        device: str = "cpu",
        channels_last: bool = False,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> None:
        self.window = window_ms / 1000.0
        usable = [b for b in check_buckets(buckets) if b <= max_batch]
        self.buckets = tuple(usable) or (1,)
        self.max_batch = max(self.buckets)
        self.device = device
        self.channels_last = channels_last
        self.on_batch = on_batch or (lambda images, bucket: None)
        self.bucket_counts: Counter[int] = Counter()  # forward passes run, by bucket size
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=queue_size)
        self._task: asyncio.Task | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._forwards: dict[int, object] = {}  # id(checkpoint) -> its serving forward, while it lives
        self._seconds_per_image = 0.01  # running estimate, for Retry-After

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mascot-forward")
        self._task = asyncio.create_task(self._run(), name="batcher")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._pool:
            self._pool.shutdown(wait=False, cancel_futures=True)

    async def submit(self, ckpt: Checkpoint, requests: list[Request]) -> list[np.ndarray]:
        """Queue every request (all or none) and wait for their images."""
        if self._queue.maxsize - self._queue.qsize() < len(requests):
            raise QueueFull(retry_after=max(1.0, self.depth * self._seconds_per_image))
        loop = asyncio.get_running_loop()
        items = [_Item(ckpt, r, loop.create_future()) for r in requests]
        for item in items:
            self._queue.put_nowait(item)
        return list(await asyncio.gather(*(i.future for i in items)))

    def forward_for(self, ckpt: Checkpoint):
        """The serving forward of this model object, built once (a reload brings a new object)."""
        fwd = self._forwards.get(id(ckpt))
        if fwd is None:
            fwd = self._forwards[id(ckpt)] = serving_forward(
                ckpt.G, ckpt.schema, channels_last=self.channels_last
            )
            # The forward holds the weights, so it must not outlive the model a reload replaced.
            weakref.finalize(ckpt, self._forwards.pop, id(ckpt), None)
        return fwd

    def _take_waiting(self, batch: list[_Item]) -> None:
        while len(batch) < self.max_batch and not self._queue.empty():
            batch.append(self._queue.get_nowait())

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            self._take_waiting(batch)
            # A window only pays when requests are arriving together; a lone one starts at once.
            if self.window > 0 and 1 < len(batch) < self.max_batch:
                deadline = time.monotonic() + self.window
                while len(batch) < self.max_batch and (remaining := deadline - time.monotonic()) > 0:
                    try:
                        batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                    except TimeoutError:
                        break
                    self._take_waiting(batch)
            await self._render_groups(batch)
            del batch  # idle, the last batch must not keep its model alive

    async def _render_groups(self, batch: list[_Item]) -> None:
        # One group per model object: a reload mid-batch keeps old and new apart.
        groups: dict[int, list[_Item]] = {}
        for item in batch:
            if not item.future.cancelled():
                groups.setdefault(id(item.ckpt), []).append(item)
        loop = asyncio.get_running_loop()
        for items in groups.values():
            for bucket in plan(len(items), self.buckets):
                chunk, items = items[:bucket], items[bucket:]
                requests = [i.request for i in chunk]
                requests += [requests[-1]] * (bucket - len(requests))  # padding rows, dropped below
                start = time.monotonic()
                try:
                    images = await loop.run_in_executor(self._pool, self._forward, chunk[0].ckpt, requests)
                except Exception as exc:  # a broken model fails its requests, not the batcher
                    for item in chunk:
                        if not item.future.done():
                            item.future.set_exception(exc)
                    continue
                per_image = (time.monotonic() - start) / len(chunk)
                self._seconds_per_image = 0.8 * self._seconds_per_image + 0.2 * per_image
                self.bucket_counts[bucket] += 1
                self.on_batch(len(chunk), bucket)
                for item, image in zip(chunk, images):
                    if not item.future.done():
                        item.future.set_result(image)

    def _forward(self, ckpt: Checkpoint, requests: list[Request]) -> np.ndarray:
        return self.forward_for(ckpt)(requests)
