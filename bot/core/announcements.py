"""The bot's recent announcements (a new model is live, a rollback), for front-ends that poll.

Discord gets an announcement pushed to a channel; the web chat has no push, so it asks
for what came after the last one it showed. Only the latest few are kept, in memory: an
announcement is news, not a record (the store keeps the record of every run).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Announcement:
    id: int  # counts up from 1 in this process
    time: str  # ISO 8601, UTC
    message: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class AnnouncementFeed:
    def __init__(self, keep: int = 50, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._items: deque[Announcement] = deque(maxlen=keep)
        self._last_id = 0

    def add(self, message: str) -> Announcement:
        self._last_id += 1
        stamp = datetime.fromtimestamp(self.clock(), UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        item = Announcement(self._last_id, stamp, message)
        self._items.append(item)
        return item

    def after(self, last_seen: int = 0) -> list[Announcement]:
        """Announcements newer than id ``last_seen``, oldest first."""
        if last_seen > self._last_id:
            # Ids restart with the bot: a page still open from before the restart has seen none of these.
            last_seen = 0
        return [a for a in self._items if a.id > last_seen]
