"""Per-user rate limit: a sliding one-minute window of image commands."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable


class RateLimiter:
    def __init__(
        self, per_minute: int, clock: Callable[[], float] = time.monotonic, window_s: float = 60.0
    ) -> None:
        self.per_minute, self.clock, self.window_s = per_minute, clock, window_s
        self._hits: dict[str, deque[float]] = defaultdict(deque)

    def acquire(self, user: str) -> float:
        """0 when ``user`` may go ahead (and counts the use); otherwise the seconds left to wait."""
        if self.per_minute <= 0:  # 0 disables the limit
            return 0.0
        now, hits = self.clock(), self._hits[user]
        while hits and now - hits[0] >= self.window_s:
            hits.popleft()
        if len(hits) >= self.per_minute:
            return self.window_s - (now - hits[0])
        hits.append(now)
        return 0.0
