import asyncio
import json

import pytest
from aiohttp.test_utils import TestClient, TestServer

from engine.checkpoint import load_checkpoint
from engine.serve.app import EngineService, ServeConfig
from engine.serve.jobs import Job, JobRunner


@pytest.fixture
async def client(tiny_checkpoint, tmp_path):
    cfg = ServeConfig(
        models=(("default", str(tiny_checkpoint)),),
        jobs_dir=str(tmp_path / "jobs"),
        path_roots=(str(tmp_path.parent),),
    )  # pytest's temporary folders
    async with TestClient(TestServer(EngineService(cfg).app())) as c:
        yield c


async def _wait_done(client, job_id, seconds=180):
    for _ in range(seconds * 4):
        job = await (await client.get(f"/v1/jobs/{job_id}")).json()
        if job["state"] in ("succeeded", "failed"):
            return job
        await asyncio.sleep(0.25)
    raise AssertionError("job did not finish")


async def test_finetune_job_runs_in_a_child_and_serving_goes_on(client, toy_dataset, tiny_checkpoint):
    r = await client.post(
        "/v1/jobs", json={"data": str(toy_dataset), "kimg": 0.032, "batch": 16, "freeze_d": 1}
    )
    assert r.status == 202
    job = await r.json()
    busy = await client.post("/v1/jobs", json={"data": str(toy_dataset), "kimg": 0.032})
    assert busy.status == 409 and "one training job" in (await busy.json())["error"]["message"]
    assert (await client.post("/v1/generate", json={"seed": 1})).status == 200  # still serving
    done = await _wait_done(client, job["id"])
    assert done["state"] == "succeeded", done["error"]
    child = load_checkpoint(done["result"]["checkpoint"])
    assert child.meta["parent"] == load_checkpoint(tiny_checkpoint).version


async def test_a_crashing_job_is_reported_failed(client, tmp_path):
    (tmp_path / "empty").mkdir()
    job = await (await client.post("/v1/jobs", json={"data": str(tmp_path / "empty"), "kimg": 1})).json()
    done = await _wait_done(client, job["id"])
    assert done["state"] == "failed" and "not a complete data set" in done["error"]


async def test_bad_job_requests(client):
    assert (await client.post("/v1/jobs", json={"data": "/nope"})).status == 400
    assert (await client.post("/v1/jobs", json={"kind": "paint"})).status == 400
    assert (await client.get("/v1/jobs/unknown")).status == 404


def test_a_job_orphaned_by_an_engine_restart_is_failed_not_lost(tmp_path):
    folder = tmp_path / "abc"
    folder.mkdir()
    (folder / "job.json").write_text(json.dumps(Job(id="abc", spec={}, state="running", pid=999999).public()))
    runner = JobRunner(tmp_path)
    assert runner.get("abc").state == "failed" and "engine stopped" in runner.get("abc").error
