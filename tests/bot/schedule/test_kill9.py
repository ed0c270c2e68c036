"""kill -9 mid-fine-tune: the engine (a real process) or the bot dies while the nightly job trains.

After the engine is killed and started again, the job is reported failed, its training
process is gone (it does not hold the one-job slot), the champion serves, and the next
night's job is accepted. After the bot is killed, the run it left "running" is recorded
as failed and the next night runs.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from bot.core.engine_client import EngineClient
from bot.schedule.config import ScheduleConfig
from bot.schedule.nightly import LEASE, NightlyRun
from bot.schedule.scheduler import NightlyScheduler

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="kill -9 and /proc are Linux's")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EngineProcess:
    def __init__(self, root: Path, data_root: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = root / "config.toml"
        self.config.write_text(
            f'[paths]\ncheckpoints = "{root / "checkpoints"}"\ndata = "{data_root}"\n'
            f'runs = "{root / "runs"}"\n'
            f'[engine]\nmodels = ["default"]\ndevice = "cpu"\nupscaler = ""\nbuckets = [1]\n'
        )
        self.proc: subprocess.Popen | None = None

    async def start(self) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        env.pop("ENGINE_ADMIN_TOKEN", None)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "engine.cli",
                "serve",
                "--config",
                str(self.config),
                "--port",
                str(self.port),
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        async with aiohttp.ClientSession() as s:
            for _ in range(600):
                try:
                    async with s.get(self.url + "/readyz") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                assert self.proc.poll() is None, "the engine exited at start-up"
                await asyncio.sleep(0.1)
        raise AssertionError("the engine did not get ready")

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


def _votes(store, version):
    for i in range(3):
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
        )
        for u in range(3):
            store.vote(g.id, f"u{u}", 1)


async def _running_job(url: str, store, previous: str | None = None, seconds: float = 120) -> dict:
    """The job the current nightly run started, once the engine reports its training process running."""
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            runs = store.curation_runs(1)
            job_id = runs[0]["details"].get("job") if runs else None
            if job_id and job_id != previous:
                async with s.get(f"{url}/v1/jobs/{job_id}") as r:
                    job = await r.json()
                if job["state"] == "running" and job["pid"] and _training(job["pid"]):
                    return job
            await asyncio.sleep(0.1)
    raise AssertionError("the nightly job never started running")


def _training(pid: int) -> bool:
    """Whether ``pid`` is the fine-tune itself (not the curation step before it)."""
    try:
        return b"train" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status  # a zombie is dead


async def test_engine_killed_mid_finetune_fails_the_job_keeps_the_champion_and_the_next_night_runs(
    tiny_checkpoint, toy_dataset, tmp_path, store
):
    shutil.copytree(tiny_checkpoint, tmp_path / "checkpoints" / "default")
    engine_proc = EngineProcess(tmp_path, toy_dataset.parent)
    await engine_proc.start()
    engine = EngineClient(engine_proc.url)
    trainers: list[int] = []
    try:
        champion = (await engine.generate({}, seed=1)).version
        _votes(store, champion)
        cfg = ScheduleConfig(
            data=str(toy_dataset), min_curated=2, poll_s=0.2, timeout_s=600, kimg=50, batch=8
        )
        night = asyncio.create_task(NightlyRun(engine, store, cfg).run("test"))
        job = await _running_job(engine_proc.url, store)
        trainers.append(job["pid"])

        engine_proc.kill9()
        deadline = time.monotonic() + 10
        while _alive(job["pid"]) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert not _alive(job["pid"]), "the training process outlived the engine"
        await asyncio.sleep(1.0)  # the nightly run keeps polling an engine that is down
        assert not night.done()

        await engine_proc.start()
        out = await asyncio.wait_for(night, 60)  # the engine, back, reports the job failed
        assert (
            out.status == "failed"
            and "engine stopped" in out.message
            and "champion keeps serving" in out.message
        )
        after = await engine.job(job["id"])
        assert after.state == "failed" and "engine stopped" in after.error
        assert (await engine.generate({}, seed=1)).version == champion

        night = asyncio.create_task(NightlyRun(engine, store, cfg).run("test"))
        accepted = await _running_job(
            engine_proc.url, store, previous=job["id"]
        )  # not refused as "a job is still running"
        assert accepted["id"] != job["id"]
        night.cancel()
    finally:
        engine_proc.stop()
        await engine.close()
        for pid in trainers:  # a failing run must not leave a training process behind
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


async def test_a_run_left_running_by_a_killed_bot_is_recorded_failed_and_the_next_runs(store, engine_url):
    left = store.start_curation_run("default", details={"trigger": "schedule", "job": "abc123"})
    store.acquire_lease(LEASE, "schedule-dead", -1)  # the dead process's lease, expired
    engine = EngineClient(engine_url)
    try:
        cfg = ScheduleConfig(min_curated=1000)  # the next night has nothing to train: a quick "skipped"
        scheduler = NightlyScheduler(engine, store, cfg)
        scheduler.start(catch_up=False)
        try:
            row = next(r for r in store.curation_runs(5) if r["id"] == left)
            assert row["status"] == "failed" and "bot stopped" in row["details"]["message"]
            assert "abc123" in row["details"]["message"]
            out = await NightlyRun(engine, store, cfg).run("schedule")
            assert out.status == "skipped"
        finally:
            await scheduler.stop()
    finally:
        await engine.close()
