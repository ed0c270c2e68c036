"""One nightly run: snapshot votes, curate, fine-tune on the engine, gate, promote or keep.

The run holds a lease row in the store (``leases``, name "nightly") with an expiry: a
second run while one works is refused, and a run that crashed frees the lease when it
expires, so nothing is held forever. Votes are read as a snapshot (cast at or before the
run's start), so votes arriving while it works are kept and count next time.

A bot killed mid-run (kill -9) leaves its run "running" in the store; the next process
that holds the lease (or starts while it is free) records such runs as failed, so the
history says what happened and the next night runs as usual.

Every outcome is recorded in the store: the curation run (what was chosen and why, the
job, the evaluation, the verdict) and the model versions (lineage, metrics, promoted or
rejected and why). The champion keeps serving unless the gate passes.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from bot.core.engine_client import EngineClient, EngineError, Job
from bot.schedule.config import ScheduleConfig
from bot.schedule.curation import Curation, curate, item
from bot.schedule.gate import Verdict, judge
from bot.store import Store

log = logging.getLogger("mascot.schedule")
LEASE = "nightly"
Announce = Callable[[str], Awaitable[None]]


async def log_only(message: str) -> None:
    log.info("announce: %s", message)


@dataclass(frozen=True)
class Outcome:
    status: str  # promoted | rejected | failed | skipped | busy
    message: str
    run: int | None = None


class NightlyRun:
    backstop_s = 600.0  # how long past the job's own budget the bot waits for the engine to report it

    def __init__(
        self, engine: EngineClient, store: Store, cfg: ScheduleConfig, announce: Announce = log_only
    ) -> None:
        self.engine, self.store, self.cfg, self.announce = engine, store, cfg, announce

    async def run(self, trigger: str = "schedule") -> Outcome:
        holder = f"{trigger}-{secrets.token_hex(4)}"
        if not self.store.acquire_lease(LEASE, holder, self.cfg.lease_ttl_s):
            held = self.store.lease(LEASE) or {}
            return Outcome(
                "busy", f"A retraining run is already in progress (since {held.get('acquired', '?')} UTC)."
            )
        try:
            self._fail_orphans()  # the lease is ours: no other process is working on a run
            return await self._run(holder, trigger)
        finally:
            self.store.release_lease(LEASE, holder)

    def close_orphans(self) -> int:
        """At start-up: runs left "running" by a process that is gone, when no live run holds the lease."""
        holder = f"startup-{secrets.token_hex(4)}"
        if not self.store.acquire_lease(LEASE, holder, 60):
            return 0
        try:
            return self._fail_orphans()
        finally:
            self.store.release_lease(LEASE, holder)

    def _fail_orphans(self) -> int:
        rows = self.store.running_curation_runs()
        for row in rows:
            details = row["details"]
            job = f" (engine job {details['job']})" if details.get("job") else ""
            self._finish(
                row["id"],
                "failed",
                f"The bot stopped while this run worked{job}; the champion kept serving.",
                details,
            )
        return len(rows)

    async def _run(self, holder: str, trigger: str) -> Outcome:
        until = self.store.now_stamp()
        run = self.store.start_curation_run(
            self.cfg.model, details={"trigger": trigger, "votes_until": until}
        )
        details: dict[str, Any] = {"trigger": trigger, "votes_until": until}
        try:
            return await self._work(run, holder, until, details)
        except EngineError as exc:
            return self._finish(
                run,
                "failed",
                f"The engine could not complete the run: {exc} The champion keeps serving.",
                details,
            )
        except Exception as exc:  # a bug must not leave the run 'running' forever; the champion is untouched
            log.exception("nightly run %s crashed", run)
            return self._finish(
                run,
                "failed",
                f"The run crashed ({type(exc).__name__}: {exc}); the champion keeps serving.",
                details,
            )

    async def _work(self, run: int, holder: str, until: str, details: dict[str, Any]) -> Outcome:
        champion = (await self.engine.models()).get(self.cfg.model)
        if champion is None:
            return self._finish(
                run, "failed", f"The engine does not serve a model named '{self.cfg.model}'.", details
            )
        self._remember(champion.version, champion.family, champion.parent)
        sizes = {a.name: len(a.values) for a in champion.attributes}
        curation = curate(self.store.vote_snapshot(until, self.cfg.model), self.cfg, sizes)
        details.update(curation=curation.summary(), champion=champion.version)
        self.store.update_curation_run(run, candidates=len(curation.chosen))
        if len(curation.chosen) < self.cfg.min_curated:
            return self._finish(
                run,
                "skipped",
                f"Only {len(curation.chosen)} mascots qualified (need {self.cfg.min_curated}); "
                "no fine-tune tonight.",
                details,
            )
        job = await self.engine.start_finetune(self._job_request(curation, champion.version))
        details["job"] = job.id
        self._save(run, details)
        done = await self._wait(job.id, holder)
        details["job_state"], details["job_error"] = done.state, done.error
        if done.state != "succeeded":
            return self._finish(
                run,
                "failed",
                f"The fine-tune failed: {done.error or done.state}. The champion keeps serving.",
                details,
            )
        return await self._decide(run, champion.version, done.result, details)

    def _job_request(self, curation: Curation, champion_version: str) -> dict[str, Any]:
        def items(picks):
            # The engine re-draws images of versions it still has; the stored PNG covers retired ones.
            return [
                item(p, None if p.version == champion_version else self._png(p.generation)) for p in picks
            ]

        c = self.cfg
        return {
            "model": c.model,
            "data": c.data,
            "curated": items(curation.chosen),
            "negatives": items(curation.negatives),
            "kimg": c.kimg,
            "lr_g": c.lr_g,
            "lr_d": c.lr_d,
            "freeze_d": c.freeze_d,
            "batch": c.batch,
            "extra_share": c.curated_share,
            "timeout_s": c.timeout_s,
            "evaluate": True,
            "eval_samples": c.eval_samples,
            "eval_feature_size": c.eval_feature_size,
            "eval_per_value": c.eval_per_value,
            "eval_size": c.eval_size,
        }

    def _png(self, generation: str) -> bytes | None:
        found = self.store.image(generation)
        return found[0] if found else None

    async def _wait(self, job_id: str, holder: str) -> Job:
        deadline = time.monotonic() + self.cfg.timeout_s + self.backstop_s  # the engine enforces timeout_s
        while True:
            try:
                job = await self.engine.job(job_id)
            except EngineError as exc:
                if exc.status is not None or time.monotonic() > deadline:
                    raise
                # Unreachable (restarting after a crash): it reports the job when it is back.
                self.store.acquire_lease(LEASE, holder, self.cfg.lease_ttl_s)
                await asyncio.sleep(self.cfg.poll_s)
                continue
            if job.finished:
                return job
            if time.monotonic() > deadline:
                return replace(job, state="failed", error=f"no answer from job {job_id} within its budget")
            self.store.acquire_lease(LEASE, holder, self.cfg.lease_ttl_s)  # still alive: extend
            await asyncio.sleep(self.cfg.poll_s)

    async def _decide(
        self, run: int, champion: str, result: dict[str, Any], details: dict[str, Any]
    ) -> Outcome:
        evaluation = result.get("evaluation") or {}
        challenger = (evaluation.get("challenger") or {}).get("version") or f"unknown-{run}"
        verdict: Verdict = judge(evaluation, self.cfg)
        details.update(
            evaluation=evaluation,
            curated_set=result.get("curation"),
            verdict=list(verdict.reasons),
            challenger=challenger,
        )
        metrics = {
            "challenger": evaluation.get("challenger"),
            "champion": evaluation.get("champion"),
            "preference": evaluation.get("preference"),
        }
        self.store.record_model_version(
            challenger,
            self.cfg.model,
            "candidate",
            parent=champion,
            metrics=metrics,
            reason="evaluating",
            curation_run=run,
        )
        if not verdict.promote:
            self.store.set_model_status(challenger, "rejected", verdict.summary)
            return self._finish(run, "rejected", f"Kept {champion}: {verdict.summary}.", details)
        await self.engine.promote(
            self.cfg.model, result["checkpoint"], f"curation run {run}: {verdict.summary}"
        )
        self.store.set_model_status(
            challenger, "serving", f"promoted by curation run {run}: {verdict.summary}"
        )
        self.store.set_model_status(champion, "retired", f"replaced by {challenger} (curation run {run})")
        liked = len(details["curation"]["chosen"])
        message = (
            f"New mascot model {challenger} is live (learned from {liked} liked mascots). {verdict.summary}."
        )
        await self._announce(message)
        return self._finish(run, "promoted", message, details)

    async def rollback(self, model: str) -> Outcome:
        try:
            done = await self.engine.rollback(model, "admin rollback")
        except EngineError as exc:
            return Outcome("failed", f"Rollback refused: {exc}")
        previous, current = done.previous, done.version
        if previous:
            self._remember(previous, None, None)
            self.store.set_model_status(previous, "rolled_back", f"rolled back to {current}")
        self._remember(current, None, None)
        self.store.set_model_status(current, "serving", f"restored by rollback from {previous}")
        message = f"Rolled {model} back from {previous} to {current}."
        await self._announce(message)
        return Outcome("rolled_back", message)

    def _remember(self, version: str, family: str | None, parent: str | None) -> None:
        if not any(v["version"] == version for v in self.store.model_versions(self.cfg.model)):
            self.store.record_model_version(
                version,
                self.cfg.model,
                "serving",
                family=family,
                parent=parent,
                reason="serving when first seen by the scheduler",
            )

    async def _announce(self, message: str) -> None:
        try:
            await self.announce(message)
        except Exception:  # an announcement is a courtesy; its failure must not undo a promotion
            log.exception("announcement failed")

    def _save(self, run: int, details: dict[str, Any]) -> None:
        self.store.update_curation_run(run, details=details)

    def _finish(self, run: int, status: str, message: str, details: dict[str, Any]) -> Outcome:
        self.store.finish_curation_run(run, status, {**details, "message": message})
        log.info("curation run %s %s: %s", run, status, message)
        return Outcome(status, message, run)
