"""Per-user rate limit on image commands: a token bucket with a burst.

A user may send ``burst`` commands in a row; the allowance then refills at ``per_minute``.
So someone trying README's examples at reading speed is never stopped, while a script
hammering the bot gets one picture per refill. Each platform may have its own limit (the
local web chat is more generous than a public Discord guild).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

MAX_TRACKED_USERS = 4096  # past this, users whose allowance is full again are forgotten


@dataclass(frozen=True)
class RateLimit:
    burst: int = 0  # commands in a row; 0: no limit
    per_minute: float = 0.0  # how fast used commands come back; 0: no limit

    @property
    def unlimited(self) -> bool:
        return self.burst <= 0 or self.per_minute <= 0

    def describe(self) -> str:
        every = 60.0 / self.per_minute
        return f"up to {self.burst} in a row, then one every {every:.0f} s"


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(
        self,
        limit: RateLimit = RateLimit(),
        per_platform: Mapping[str, RateLimit] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit, self.per_platform, self.clock = limit, dict(per_platform or {}), clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def limit_for(self, platform: str) -> RateLimit:
        return self.per_platform.get(platform, self.limit)

    def acquire(self, platform: str, user: str) -> float:
        """0 when ``user`` may go ahead (and uses one command); otherwise the seconds until
        the next command is allowed."""
        limit = self.limit_for(platform)
        if limit.unlimited:
            return 0.0
        now, key = self.clock(), (platform, user)
        bucket = self._buckets.get(key) or _Bucket(float(limit.burst), now)
        refill = (now - bucket.updated) * limit.per_minute / 60.0
        bucket.tokens, bucket.updated = min(float(limit.burst), bucket.tokens + refill), now
        if bucket.tokens < 1.0:
            self._buckets[key] = bucket
            return (1.0 - bucket.tokens) * 60.0 / limit.per_minute
        bucket.tokens -= 1.0
        self._buckets[key] = bucket
        self._forget_full_buckets(now)
        return 0.0

    def refusal(self, platform: str, wait_s: float) -> str:
        """What a refused user reads: when to try again, and the limit itself."""
        return (
            f"Easy there! You can make another mascot in {math.ceil(wait_s)} s "
            f"({self.limit_for(platform).describe()})."
        )

    def _forget_full_buckets(self, now: float) -> None:
        if len(self._buckets) <= MAX_TRACKED_USERS:
            return
        for key, bucket in list(self._buckets.items()):
            limit = self.limit_for(key[0])
            if bucket.tokens + (now - bucket.updated) * limit.per_minute / 60.0 >= limit.burst:
                del self._buckets[key]
