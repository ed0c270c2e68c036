"""A community's own model through the engine's HTTP API: upload, build, one tiny chunk, serve,
restart, forget (and nothing of it left on disk)."""

import asyncio
import base64
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from engine.config import load_config
from engine.errors import MascotError
from engine.serve.app import EngineService, ServeConfig
from engine.serve.communities import CommunitiesConfig
from tests.pictures import picture, pictures

ID = "discord-4242"


@pytest.fixture
def engine_env(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text('[communities]\npreset = "tiny"\nnice = 5\n')
    monkeypatch.setenv("MASCOT_CONFIG", str(config))
    monkeypatch.setenv("MASCOT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return tmp_path


def _service(ckpt, tmp_path, **kw):
    cfg = ServeConfig(
        models=(("default", str(ckpt)),),
        jobs_dir=str(tmp_path / "jobs"),
        path_roots=(str(tmp_path),),
        **kw,
    )
    return EngineService(cfg)


def _upload(files):
    return {"files": [{"name": n, "data": base64.b64encode(d).decode()} for n, d in files]}


async def _ready(client):
    for _ in range(200):
        if (await client.get("/readyz")).status == 200:
            return
        await asyncio.sleep(0.05)


async def _chunk_finished(client, n: int) -> dict:
    for _ in range(1200):
        status = await (await client.get(f"/v1/communities/{ID}")).json()
        if len(status["chunks"]) >= n and status["served"]:
            return status
        if len(status["chunks"]) >= n and not status["running"]:
            return status
        await asyncio.sleep(0.25)
    raise AssertionError(f"no chunk finished: {status}")


async def test_a_community_trains_serves_survives_a_restart_and_is_forgotten(tiny_checkpoint, engine_env):
    state = engine_env / "state" / "communities" / ID
    async with TestClient(TestServer(_service(tiny_checkpoint, engine_env).app())) as client:
        await _ready(client)
        bad = [
            ("same.png", picture(0)),
            ("report.png", b"%PDF-1.4 not a picture"),
            ("speck.png", picture(1, side=16)),
        ]
        r = await client.post(f"/v1/communities/{ID}/pictures", json=_upload(pictures(40) + bad))
        assert r.status == 200, await r.text()
        intake = await r.json()
        assert len(intake["kept"]) == 40 and intake["pictures"] == 40
        reasons = {x["file"]: x["reason"] for x in intake["refused"]}
        assert "duplicate of mascot-00.png" in reasons["same.png"]
        assert "PNG, JPEG, WebP, GIF or SVG" in reasons["report.png"]
        assert "16x16" in reasons["speck.png"] and "at least 32" in reasons["speck.png"]

        r = await client.post(f"/v1/communities/{ID}/build", json={})
        assert r.status == 200, await r.text()
        built = await r.json()
        assert built["labels"] == "classes" and len(built["attributes"]["class"]) >= 2
        sheet = Image.open(io.BytesIO(base64.b64decode(built["contact_sheet"])))
        assert sheet.size[0] == 8 * 32

        r = await client.post(f"/v1/communities/{ID}/chunk", json={"minutes": 4})
        assert r.status == 202, await r.text()
        assert (await client.post(f"/v1/communities/{ID}/chunk", json={})).status == 409  # one at a time
        status = await _chunk_finished(client, 1)
        chunk = status["chunks"][0]
        assert chunk["outcome"] == "finished", chunk
        assert chunk["passed"] and status["served"] and status["version"]
        assert 0 < status["cpu_minutes_spent"] <= status["cpu_minutes_budget"]
        grid = await (await client.get(f"/v1/communities/{ID}/grid")).json()
        assert Image.open(io.BytesIO(base64.b64decode(grid["image"]))).size[0] > 0

        r = await client.post("/v1/generate", json={"model": ID, "attributes": "class:1", "seed": 3})
        assert r.status == 200, await r.text()
        models = {m["name"]: m for m in (await (await client.get("/v1/models")).json())["models"]}
        assert models[ID]["schema"]["attributes"][0]["name"] == "class"

    # A restart serves the community's version again, with no request.
    async with TestClient(TestServer(_service(tiny_checkpoint, engine_env).app())) as client:
        await _ready(client)
        for _ in range(200):
            if (await client.post("/v1/generate", json={"model": ID, "seed": 3})).status == 200:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the community's model is not served after a restart")
        r = await client.post(f"/v1/communities/{ID}/forget")
        assert r.status == 200 and (await r.json())["freed_bytes"] > 0
        assert not state.exists()
        assert (await client.post("/v1/generate", json={"model": ID, "seed": 3})).status == 404
        assert (await client.get(f"/v1/communities/{ID}")).status == 404


async def test_bad_uploads_and_ids_are_clear_refusals(tiny_checkpoint, engine_env):
    async with TestClient(TestServer(_service(tiny_checkpoint, engine_env).app())) as client:
        r = await client.post("/v1/communities/Bad Id!/pictures", json=_upload(pictures(1)))
        assert r.status == 400 and "community id" in (await r.json())["error"]["message"]
        r = await client.post(f"/v1/communities/{ID}/pictures", json={"files": "x"})
        assert r.status == 400 and "a list of one or more" in (await r.json())["error"]["message"]
        r = await client.post(
            f"/v1/communities/{ID}/pictures", json={"files": [{"name": "a.png", "data": "%%"}]}
        )
        assert r.status == 400 and "base64" in (await r.json())["error"]["message"]
        await client.post(f"/v1/communities/{ID}/pictures", json=_upload(pictures(3)))
        r = await client.post(f"/v1/communities/{ID}/build", json={})
        assert r.status == 400 and "at least 16" in (await r.json())["error"]["message"]
        r = await client.post(f"/v1/communities/{ID}/chunk", json={})
        assert r.status == 409 and "build it first" in (await r.json())["error"]["message"]
        assert (await client.get("/v1/communities/discord-1")).status == 404
        r = await client.post("/v1/communities/default/build", json={})
        assert r.status == 400 and "configured model" in (await r.json())["error"]["message"]


async def test_community_routes_are_admin_only(tiny_checkpoint, engine_env):
    service = _service(tiny_checkpoint, engine_env, admin_token="s3cret")
    async with TestClient(TestServer(service.app())) as client:
        assert (await client.get(f"/v1/communities/{ID}")).status == 401
        r = await client.post(f"/v1/communities/{ID}/forget", headers={"Authorization": "Bearer nope"})
        assert r.status == 403
        r = await client.post(f"/v1/communities/{ID}/forget", headers={"Authorization": "Bearer s3cret"})
        assert r.status == 200


async def test_a_chunk_the_engine_died_in_is_recorded_at_start_and_counted(tiny_checkpoint, engine_env):
    import json
    import time

    folder = engine_env / "state" / "communities" / ID
    folder.mkdir(parents=True)
    running = {"pid": 2**22 + 12345, "started": time.time() - 120, "minutes": 30}  # no such process
    state = {"id": ID, "preset": "tiny", "built": {"attributes": {"class": ["0", "1"]}}, "running": running}
    (folder / "community.json").write_text(json.dumps(state))
    async with TestClient(TestServer(_service(tiny_checkpoint, engine_env).app())) as client:
        await _ready(client)
        for _ in range(100):
            status = await (await client.get(f"/v1/communities/{ID}")).json()
            if status["chunks"]:
                break
            await asyncio.sleep(0.05)
        [chunk] = status["chunks"]
        assert chunk["outcome"] == "interrupted" and "engine stopped" in chunk["error"]
        assert 1.9 < status["cpu_minutes_spent"] < 3  # the wall time it ran stands in for its CPU time


@pytest.mark.parametrize(
    "table, words",
    [
        ({"file_mb": "big"}, "[communities] file_mb must be a number above 0, got 'big'"),
        ({"cpu_minutes": -5}, "[communities] cpu_minutes must be a number above 0, got -5"),
        ({"nice": 40}, "[communities] nice must be a whole number from 0 to 19, got 40"),
        ({"threads": True}, "[communities] threads must be a number above 0, got True"),
        ({"preset": 3}, "[communities] preset must be text, got 3"),
        ({"budget": 1}, "[communities] has unknown settings: budget"),
    ],
)
def test_a_bad_communities_setting_is_refused_by_name(table, words):
    with pytest.raises(MascotError) as err:
        CommunitiesConfig.from_config({"communities": table})
    assert str(err.value) == words


def test_communities_settings_are_read_in_their_units():
    cfg = CommunitiesConfig.from_config({"communities": {"file_mb": 2, "cpu_minutes": 30, "threads": 2}})
    assert (cfg.limits.file_bytes, cfg.limits.cpu_minutes, cfg.threads) == (2 * 2**20, 30.0, 2)


def test_serve_reads_communities_from_the_settings_file_it_is_given(tmp_path, tiny_checkpoint):
    config = tmp_path / "elsewhere.toml"
    config.write_text(
        f'[engine]\nport = 0\nmodels = ["default"]\n[paths]\ncheckpoints = "{tiny_checkpoint.parent}"\n'
        "[communities]\nnice = 40\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode != 0
    assert "[communities] nice must be a whole number from 0 to 19, got 40" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_shipped_settings_file_states_the_defaults():
    shipped = CommunitiesConfig.from_config(load_config(Path(__file__).parents[3] / "config.toml"))
    assert shipped == CommunitiesConfig()
