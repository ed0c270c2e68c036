"""Dynamic micro-batching at fixed bucket shapes, on the drawing workers (engine.serve.workers).

Requests queue; a free worker takes everything waiting (up to the largest bucket) and runs it
as forward passes of the configured bucket sizes only: 7 waiting with buckets (1, 2, 4) run as
4 + 2 + 1 on one worker, or 4 on one and 2 + 1 on another when both are free. A lone request
starts at once (no window is waited while the queue is idle); under load the running forward
passes are the window in which the next batch gathers.

The forward pass (engine.serve.forward) gives a request the same bytes alone, in any
bucket, at any position, on any worker; running only bucket shapes keeps every shape that
serves one that the tests check. What a request needs after its pixels (the upscale stage,
the encoding) runs on the same worker right after, so it shares the workers' budget instead
of competing with them from another pool.

Pictures at the largest sizes queue apart as heavy work (see engine.serve.workers), so a
512 px batch never holds every worker while 128 px requests wait.

The queue is bounded: a full queue refuses at once (the service answers 429 with
Retry-After) instead of letting waits grow without limit.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import weakref
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.checkpoint import Checkpoint
from engine.errors import MascotError
from engine.sampling import Request
from engine.serve.forward import serving_forward
from engine.serve.workers import Expired, WorkerPool

DEFAULT_BUCKETS = (1, 2, 4)


class QueueFull(MascotError):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"the engine is busy; try again in {retry_after:.0f} s")
        self.retry_after = retry_after


@dataclass
class _Item:
    ckpt: Checkpoint
    request: Request
    post: Callable[[np.ndarray], Any] | None
    deadline: float
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
        pool: WorkerPool | None = None,
    ) -> None:
        self.window = window_ms / 1000.0
        usable = [b for b in check_buckets(buckets) if b <= max_batch]
        self.buckets = tuple(usable) or (1,)
        self.max_batch = max(self.buckets)
        self.device = device
        self.channels_last = channels_last
        self.on_batch = on_batch or (lambda images, bucket: None)
        self.bucket_counts: Counter[int] = Counter()  # forward passes run, by bucket size
        self.queue_size = queue_size
        self.pool = pool or WorkerPool(1)
        self._own_pool = pool is None
        self._lanes: dict[bool, deque[_Item]] = {False: deque(), True: deque()}  # by heaviness
        self._arrived = asyncio.Event()
        self._pieces: set[asyncio.Future] = set()
        self._forwards: dict[int, object] = {}  # id(checkpoint) -> its serving forward, while it lives
        self._building = threading.Lock()
        self._seconds_per_image = 0.01  # running estimate, for Retry-After

    @property
    def depth(self) -> int:
        return sum(len(lane) for lane in self._lanes.values())

    def start(self) -> None:
        if self._own_pool:
            self.pool.start()

    async def stop(self) -> None:
        for lane in self._lanes.values():
            for item in lane:
                item.future.cancel()
            lane.clear()
        for piece in list(self._pieces):
            piece.cancel()
        await asyncio.gather(*self._pieces, return_exceptions=True)
        if self._own_pool:
            await self.pool.stop()

    async def submit(
        self,
        ckpt: Checkpoint,
        requests: list[Request],
        post: Callable[[np.ndarray], Any] | None = None,
        *,
        heavy: bool = False,
        deadline: float = math.inf,
    ) -> list[Any]:
        """Queue every request (all or none) and wait for its image (``post(image)`` when given,
        run on the worker). Work not started by ``deadline`` fails with ``Expired``."""
        if self.queue_size - self.depth < len(requests):
            raise QueueFull(retry_after=max(1.0, self.depth * self._seconds_per_image / self.pool.workers))
        loop = asyncio.get_running_loop()
        items = [_Item(ckpt, r, post, deadline, loop.create_future()) for r in requests]
        self._lanes[heavy].extend(items)
        self._arrived.set()
        for _ in range(math.ceil(len(items) / self.max_batch)):  # enough pieces for all, if none merge
            piece = asyncio.ensure_future(self._piece(heavy))
            self._pieces.add(piece)
            piece.add_done_callback(self._piece_done)
        try:
            return list(await asyncio.gather(*(i.future for i in items)))
        except BaseException:
            for item in items:  # given up (a timeout, a client gone): the rest is dropped unstarted
                item.future.cancel()
            raise

    def _piece_done(self, piece: asyncio.Future) -> None:
        self._pieces.discard(piece)
        if not piece.cancelled():
            piece.exception()  # failures were delivered to the items; this only marks it seen

    def forward_for(self, ckpt: Checkpoint):
        """The serving forward of this model object, built once (a reload brings a new object);
        the workers share it, as they share the weights."""
        with self._building:  # two workers meeting a new model build it once
            fwd = self._forwards.get(id(ckpt))
            if fwd is None:
                fwd = self._forwards[id(ckpt)] = serving_forward(
                    ckpt.G, ckpt.schema, channels_last=self.channels_last
                )
                # The forward holds the weights, so it must not outlive the model a reload replaced.
                weakref.finalize(ckpt, self._forwards.pop, id(ckpt), None)
        return fwd

    def _take(self, lane: deque[_Item], batch: list[_Item]) -> None:
        now = time.monotonic()
        while len(batch) < self.max_batch and lane:
            item = lane.popleft()
            if item.future.done():
                continue
            if now > item.deadline:
                item.future.set_exception(Expired("the request's time ran out before it could start"))
                continue
            batch.append(item)

    async def _piece(self, heavy: bool) -> None:
        """One piece of work on the pool: a batch gathered when a worker is free, drawn there; the
        results are handed to the requests here, on the event loop."""
        batch: list[_Item] = []
        try:
            runs = await self.pool.run_prepared(lambda: self._gather(heavy, batch), heavy=heavy)
        except Exception as exc:
            # The drawing itself broke (not one model's forward, which _render answers per
            # request): the batch's requests fail now rather than wait out their timeout.
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
            raise
        for bucket, outcomes in runs or ():
            if bucket is not None:
                self.bucket_counts[bucket] += 1
                self.on_batch(len(outcomes), bucket)
            for index, ok, value in outcomes:
                future = batch[index].future
                if not future.done():
                    future.set_result(value) if ok else future.set_exception(value)

    async def _gather(self, heavy: bool, batch: list[_Item]) -> Callable[[], list] | None:
        """On the event loop, a worker held: what waits now (and, with a window, what arrives
        within it) becomes this piece's batch; None when other pieces took everything."""
        lane = self._lanes[heavy]
        self._take(lane, batch)
        # A window only pays when requests are arriving together; a lone one starts at once.
        if self.window > 0 and 1 < len(batch) < self.max_batch:
            deadline = time.monotonic() + self.window
            while len(batch) < self.max_batch and (remaining := deadline - time.monotonic()) > 0:
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), remaining)
                except TimeoutError:
                    break
                self._take(lane, batch)
        if not batch:
            return None
        # Handed over in a box the worker empties: once drawn, nothing on the worker's side keeps
        # a model alive that a reload has replaced.
        box = [[(k, item.ckpt, item.request, item.post) for k, item in enumerate(batch)]]
        return lambda: self._render(box.pop())

    def _render(self, work: list[tuple]) -> list[tuple[int | None, list[tuple[int, bool, Any]]]]:
        """On a worker: the batch's forward passes by model object (a reload mid-batch keeps old and
        new apart), each image's ``post`` right after. Per forward pass: its bucket (None when it
        failed) and (position in the batch, succeeded, image or error) of each request."""
        groups: dict[int, list[tuple]] = {}
        for entry in work:
            groups.setdefault(id(entry[1]), []).append(entry)
        del work
        runs = []
        for entries in groups.values():
            for bucket in plan(len(entries), self.buckets):
                chunk, entries = entries[:bucket], entries[bucket:]
                requests = [request for _, _, request, _ in chunk]
                requests += [requests[-1]] * (bucket - len(requests))  # padding rows, dropped below
                start = time.monotonic()
                try:
                    images = self._forward(chunk[0][1], requests)
                    outcomes = [
                        (k, True, post(p) if post else p) for (k, _, _, post), p in zip(chunk, images)
                    ]
                except Exception as exc:  # a broken model fails its requests, not the workers
                    runs.append((None, [(k, False, exc) for k, *_ in chunk]))
                    continue
                per_image = (time.monotonic() - start) / len(chunk)
                self._seconds_per_image = 0.8 * self._seconds_per_image + 0.2 * per_image
                runs.append((bucket, outcomes))
        return runs

    def _forward(self, ckpt: Checkpoint, requests: list[Request]) -> np.ndarray:
        return self.forward_for(ckpt)(requests)
