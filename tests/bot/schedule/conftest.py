"""A scripted engine for the scheduler's tests: the real HTTP contract, canned job outcomes.

The real engine's side (curated set, fine-tune, evaluation, promotion) has its own tests
(tests/engine/curate, tests/engine/serve/test_versions.py); here the point is what the bot
does with each outcome, quickly.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.core.engine_client import EngineClient
from bot.schedule.config import ScheduleConfig
from bot.store import Store

SCHEMA = {
    "attributes": [
        {"name": "hair", "kind": "choice", "values": ["red", "green", "blue"]},
        {"name": "smile", "kind": "flag", "values": ["no", "yes"]},
    ]
}


def evaluation(
    kid=(0.010, 0.0105), attr=(0.80, 0.80), pref=(0.40, 0.55), trusted=True, diversity=(0.3, 0.3), ci=None
):
    """An engine's evaluation.json; ``ci``: the preference gain's interval (default: the gain +- 0.02)."""
    gain = pref[1] - pref[0]
    low, high = ci or (gain - 0.02, gain + 0.02)
    return {
        "champion": {"version": "v1", "kid": kid[0], "attr_precision": attr[0], "diversity": diversity[0]},
        "challenger": {
            "version": "v2",
            "kid": kid[1],
            "attr_precision": attr[1],
            "diversity": diversity[1],
            "finite": True,
        },
        "preference": {
            "champion": pref[0],
            "challenger": pref[1],
            "gain": gain,
            "gain_low": low,
            "gain_high": high,
            "trusted": trusted,
            "held_out_accuracy": 0.8,
            "majority_rate": 0.5,
            "train": 30,
            "test": 10,
        },
    }


@dataclass
class FakeEngine:
    """Serves version ``current``; a job ends as ``outcome`` after ``job_seconds``."""

    current: str = "v1"
    history: list[str] = field(default_factory=list)
    outcome: dict[str, Any] = field(
        default_factory=lambda: {
            "state": "succeeded",
            "result": {"checkpoint": "/jobs/x/run/model", "evaluation": evaluation()},
        }
    )
    job_seconds: float = 0.0
    requests: list[dict] = field(default_factory=list)
    on_job_start: Any = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/v1/models", self.models)
        app.router.add_post("/v1/jobs", self.start)
        app.router.add_get("/v1/jobs/{id}", self.job)
        app.router.add_post("/v1/models/{name}/promote", self.promote)
        app.router.add_post("/v1/models/{name}/rollback", self.rollback)
        return app

    async def models(self, request):
        return web.json_response(
            {
                "default": "default",
                "models": [
                    {
                        "name": "default",
                        "version": self.current,
                        "family": "dcgan",
                        "resolution": 32,
                        "schema": SCHEMA,
                        "metrics": {},
                        "parent": None,
                    }
                ],
            }
        )

    async def start(self, request):
        self.requests.append(await request.json())
        self.started = asyncio.get_running_loop().time()
        if self.on_job_start:
            self.on_job_start()
        return web.json_response({"id": "job1", "state": "running"}, status=202)

    async def job(self, request):
        if asyncio.get_running_loop().time() - self.started < self.job_seconds:
            return web.json_response({"id": "job1", "state": "running"})
        return web.json_response({"id": "job1", "error": "", "result": {}, **self.outcome})

    async def promote(self, request):
        body = await request.json()
        previous, self.current = self.current, "v2"
        self.history.append(previous)
        return web.json_response(
            {
                "name": "default",
                "version": self.current,
                "previous": previous,
                "action": "promote",
                "checkpoint": body["checkpoint"],
            }
        )

    async def rollback(self, request):
        if not self.history:
            return web.json_response(
                {
                    "error": {
                        "code": "nothing_to_roll_back",
                        "message": "model 'default' has no earlier promoted version",
                    }
                },
                status=409,
            )
        previous, self.current = self.current, self.history.pop()
        return web.json_response(
            {"name": "default", "version": self.current, "previous": previous, "action": "rollback"}
        )


@pytest.fixture
def fake():
    return FakeEngine()


@pytest.fixture
async def engine(fake):
    server = TestServer(fake.app())
    await server.start_server()
    client = EngineClient(str(server.make_url("")).rstrip("/"))
    yield client
    await client.close()
    await server.close()


@pytest.fixture
def cfg():
    return ScheduleConfig(min_voters=3, min_curated=2, poll_s=0.01, timeout_s=30)


def seed_votes(
    store: Store, n: int, hair: str = "blue", up: int = 3, down: int = 0, version: str = "v1"
) -> list[str]:
    """``n`` generations, each with ``up`` likes and ``down`` dislikes from distinct users."""
    ids = []
    for i in range(n):
        g = store.add_generation(
            engine_id=f"e{i}",
            model="default",
            version=version,
            seed=i + 100 * len(hair) + up,
            attributes={"hair": hair, "smile": "yes"},
            requested={},
            truncation=1.0,
            requester="u0",
            platform="web",
            image=b"\x89PNG fake",
        )
        for u in range(up):
            store.vote(g.id, f"up{u}", 1)
        for u in range(down):
            store.vote(g.id, f"down{u}", -1)
        ids.append(g.id)
    return ids
