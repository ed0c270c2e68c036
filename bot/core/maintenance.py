"""The hooks behind the admin commands retrain, rollback and status.

The nightly scheduler (bot/schedule) implements Maintenance; until it is plugged in,
NotConfigured answers politely instead of pretending to work.
"""

from __future__ import annotations

from typing import Protocol


class Maintenance(Protocol):
    async def retrain_now(self) -> str:
        """Start a curation + fine-tune run now; returns a one-line progress message."""
        ...

    async def rollback(self, model: str) -> str:
        """Serve the previous promoted version of ``model`` again; returns what happened."""
        ...

    async def describe(self) -> str:
        """One or two lines about the schedule (next run, last outcome)."""
        ...


class NotConfigured:
    async def retrain_now(self) -> str:
        return "Retraining is not configured on this bot (no nightly scheduler is running)."

    async def rollback(self, model: str) -> str:
        return "Rollback is not configured on this bot (no nightly scheduler is running)."

    async def describe(self) -> str:
        return "Nightly retraining: not configured."
