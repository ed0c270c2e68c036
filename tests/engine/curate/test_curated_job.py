"""The whole engine side of a vote-driven fine-tune over HTTP: curated set -> fine-tune -> evaluation."""

import asyncio

import pytest
from aiohttp.test_utils import TestClient, TestServer

from engine.checkpoint import load_checkpoint
from engine.serve.app import EngineService, ServeConfig


@pytest.fixture
async def client(tiny_checkpoint, tmp_path):
    cfg = ServeConfig(
        models=(("default", str(tiny_checkpoint)),),
        jobs_dir=str(tmp_path / "jobs"),
        path_roots=(str(tmp_path.parent),),
    )  # pytest's temporary folders
    async with TestClient(TestServer(EngineService(cfg).app())) as c:
        yield c


@pytest.mark.slow  # three child processes (curate, train, evaluate): ~25 s idle, more on a shared CPU
async def test_a_curated_job_trains_on_the_curated_set_and_reports_an_evaluation(
    client, tiny_checkpoint, toy_dataset
):
    version = load_checkpoint(tiny_checkpoint).version
    item = lambda s, hair: {"seed": s, "attributes": {"hair": hair}, "version": version}
    body = {
        "data": str(toy_dataset),
        "kimg": 0.016,
        "batch": 8,
        "freeze_d": 1,
        "extra_share": 0.25,
        "curated": [item(s, "blue") for s in range(12)],
        "negatives": [item(s, "red") for s in range(12, 24)],
        "eval_samples": 16,
        "eval_feature_size": 32,
        "eval_per_value": 2,
    }
    r = await client.post("/v1/jobs", json=body)
    assert r.status == 202, await r.text()
    job = await r.json()
    assert job["spec"]["extra_data"] == "{job}/curated" and job["spec"]["extra_share"] == 0.25
    assert (await client.post("/v1/generate", json={"seed": 3})).status == 200  # serving goes on
    for _ in range(600):
        job = await (await client.get(f"/v1/jobs/{job['id']}")).json()
        if job["state"] in ("succeeded", "failed"):
            break
        await asyncio.sleep(0.2)
    assert job["state"] == "succeeded", job["error"]
    result = job["result"]
    assert result["curation"]["liked"] == 12 and result["curation"]["sources"] == {"regenerated": 24}
    ev = result["evaluation"]
    assert ev["champion"]["version"] == version
    assert ev["challenger"]["version"] == load_checkpoint(result["checkpoint"]).version != version
    assert {"kid", "attr_precision", "diversity"} <= set(ev["challenger"])
    assert {"champion", "challenger", "gain", "gain_low", "gain_high", "held_out_accuracy", "trusted"} <= set(
        ev["preference"]
    )
    assert load_checkpoint(result["checkpoint"]).meta["parent"] == version
    config = load_checkpoint(result["checkpoint"]).meta["training"]["config"]
    assert (
        config["extra_share"] == 0.25
        and config["freeze_d"] == 1
        and config["extra_data"].endswith("/curated")
    )
