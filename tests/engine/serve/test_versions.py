import json
import shutil

import pytest
from aiohttp.test_utils import TestClient, TestServer

from engine.checkpoint import load_checkpoint, save_generator
from engine.serve.app import EngineService, ServeConfig
from engine.serve.versions import VersionStore


def _variant(src, dst, scale):
    """A copy of the checkpoint with different weights (so a different version)."""
    ck = load_checkpoint(src)
    for p in ck.G.parameters():
        p.data.mul_(scale)
    meta = ck.meta
    save_generator(
        dst,
        ck.G,
        family=meta["family"],
        arch=meta["arch"],
        c_dim=meta["c_dim"],
        resolution=meta["resolution"],
        schema=ck.schema,
        extra={"parent": ck.version},
    )
    return load_checkpoint(dst).version


@pytest.fixture
def live(tiny_checkpoint, tmp_path):
    path = tmp_path / "checkpoints" / "default"
    shutil.copytree(tiny_checkpoint, path)
    return path


@pytest.fixture
async def client(live, tmp_path):
    cfg = ServeConfig(
        models=(("default", str(live)),), jobs_dir=str(tmp_path / "jobs"), path_roots=(str(tmp_path.parent),)
    )
    async with TestClient(TestServer(EngineService(cfg).app())) as c:
        yield c


async def _version(client):
    return (await (await client.get("/v1/models")).json())["models"][0]["version"]


async def test_promote_swaps_serving_keeps_lineage_and_rollback_restores(client, live, tmp_path):
    first = await _version(client)
    second = _variant(live, tmp_path / "challenger", 0.9)
    r = await client.post(
        "/v1/models/default/promote", json={"checkpoint": str(tmp_path / "challenger"), "reason": "won"}
    )
    assert r.status == 200, await r.text()
    assert (await r.json())["previous"] == first
    assert await _version(client) == second
    assert live.is_symlink() and load_checkpoint(live).version == second  # a restart serves the promoted one
    store = VersionStore(live)
    assert store.has(first) and store.has(second)  # the original folder became the first version
    assert (store.path_of(first) / "discriminator.safetensors").is_file()  # kept for the next fine-tune
    assert json.loads((store.path_of(second) / "model.json").read_text())["parent"] == first
    info = await (await client.get("/v1/models/default/versions")).json()
    assert info["current"] == second and info["previous"] == first and info["history"][0]["reason"] == "won"

    r = await client.post("/v1/models/default/rollback", json={})
    assert r.status == 200 and (await r.json())["version"] == first
    assert await _version(client) == first and load_checkpoint(live).version == first


async def test_a_corrupt_challenger_is_refused_and_the_champion_keeps_serving(client, live, tmp_path):
    first = await _version(client)
    bad = tmp_path / "bad"
    shutil.copytree(live, bad)
    (bad / "model.safetensors").write_bytes(b"garbage")
    r = await client.post("/v1/models/default/promote", json={"checkpoint": str(bad)})
    assert r.status == 422 and "keeps serving" in (await r.json())["error"]["message"]
    assert await _version(client) == first and load_checkpoint(live).version == first


async def test_rollback_with_no_history_says_so(client):
    r = await client.post("/v1/models/default/rollback", json={})
    assert r.status == 409 and "no earlier promoted version" in (await r.json())["error"]["message"]
    assert (await client.post("/v1/models/nope/rollback", json={})).status == 404
    assert (await client.post("/v1/models/default/promote", json={})).status == 400
