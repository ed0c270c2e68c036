import asyncio
import base64
from dataclasses import replace

from bot.schedule.config import ScheduleConfig
from bot.schedule.nightly import LEASE, NightlyRun
from tests.bot.schedule.conftest import evaluation, seed_votes


async def test_a_good_challenger_is_promoted_recorded_and_announced(engine, fake, store, cfg):
    seed_votes(store, 4, "blue")
    seed_votes(store, 3, "red", up=0, down=4)
    said = []

    async def announce(message):
        said.append(message)

    out = await NightlyRun(engine, store, cfg, announce).run("test")
    assert out.status == "promoted", out.message
    assert fake.current == "v2" and said and "v2 is live" in said[0]
    body = fake.requests[0]
    assert len(body["curated"]) == 4 and len(body["negatives"]) == 3
    assert (
        body["extra_share"] == cfg.curated_share
        and body["freeze_d"] == cfg.freeze_d
        and body["data"] == cfg.data
    )
    assert "image" not in body["curated"][0]  # the champion's own images are re-drawn on the engine
    versions = {v["version"]: v for v in store.model_versions("default")}
    assert versions["v2"]["status"] == "serving" and versions["v2"]["parent"] == "v1"
    assert versions["v1"]["status"] == "retired" and "v2" in versions["v1"]["reason"]
    run = store.curation_runs(1)[0]
    assert run["status"] == "promoted" and len(run["details"]["curation"]["chosen"]) == 4
    assert run["details"]["verdict"][0].startswith("KID")
    assert store.lease(LEASE) is None


async def test_the_gate_judges_at_the_configured_posted_size(engine, fake, store, cfg):
    seed_votes(store, 4)
    await NightlyRun(engine, store, replace(cfg, eval_size=512)).run("test")
    await NightlyRun(engine, store, cfg).run("again")
    assert fake.requests[0]["eval_size"] == 512 and fake.requests[1]["eval_size"] == 0


async def test_retired_versions_travel_as_their_stored_png(engine, fake, store, cfg):
    seed_votes(store, 3, "blue", version="v0")
    await NightlyRun(engine, store, cfg).run("test")
    item = fake.requests[0]["curated"][0]
    assert base64.b64decode(item["image"]) == b"\x89PNG fake" and item["version"] == "v0"


async def test_a_rejected_challenger_leaves_the_champion_and_says_why(engine, fake, store, cfg):
    fake.outcome["result"]["evaluation"] = evaluation(kid=(0.010, 0.020))
    seed_votes(store, 4)
    out = await NightlyRun(engine, store, cfg).run("test")
    assert out.status == "rejected" and "too much worse" in out.message
    assert fake.current == "v1"
    rejected = next(v for v in store.model_versions() if v["version"] == "v2")
    assert rejected["status"] == "rejected" and "KID" in rejected["reason"]


async def test_a_crashed_or_nan_fine_tune_is_recorded_and_the_champion_serves(engine, fake, store, cfg):
    fake.outcome = {
        "state": "failed",
        "error": "exited with code 1: training diverged at 0.1 kimg: loss_g not finite",
    }
    seed_votes(store, 4)
    out = await NightlyRun(engine, store, cfg).run("test")
    assert out.status == "failed" and "not finite" in out.message and fake.current == "v1"
    run = store.curation_runs(1)[0]
    assert run["status"] == "failed" and "diverged" in run["details"]["job_error"]


async def test_a_hung_job_is_given_up_after_its_budget(engine, fake, store):
    fake.job_seconds = 60
    seed_votes(store, 4)
    # timeout_s=0: the engine would kill the job at once; if it never answers, the bot's backstop
    # (timeout_s + a margin) gives up. Shrink the margin to keep the test quick.
    cfg = ScheduleConfig(min_voters=3, min_curated=2, poll_s=0.01, timeout_s=0)
    run = NightlyRun(engine, store, cfg)
    run.backstop_s = 0.2
    out = await asyncio.wait_for(run.run("test"), timeout=15)
    assert out.status == "failed" and "within its budget" in out.message and fake.current == "v1"


async def test_too_few_liked_mascots_skip_the_fine_tune(engine, fake, store, cfg):
    seed_votes(store, 1)
    out = await NightlyRun(engine, store, cfg).run("test")
    assert out.status == "skipped" and not fake.requests


async def test_votes_cast_during_a_run_are_kept_for_the_next(engine, fake, store, cfg):
    ids = seed_votes(store, 2, "blue")
    late = seed_votes(store, 1, "red", up=0)[0]

    def votes_arrive():  # while the engine is busy with the job
        for u in range(3):
            store.vote(late, f"late{u}", 1)

    fake.on_job_start = votes_arrive
    fake.outcome["result"]["evaluation"] = evaluation(
        kid=(0.01, 0.05)
    )  # rejected: the next run starts from v1 again
    await NightlyRun(engine, store, cfg).run("first")
    first = {i["id"] for i in fake.requests[0]["curated"]}
    assert first == set(ids) and late not in first
    assert store.votes(late) == {"late0": 1, "late1": 1, "late2": 1}  # nothing lost
    await NightlyRun(engine, store, cfg).run("second")
    assert late in {i["id"] for i in fake.requests[1]["curated"]}


async def test_one_run_at_a_time(engine, fake, store, cfg):
    seed_votes(store, 4)
    fake.job_seconds = 0.3
    first, second = await asyncio.gather(
        NightlyRun(engine, store, cfg).run("a"), NightlyRun(engine, store, cfg).run("b")
    )
    assert sorted([first.status, second.status]) == ["busy", "promoted"]
    assert len(fake.requests) == 1


async def test_rollback_restores_the_previous_version_and_records_it(engine, fake, store, cfg):
    seed_votes(store, 4)
    run = NightlyRun(engine, store, cfg)
    await run.run("test")
    out = await run.rollback("default")
    assert out.status == "rolled_back" and fake.current == "v1"
    versions = {v["version"]: v["status"] for v in store.model_versions()}
    assert versions == {"v1": "serving", "v2": "rolled_back"}
    again = await run.rollback("default")
    assert again.status == "failed" and "no earlier promoted version" in again.message
