"""The nightly schedule: APScheduler's cron in the bot's event loop, plus the admin hooks.

Missed runs are coalesced: inside one process APScheduler runs a late job once
(``coalesce=True``) if it is no later than ``misfire_grace_s``; across restarts (the
bot was down at 03:00) ``missed_fire`` compares the last recorded run with the
schedule and runs once on start-up if the latest missed time is within the grace.
``retrain_now`` starts the same run in the background; the lease makes a second
concurrent start answer "already in progress" instead of queueing.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.core.community import Communities, CommunityClient, ProgressPost
from bot.core.engine_client import EngineClient
from bot.schedule.config import ScheduleConfig
from bot.schedule.nightly import LEASE, Announce, NightlyRun, Outcome, log_only
from bot.schedule.servers import ServerNights
from bot.store import Store

log = logging.getLogger("mascot.schedule")
JOB_ID = "nightly"


def trigger_of(cfg: ScheduleConfig) -> CronTrigger:
    return CronTrigger.from_crontab(cfg.cron, timezone=cfg.timezone)


def missed_fire(
    trigger: CronTrigger, last_run: datetime | None, now: datetime, grace: timedelta
) -> datetime | None:
    """The latest scheduled time after ``last_run`` and not after ``now``, if within ``grace`` of now.

    However many fire times were missed, at most one is returned: missed runs coalesce. A fresh
    install (no run recorded) has missed nothing: it waits for its first scheduled time."""
    if last_run is None:
        return None
    latest, fire = None, trigger.get_next_fire_time(None, last_run + timedelta(microseconds=1))
    while fire is not None and fire <= now:
        latest = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return latest if latest is not None and now - latest <= grace else None


def parse_stamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)


class NightlyScheduler:
    """Runs NightlyRun on the cron; implements bot.core.maintenance.Maintenance."""

    def __init__(
        self,
        engine: EngineClient,
        store: Store,
        cfg: ScheduleConfig,
        announce: Announce = log_only,
        post: ProgressPost | None = None,
    ) -> None:
        self.cfg, self.store = cfg, store
        self.nightly = NightlyRun(engine, store, cfg, announce)
        # Servers with their own model: chunks and their own votes after the default's run.
        communities = Communities(CommunityClient(engine), store)
        self.servers = ServerNights(engine, store, cfg, communities, post) if post is not None else None
        self.scheduler = AsyncIOScheduler(timezone=cfg.timezone)
        self._tasks: set[asyncio.Task] = set()
        self.last: Outcome | None = None

    def start(self, catch_up: bool = True) -> None:
        """Add the cron job (call inside the running event loop) and run once if a run was missed."""
        self.scheduler.add_job(
            self._scheduled,
            trigger_of(self.cfg),
            id=JOB_ID,
            replace_existing=True,
            coalesce=True,
            misfire_grace_time=self.cfg.misfire_grace_s,
            max_instances=1,
        )
        self.scheduler.start()
        if self.nightly.close_orphans():
            log.info("runs left unfinished by an earlier process were recorded as failed")
        if catch_up:
            missed = missed_fire(
                trigger_of(self.cfg),
                self._last_run_started(),
                datetime.now(UTC),
                timedelta(seconds=self.cfg.misfire_grace_s),
            )
            if missed is not None:
                log.info("the run due at %s was missed; running it now (once)", missed.isoformat())
                self._spawn("catch-up")

    async def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _last_run_started(self) -> datetime | None:
        runs = self.store.curation_runs(limit=1)
        return parse_stamp(runs[0]["started"]) if runs else None

    async def _scheduled(self) -> None:
        self.last = await self.nightly.run("schedule")
        await self._servers()

    async def _servers(self) -> None:
        if self.servers is not None:
            await self.servers.run()

    def _spawn(self, trigger: str) -> asyncio.Task:
        async def go() -> None:
            self.last = await self.nightly.run(trigger)
            await self._servers()

        task = asyncio.create_task(go(), name=f"nightly-{trigger}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- Maintenance ----------------------------------------------------------------
    async def retrain_now(self) -> str:
        held = self.store.lease(LEASE)
        if held and parse_stamp(held["expires"]) > datetime.now(UTC):
            return f"A retraining run is already in progress (since {held['acquired']} UTC)."
        self._spawn("admin")
        return (
            "Retraining started: curating voted mascots, then fine-tuning and evaluating. "
            "`status` shows how it went."
        )

    async def rollback(self, model: str) -> str:
        return (await self.nightly.rollback(model)).message

    async def describe(self) -> str:
        job = self.scheduler.get_job(JOB_ID) if self.scheduler.running else None
        nxt = (
            job.next_run_time.strftime("%Y-%m-%d %H:%M %Z") if job and job.next_run_time else "not scheduled"
        )
        lines = [f"Nightly retraining: next run {nxt} (cron '{self.cfg.cron}' {self.cfg.timezone})."]
        runs = self.store.curation_runs(limit=1)
        if runs:
            r = runs[0]
            message = r["details"].get("message", "")
            lines.append(f"Last run #{r['id']} ({r['started'][:16]} UTC): {r['status']}. {message}".strip())
        return "\n".join(lines)
