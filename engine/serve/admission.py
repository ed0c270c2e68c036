"""Admission control: refuse at once (429 + Retry-After) what could not be served in time.

A request is admitted only when the images already admitted plus its own, at the measured
rate, finish within its time budget (a share of the request timeout, so an estimate that
is somewhat off still finishes in time). Otherwise it is answered immediately with 429
and a Retry-After saying when that much work will have drained, instead of queueing and
failing with a 503 after the timeout.

The rate is measured end to end (queue, forward pass, encoding), over windows of at least
``WINDOW_S`` of busy time, so completions that land together (one batch) are not mistaken
for slow or instant ones. A warm-up at start-up gives the first burst a measured rate
rather than a guess.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from typing import Awaitable, Callable, Iterator

from engine.serve.requests import ApiError

WINDOW_S = 0.25
BUDGET_SHARE = 0.75  # of the request timeout: headroom for the estimate being off
PESSIMISM = 1.5  # the warm-up runs alone; under load encoding and HTTP share the cores


class Admission:
    def __init__(self, timeout_s: float, seconds_per_image: float = 0.25, clock: Callable[[], float] = time.monotonic):
        self.budget = timeout_s * BUDGET_SHARE
        self.seconds_per_image = seconds_per_image
        self.outstanding = 0  # images admitted and not yet finished
        self.refused = 0
        self._clock = clock
        self._mark: float | None = None  # start of the current measuring window (None: idle)
        self._done_in_window = 0

    def predicted_wait(self, images: int) -> float:
        return (self.outstanding + images) * self.seconds_per_image

    @contextmanager
    def admit(self, images: int) -> Iterator[None]:
        """Hold ``images`` of capacity for the body of the ``with``; 429 at once if they would be late."""
        wait = self.predicted_wait(images)
        # An idle engine always takes the request: a single slow one is not refused by a guess.
        if self.outstanding and wait > self.budget:
            self.refused += 1
            retry = max(1, math.ceil(wait - self.budget))
            raise ApiError(429, "busy",
                           f"the engine is busy: this request would wait about {wait:.0f} s, longer than its "
                           f"{self.budget / BUDGET_SHARE:.0f} s limit; try again in {retry} s",
                           {"Retry-After": str(retry)})  # fmt: skip
        if self.outstanding == 0:
            self._mark, self._done_in_window = self._clock(), 0
        self.outstanding += images
        try:
            yield
        finally:
            self.outstanding -= images
            self._finished(images)

    def _finished(self, images: int) -> None:
        now = self._clock()
        self._done_in_window += images
        if self._mark is None:
            return
        elapsed = now - self._mark
        if elapsed >= WINDOW_S or self.outstanding == 0:
            if self._done_in_window and elapsed > 0:
                sample = elapsed / self._done_in_window
                self.seconds_per_image = 0.7 * self.seconds_per_image + 0.3 * sample
            self._mark, self._done_in_window = (now if self.outstanding else None), 0

    async def calibrate(self, draw: Callable[[int], Awaitable[object]], images: int) -> None:
        """Time ``draw(images)`` twice (the first pays one-time costs) and take the second as the rate."""
        await draw(images)
        start = self._clock()
        await draw(images)
        self.seconds_per_image = max(1e-4, (self._clock() - start) / images * PESSIMISM)
