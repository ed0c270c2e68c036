"""A real engine whose communities train with the tiny preset (state under the test's folder),
for the tests of a server's own model through Discord payloads and the web chat."""

from __future__ import annotations

import io
import zipfile

import pytest
from aiohttp.test_utils import TestServer

from tests.pictures import picture


@pytest.fixture
async def community_engine(tiny_checkpoint, tmp_path, monkeypatch):
    """(engine URL, the communities folder of its state)."""
    # Tests may import the engine to *start* one; the bot package itself never does.
    from engine.serve.app import EngineService, ServeConfig

    config = tmp_path / "config.toml"
    config.write_text('[communities]\npreset = "tiny"\nnice = 5\n')
    monkeypatch.setenv("MASCOT_CONFIG", str(config))
    monkeypatch.setenv("MASCOT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    service = EngineService(
        ServeConfig(
            models=(("default", str(tiny_checkpoint)),),
            jobs_dir=str(tmp_path / "jobs"),
            path_roots=(str(tmp_path.parent),),
        )
    )
    server = TestServer(service.app())
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), tmp_path / "state" / "communities"
    await server.close()


def pictures_zip(indices, folder: str = "ours") -> bytes:
    """Pictures nobody has seen, zipped, with one file that is not a picture."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in indices:
            z.writestr(f"{folder}/mascot-{i:02d}.png", picture(i))
        z.writestr(f"{folder}/notes.txt", "not a picture")
    return buf.getvalue()


# A quick vote run on a tiny model: every liked mascot counts, a few images of training and evaluation.
QUICK_VOTES = dict(
    poll_s=0.2,
    min_voters=1,
    min_curated=1,
    min_liked_bound=0.0,
    kimg=0.016,
    batch=8,
    freeze_d=1,
    eval_samples=16,
    eval_feature_size=32,
    eval_per_value=2,
)
