"""A model shipped offering only some styles (export --styles) serves only those."""

import json
import shutil

import pytest
from aiohttp.test_utils import TestClient, TestServer

from engine.checkpoint import load_checkpoint
from engine.cli import main
from engine.schema import Schema, choice, flag
from engine.serve.app import EngineService, ServeConfig

# The toy model's five conditioning inputs, read as three styles and a flag.
STYLED = Schema((choice("style", ["a", "b", "c"]), flag("smile")))


@pytest.fixture
def offering_a_and_b(tiny_checkpoint, tmp_path):
    styled = tmp_path / "styled"
    shutil.copytree(tiny_checkpoint, styled)
    meta = json.loads((styled / "model.json").read_text())
    (styled / "model.json").write_text(json.dumps({**meta, "schema": STYLED.to_json()}))
    ship = tmp_path / "ship"
    assert main(["export", "--checkpoint", str(styled), "--out", str(ship), "--styles", "a", "b"]) == 0
    return ship


def _client(checkpoint, tmp_path) -> TestClient:
    cfg = ServeConfig(
        models=(("default", str(checkpoint)),),
        jobs_dir=str(tmp_path / "jobs"),
        path_roots=(str(tmp_path.parent),),
    )
    return TestClient(TestServer(EngineService(cfg).app()))


def test_export_styles_keeps_the_interface_and_offers_only_those(offering_a_and_b):
    schema = load_checkpoint(offering_a_and_b).schema
    assert schema.offered("style") == ("a", "b") and schema.interface() == STYLED.interface()


def test_export_refuses_a_style_the_model_does_not_have(offering_a_and_b, tmp_path, capsys):
    flags = ["--checkpoint", str(offering_a_and_b), "--out", str(tmp_path / "x"), "--styles", "d"]
    assert main(["export", *flags]) != 0
    assert "'d' is not a value of 'style'; allowed: a, b, c" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


async def test_a_style_not_offered_is_never_drawn_unasked_and_refused_when_asked(offering_a_and_b, tmp_path):
    async with _client(offering_a_and_b, tmp_path) as client:
        drawn = set()
        for seed in range(1, 25, 4):
            r = await client.post("/v1/generate", json={"seed": seed, "count": 4})
            drawn |= {image["attributes"]["style"] for image in (await r.json())["images"]}
        assert drawn == {"a", "b"}
        r = await client.post("/v1/generate", json={"attributes": "style:b smile:yes", "seed": 1})
        assert r.status == 200
        r = await client.post("/v1/generate", json={"attributes": "style:c", "seed": 1})
        error = (await r.json())["error"]
        assert r.status == 400 and error["code"] == "invalid_attributes"
        assert error["message"] == (
            "style 'c' is not offered by this model (it cannot draw it well yet); offered: a, b"
        )


async def test_a_stored_identity_in_a_style_no_longer_offered_is_still_redrawn(offering_a_and_b, tmp_path):
    async with _client(offering_a_and_b, tmp_path) as client:
        identity = {"seed": 3, "latent": {"seed": 3}, "attributes": {"style": "c", "smile": "no"}}
        r = await client.post("/v1/render", json=identity)
        assert r.status == 200 and (await r.json())["images"][0]["attributes"]["style"] == "c"
        r = await client.post("/v1/variations", json={**identity, "count": 1})
        assert r.status == 400 and "not offered" in (await r.json())["error"]["message"]
