"""The nightly window for servers with their own model: training chunks, then their votes.

After the shared default's run (bot/schedule/nightly.py), each server that trains its own
model gets one time-boxed chunk while the window lasts, with a progress post to its channel
after it (bot/core/community.py); chunks resume night after night until the server's CPU
budget is spent. Then each server whose model serves has its own vote run: NightlyRun on
that model alone, so curation reads only the votes on that server's mascots and the
fine-tune and promotion go to that server's model (``ServerEngine``), never the default.
Everything the next night needs is in the store and on the engine, so a restart loses
nothing: chunks finished but not yet posted are posted first.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from bot.core.community import Communities, ProgressPost, ServerEngine
from bot.core.engine_client import EngineClient, EngineError
from bot.core.reply import Reply
from bot.schedule.config import ScheduleConfig
from bot.schedule.nightly import NightlyRun, Outcome
from bot.store import Store

log = logging.getLogger("mascot.schedule.servers")
WINDOW_S = 5 * 3600.0  # chunks start only this long after the window opens


class ServerNights:
    def __init__(
        self,
        engine: EngineClient,
        store: Store,
        cfg: ScheduleConfig,
        communities: Communities,
        post: ProgressPost,
        window_s: float = WINDOW_S,
    ) -> None:
        self.engine, self.store, self.cfg = engine, store, cfg
        self.communities, self.post, self.window_s = communities, post, window_s

    async def run(self) -> list[str]:
        deadline = asyncio.get_running_loop().time() + self.window_s
        lines = await self.communities.nightly(self.post, deadline)
        for row in self.store.community_models():
            outcome = await self.votes(row)
            lines.append(f"{row['community']} votes: {outcome.status}: {outcome.message}")
        for line in lines:
            log.info("%s", line)
        return lines

    async def votes(self, row: dict) -> Outcome:
        """One vote run on the server's own model, announced in the server's channel."""
        community = row["community"]
        try:
            served = (await self.engine.models()).get(community)
        except EngineError as exc:
            return Outcome("failed", str(exc))
        if served is None:
            return Outcome("skipped", "its model does not serve yet")

        async def announce(message: str) -> None:
            await self.post(row, Reply(message))

        cfg = replace(self.cfg, model=community, data="")  # the engine uses the server's own data set
        return await NightlyRun(ServerEngine(self.engine, community), self.store, cfg, announce).run("server")
