"""Helpers for the curation tests: a job folder as the engine's /v1/jobs would lay it out."""

from __future__ import annotations

import base64
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.checkpoint import load_checkpoint
from engine.sampling import render, resolve


@pytest.fixture(autouse=True)
def metrics_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MASCOT_CACHE", str(tmp_path / "cache"))


def png_b64(pixels: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def drawn(checkpoint: Path, seed: int, attrs: dict) -> np.ndarray:
    ck = load_checkpoint(checkpoint)
    return render(ck.G, ck.schema, [resolve(ck.schema, attrs, seed)])[0]


def make_job(
    tmp_path: Path,
    champion: Path,
    data: Path,
    curated: list,
    negatives: list,
    versions: Path | None = None,
    samples: int = 20,
) -> Path:
    job = tmp_path / "job"
    job.mkdir()
    spec = {
        "champion": str(champion),
        "versions": str(versions or tmp_path / "versions"),
        "data": str(data),
        "curated": curated,
        "negatives": negatives,
        "evaluate": True,
        "eval": {"samples": samples, "feature_size": 32, "per_value": 2, "seed": 1000},
    }
    (job / "curated.json").write_text(json.dumps(spec))
    return job


def copy_checkpoint(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
