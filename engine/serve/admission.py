"""Admission control: refuse at once (429 + Retry-After) what could not be served in time.

A request is admitted only when the images already admitted plus its own fit the queue
and their predicted wait is within its time budget (a share of the request timeout, so an
estimate that is somewhat off still finishes in time). Otherwise it is answered at once
with 429 and a Retry-After saying when enough of that work will have drained, instead of
queueing and failing with a 503 after the timeout.

The prediction is learned from what happened: every finished request gives a pair (work
that was ahead of it, in units, and how long it actually waited), and a least-squares line
through recent pairs gives a fixed latency plus seconds per unit (queue, forward pass,
upscaling and encoding under the real load). Until enough pairs exist, a warm-up at
start-up gives the rate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from engine.serve.requests import ApiError

# Of the request timeout: headroom for the estimate being off (on a busy CPU, waits grow
# faster than linearly with the work ahead).
BUDGET_SHARE = 0.5
PESSIMISM = 1.5  # the warm-up runs alone; under load encoding and HTTP share the cores
FORGET = 0.99  # per finished request: the fit follows the last few hundred


class Admission:
    """Work is counted in units: one image at the model's own size is 1; a larger size through
    the upscale stage costs what the warm-up measured, relative to that."""

    def __init__(
        self,
        timeout_s: float,
        capacity: int = 256,
        seconds_per_unit: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.budget = timeout_s * BUDGET_SHARE
        self.capacity = capacity  # images: the batcher's queue; admitting past it would only meet its refusal
        self.seconds_per_unit = seconds_per_unit
        self.latency = 0.0  # the fixed part of a wait, whatever is ahead
        self.images = 0  # admitted and not yet finished
        self.units = 0.0
        self.refused = 0
        self._clock = clock
        self._sums = [0.0] * 5  # weights, x, y, x*x, x*y of (units ahead, seconds waited)

    def predicted_wait(self, units: float) -> float:
        return self.latency + (self.units + units) * self.seconds_per_unit

    @contextmanager
    def admit(self, images: int, cost: float = 1.0) -> Iterator[None]:
        """Hold ``images`` (each ``cost`` units) for the ``with`` body; 429 at once if they would be late."""
        units = images * cost
        wait = self.predicted_wait(units)
        over = self.images + images - self.capacity
        # An idle engine always takes the request: a single slow one is not refused by a guess.
        if self.images and (wait > self.budget or over > 0):
            self.refused += 1
            drain = max(wait - self.budget, over / max(self.images, 1) * self.units * self.seconds_per_unit)
            retry = max(1, math.ceil(drain))
            raise ApiError(
                429,
                "busy",
                f"the engine is busy ({self.images} images ahead, about {wait:.0f} s of work); "
                f"try again in {retry} s",
                {"Retry-After": str(retry)},
            )
        ahead = self.units + units
        self.images += images
        self.units += units
        admitted, served = self._clock(), False
        try:
            yield
            served = True
        finally:
            self.images -= images
            self.units -= units
            if served:  # a cancelled or failed request's wait says nothing about the rate
                self._learn(ahead, self._clock() - admitted)

    def _learn(self, ahead: float, waited: float) -> None:
        s = self._sums
        for i, v in enumerate((1.0, ahead, waited, ahead * ahead, ahead * waited)):
            s[i] = s[i] * FORGET + v
        n, x, y, xx, xy = s
        spread = n * xx - x * x
        if n < 8 or spread <= 1e-9 * n * n * max(xx / n, 1.0):
            return  # too few pairs, or all with the same work ahead: no line to fit yet
        slope = (n * xy - x * y) / spread
        if slope <= 0:
            return
        self.seconds_per_unit = slope
        self.latency = max(0.0, (y - slope * x) / n)

    async def measure(self, draw: Callable[[int], Awaitable[object]], images: int) -> float:
        """Seconds per image of ``draw(images)``, timed the second time (the first pays one-time costs)."""
        await draw(images)
        start = self._clock()
        await draw(images)
        return max(1e-4, (self._clock() - start) / images)

    def calibrate(self, seconds_per_unit: float) -> None:
        self.seconds_per_unit = seconds_per_unit * PESSIMISM
