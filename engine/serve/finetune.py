"""A fine-tune request made into what the job runner starts: its spec, and for a vote-driven one
its curated set and evaluation steps. Every route that starts a fine-tune builds it here."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from engine.checkpoint import Checkpoint
from engine.errors import MascotError
from engine.serve.contract import JobRequest
from engine.serve.jobs import FinetuneSpec
from engine.serve.requests import ApiError, allowed_path, shown


def finetune_spec(job: JobRequest, ck: Checkpoint, roots: tuple[str, ...]) -> FinetuneSpec:
    """The fine-tune of ``ck`` on ``job.data``, a data set folder inside one of ``roots``."""
    data = allowed_path(job.data, "data", roots, "a data set folder")
    if not data.is_dir():
        raise ApiError(
            400,
            "invalid_data",
            f"data must be the path of a data set folder on the engine, got {shown(job.data)}",
        )
    return FinetuneSpec(
        data=str(data),
        init_from=str(ck.path),
        family=ck.meta["family"],
        kimg=job.kimg,
        freeze_d=job.freeze_d,
        batch_size=job.batch,
        lr_g=job.lr_g,
        lr_d=job.lr_d,
        timeout_s=job.timeout_s,
    )


def with_curation(
    job: JobRequest,
    ck: Checkpoint,
    spec: FinetuneSpec,
    *,
    versions: Path,
    sizes: tuple[int, ...],
    upscaler: str,
) -> tuple[FinetuneSpec, dict[str, bytes]]:
    """A vote-driven fine-tune: curated set -> fine-tune on base + curated -> evaluation.
    ``versions``: the model's stored versions (a curated item names the version that drew it)."""
    from engine.curate import request as curated

    body: dict[str, Any] = job.model_dump(by_alias=True, exclude_unset=True)  # curated fields read there
    try:
        inputs = curated.job_input(
            body, champion=ck.path, versions=versions, data=spec.data, sizes=sizes, upscaler=upscaler
        )
        share = curated.extra_share(body)
    except MascotError as exc:
        raise ApiError(400, "invalid_curation", str(exc)) from None
    before, after = curated.steps(inputs["evaluate"])
    spec = replace(spec, extra_data="{job}/curated", extra_share=share, before=before, after=after)
    return spec, {"curated.json": json.dumps(inputs).encode()}
