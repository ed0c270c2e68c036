import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.commands import Commands
from bot.core.limits import RateLimiter
from bot.core.reply import Caller
from bot.schedule.config import ScheduleConfig
from bot.schedule.nightly import LEASE
from bot.schedule.scheduler import JOB_ID, NightlyScheduler, missed_fire, trigger_of
from tests.bot.schedule.conftest import seed_votes

NIGHTLY = trigger_of(ScheduleConfig())  # 03:00 UTC


def at(day, hour, minute=0):
    return datetime(2026, 1, day, hour, minute, tzinfo=UTC)


def test_three_missed_nights_coalesce_into_one_run():
    # Last run on the 1st; the bot was down for the 2nd, 3rd and 4th at 03:00; back at 04:00 on the 4th.
    assert missed_fire(NIGHTLY, at(1, 3), at(4, 4), timedelta(hours=6)) == at(4, 3)


def test_a_miss_older_than_the_grace_is_skipped_until_the_next_night():
    assert missed_fire(NIGHTLY, at(1, 3), at(4, 12), timedelta(hours=6)) is None


def test_nothing_missed_when_the_last_run_is_after_the_latest_fire_time():
    assert missed_fire(NIGHTLY, at(4, 3, 1), at(4, 8), timedelta(hours=6)) is None


def test_a_fresh_install_waits_for_its_first_night():
    assert missed_fire(NIGHTLY, None, at(4, 3, 30), timedelta(hours=6)) is None


def test_bad_cron_is_refused_with_a_message(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[schedule]\ncron = "every night"\n')
    with pytest.raises(ValueError, match="cron 'every night'"):
        ScheduleConfig.load(cfg)
    cfg.write_text("[schedule]\ncurated_shar = 0.3\n")
    with pytest.raises(ValueError, match="unknown setting"):
        ScheduleConfig.load(cfg)


def test_config_toml_schedule_section_loads():
    cfg = ScheduleConfig.load("config.toml")
    assert cfg.cron == "0 3 * * *" and cfg.curated_share == 0.25 and cfg.min_voters == 3


def test_the_lease_is_exclusive_and_expires(store):
    clock = [datetime(2026, 1, 1, tzinfo=UTC)]
    store.clock = lambda: clock[0]
    assert store.acquire_lease(LEASE, "a", ttl_s=60)
    assert not store.acquire_lease(LEASE, "b", ttl_s=60)
    assert store.acquire_lease(LEASE, "a", ttl_s=60)  # the holder may extend it
    clock[0] += timedelta(seconds=61)  # holder crashed: the lease runs out
    assert store.acquire_lease(LEASE, "b", ttl_s=60)
    store.release_lease(LEASE, "a")  # a stale holder cannot free someone else's lease
    assert store.lease(LEASE)["holder"] == "b"


async def test_the_cron_job_coalesces_and_has_a_grace(engine, store, cfg):
    sched = NightlyScheduler(engine, store, cfg)
    sched.start(catch_up=False)
    try:
        job = sched.scheduler.get_job(JOB_ID)
        assert (
            job.coalesce is True and job.misfire_grace_time == cfg.misfire_grace_s and job.max_instances == 1
        )
        assert "next run" in await sched.describe()
    finally:
        await sched.stop()


async def test_admin_retrain_runs_now_and_refuses_a_second_while_busy(engine, fake, store, cfg):
    seed_votes(store, 4)
    fake.job_seconds = 0.5
    sched = NightlyScheduler(engine, store, cfg)
    commands = Commands(engine, store, await engine.models(), RateLimiter(), maintenance=sched)
    admin = Caller(user="1", admin=True, platform="web")
    first = await commands.retrain(admin)
    assert "Retraining started" in first.text
    await asyncio.sleep(0.2)
    assert "already in progress" in (await commands.retrain(admin)).text
    await asyncio.gather(*sched._tasks)
    assert sched.last.status == "promoted"
    status = await commands.status(admin)
    assert "promoted" in status.text
    assert "Only bot admins" in (await commands.retrain(Caller(user="2", admin=False, platform="web"))).text
    await sched.stop()


async def test_catch_up_runs_once_on_start_when_a_night_was_missed(engine, fake, store, cfg):
    seed_votes(store, 4)
    store.clock = lambda: datetime.now(UTC) - timedelta(minutes=30)
    store.finish_curation_run(
        store.start_curation_run("default"), "skipped"
    )  # the last run, half an hour ago
    store.clock = lambda: datetime.now(UTC)
    grace = ScheduleConfig(min_voters=3, min_curated=2, poll_s=0.01, cron="* * * * *", misfire_grace_s=3600)
    sched = NightlyScheduler(engine, store, grace)
    sched.start()  # ~30 fire times missed since: exactly one catch-up run
    await asyncio.gather(*sched._tasks)
    assert len(fake.requests) == 1 and store.curation_runs(1)[0]["details"]["trigger"] == "catch-up"
    await sched.stop()
