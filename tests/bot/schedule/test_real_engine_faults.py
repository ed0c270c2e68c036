"""Faults through the real engine (tiny checkpoint): the champion keeps serving, the run says why."""

import pytest

from bot.core.engine_client import EngineClient
from bot.schedule.config import ScheduleConfig
from bot.schedule.nightly import NightlyRun


@pytest.fixture
async def real(engine_url):
    client = EngineClient(engine_url)
    yield client
    await client.close()


def _votes(store, version, n=3, image=None):
    for i in range(n):
        g = store.add_generation(
            engine_id=f"e{i}",
            model="default",
            version=version,
            seed=i,
            attributes={"hair": "blue", "smile": "yes"},
            requested={},
            truncation=1.0,
            requester="u",
            platform="web",
            image=image,
        )
        for u in range(3):
            store.vote(g.id, f"u{u}", 1)


async def _generate_ok(client):
    return (await client.generate({}, seed=1)).version


async def test_a_failing_curation_step_fails_the_run_and_the_champion_serves(real, store, toy_dataset):
    champion = await _generate_ok(real)
    _votes(store, "retired-version-without-png")
    cfg = ScheduleConfig(data=str(toy_dataset), min_curated=2, poll_s=0.2, timeout_s=120, kimg=0.016, batch=8)
    out = await NightlyRun(real, store, cfg).run("test")
    assert out.status == "failed" and "no curated image could be drawn" in out.message
    assert await _generate_ok(real) == champion
    assert store.curation_runs(1)[0]["status"] == "failed"


async def test_a_job_past_its_budget_is_stopped_and_recorded(real, store, toy_dataset):
    champion = await _generate_ok(real)
    _votes(store, champion)
    cfg = ScheduleConfig(data=str(toy_dataset), min_curated=2, poll_s=0.2, timeout_s=1, kimg=5, batch=8)
    out = await NightlyRun(real, store, cfg).run("test")
    assert out.status == "failed" and "ran past its budget" in out.message
    assert await _generate_ok(real) == champion


async def test_bad_curation_requests_are_refused_by_the_engine(real, toy_dataset):
    from bot.core.engine_client import EngineError

    with pytest.raises(EngineError, match=r"(?i)curated"):
        await real.start_finetune({"data": str(toy_dataset), "curated": []})
    with pytest.raises(EngineError, match=r"(?i)extra_share"):
        await real.start_finetune(
            {
                "data": str(toy_dataset),
                "extra_share": 0.9,
                "curated": [{"seed": 1, "attributes": {}, "version": "v"}],
            }
        )
    with pytest.raises(EngineError, match=r"(?i)seed"):
        await real.start_finetune(
            {"data": str(toy_dataset), "curated": [{"seed": -1, "attributes": {}, "version": "v"}]}
        )
