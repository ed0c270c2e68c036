"""The engine calls a nightly run makes, over the same HTTP client as every other command.

The bot never imports the engine: a fine-tune is POST /v1/jobs, its progress GET
/v1/jobs/{id}, a promotion POST /v1/models/{name}/promote, a rollback .../rollback.
"""

from __future__ import annotations

import base64
from typing import Any

from bot.core.engine import EngineClient


class EngineJobs:
    def __init__(self, engine: EngineClient) -> None:
        self.engine = engine

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        # EngineClient._call turns every failure into a readable EngineError; reuse it rather than copy it.
        return await self.engine._call(method, path, body)

    async def start_finetune(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self._call("POST", "/v1/jobs", {"kind": "finetune", **body})

    async def job(self, job_id: str) -> dict[str, Any]:
        return await self._call("GET", f"/v1/jobs/{job_id}")

    async def promote(self, model: str, checkpoint: str, reason: str) -> dict[str, Any]:
        return await self._call(
            "POST", f"/v1/models/{model}/promote", {"checkpoint": checkpoint, "reason": reason}
        )

    async def rollback(self, model: str, reason: str) -> dict[str, Any]:
        return await self._call("POST", f"/v1/models/{model}/rollback", {"reason": reason})

    async def versions(self, model: str) -> dict[str, Any]:
        return await self._call("GET", f"/v1/models/{model}/versions")


def item(pick, image: bytes | None) -> dict[str, Any]:
    """One curated or negative image as the job request carries it."""
    out = {"id": pick.generation, "seed": pick.seed, "attributes": pick.attributes, "version": pick.version,
           "truncation": pick.truncation}  # fmt: skip
    if image is not None:
        out["image"] = base64.b64encode(image).decode()
    return out
