"""POST /v1/invert: a picture in, its nearest mascot and variations out, as identities the loop can use."""

import asyncio
import base64
import io
import json
import time

import pytest
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from engine.serve.app import EngineService, ServeConfig


def _service(ckpt, tmp_path, **kw):
    cfg = ServeConfig(models=(("default", str(ckpt)),), jobs_dir=str(tmp_path / "jobs"), invert_steps=5, **kw)
    return EngineService(cfg)


def _b64(image: Image.Image, fmt: str = "PNG", **kw) -> str:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kw)
    return base64.b64encode(buf.getvalue()).decode()


PICTURE = Image.new("RGB", (48, 40), (30, 40, 220))


async def test_a_picture_becomes_a_mascot_with_variations_that_render_again(tiny_checkpoint, tmp_path):
    async with TestClient(TestServer(_service(tiny_checkpoint, tmp_path).app())) as c:
        r = await c.post(
            "/v1/invert", json={"image": _b64(PICTURE), "attributes": "hair:blue", "variations": 3}
        )
        assert r.status == 200, await r.text()
        out = await r.json()
        assert len(out["images"]) == 4 and out["steps"] == 5 and out["read"] == {}  # no tagger: nothing read
        mascot = out["images"][0]
        assert mascot["attributes"]["hair"] == "blue" and len(mascot["latent"]["z"]) > 0
        assert [i["latent"]["index"] for i in out["images"][1:]] == [1, 2, 3]
        again = await (
            await c.post("/v1/render", json={"latent": mascot["latent"], "attributes": mascot["attributes"]})
        ).json()
        assert again["images"][0]["image"] == mascot["image"]
        same = await (
            await c.post(
                "/v1/invert", json={"image": _b64(PICTURE), "attributes": "hair:blue", "variations": 3}
            )
        ).json()
        assert [i["image"] for i in same["images"]] == [i["image"] for i in out["images"]]
        kids = await (
            await c.post(
                "/v1/variations", json={"latent": mascot["latent"], "attributes": mascot["attributes"]}
            )
        ).json()
        assert len(kids["images"]) == 4


async def test_progress_streams_the_search_steps_then_the_same_answer(tiny_checkpoint, tmp_path):
    async with TestClient(TestServer(_service(tiny_checkpoint, tmp_path).app())) as c:
        body = {"image": _b64(PICTURE), "attributes": "hair:blue", "variations": 1}
        r = await c.post("/v1/invert", json={**body, "progress": True})
        assert r.status == 200 and r.headers["Content-Type"].startswith("application/x-ndjson")
        *steps, last = [json.loads(line) for line in (await r.text()).splitlines()]
        assert steps[0] == {"progress": {"step": 0, "steps": 5}} and steps[-1] == {
            "progress": {"step": 5, "steps": 5}
        }
        assert all(set(s) == {"progress"} for s in steps)
        plain = await (await c.post("/v1/invert", json=body)).json()
        assert last == plain and len(last["images"]) == 2  # the search is remembered: the same mascot
        r = await c.post("/v1/invert", json={**body, "progress": "yes"})
        assert r.status == 400 and (await r.json())["error"]["code"] == "invalid_progress"


@pytest.mark.parametrize(
    "body, code",
    [
        ({}, "invalid_image"),
        ({"image": 5}, "invalid_image"),
        ({"image": "%%% not base64"}, "invalid_image"),
        ({"image": base64.b64encode(b"plain text").decode()}, "bad_request"),
        ({"image": _b64(PICTURE, "GIF")}, "bad_request"),
        ({"image": _b64(PICTURE), "variations": 4}, "invalid_variations"),  # the mascot + 4 > the count limit
        ({"image": _b64(PICTURE), "strength": "x"}, "invalid_strength"),
        ({"image": _b64(PICTURE), "attributes": "hair:plaid"}, "invalid_attributes"),
    ],
)
async def test_what_is_not_a_usable_picture_is_a_clear_4xx(tiny_checkpoint, tmp_path, body, code):
    async with TestClient(TestServer(_service(tiny_checkpoint, tmp_path).app())) as c:
        r = await c.post("/v1/invert", json=body)
        out = await r.json()
        assert 400 <= r.status < 500 and out["error"]["code"] == code and out["error"]["message"]


async def test_a_data_url_is_accepted_and_a_second_search_meanwhile_is_told_to_wait(
    tiny_checkpoint, tmp_path, monkeypatch
):
    from engine import invert

    search = invert.Inverter.__call__

    def slow(self, *args, **kw):
        time.sleep(1.0)
        return search(self, *args, **kw)

    monkeypatch.setattr(invert.Inverter, "__call__", slow)
    async with TestClient(TestServer(_service(tiny_checkpoint, tmp_path).app())) as c:
        other = Image.new("RGB", (32, 32), (200, 30, 30))
        first = asyncio.create_task(
            c.post("/v1/invert", json={"image": "data:image/png;base64," + _b64(other)})
        )
        await asyncio.sleep(0.5)
        started = time.monotonic()
        r = await c.post("/v1/invert", json={"image": _b64(PICTURE)})
        assert r.status == 429 and time.monotonic() - started < 0.5 and int(r.headers["Retry-After"]) > 0
        streamed = await c.post("/v1/invert", json={"image": _b64(PICTURE), "progress": True})
        assert (
            streamed.status == 429 and (await streamed.json())["error"]["code"] == "busy"
        )  # before any line
        assert (await first).status == 200


@pytest.fixture(scope="module")
def tiny_translator(tmp_path_factory):
    """An untrained A->B translator at 16 px: enough to see that a style is applied."""
    import torch

    from engine.translate.checkpoint import save_translator
    from engine.translate.model import ResnetGenerator, TranslatorArch

    torch.manual_seed(0)
    arch = TranslatorArch(channels=4, blocks=1, disc_layers=2, resolution=16)
    out = tmp_path_factory.mktemp("translator") / "cyclegan-emoji"
    save_translator(
        out,
        {"a_to_b": ResnetGenerator(arch), "b_to_a": ResnetGenerator(arch)},
        {"a": {"name": "emoji"}, "b": {"name": "mascots"}},
    )
    return out


async def test_a_style_translates_the_picture_before_the_search(
    tiny_checkpoint, tiny_translator, tmp_path, monkeypatch
):
    from engine.translate.stage import Translator

    seen = []
    apply = Translator.apply
    monkeypatch.setattr(
        Translator, "apply", lambda self, image: seen.append(image.shape) or apply(self, image)
    )
    service = _service(
        tiny_checkpoint,
        tmp_path,
        translators=(("emoji", str(tiny_translator)), ("broken", str(tmp_path / "nothing"))),
    )
    async with TestClient(TestServer(service.app())) as c:
        body = {"image": _b64(PICTURE), "variations": 0, "style": "emoji"}
        r = await c.post("/v1/invert", json=body)
        assert r.status == 200, await r.text()
        styled = await r.json()
        assert styled["style"] == "emoji" and seen == [(40, 48, 3)]  # the picture, at its own size
        assert (await (await c.post("/v1/invert", json=body)).json())["images"] == styled["images"]
        assert len(seen) == 1  # asked again: answered from memory
        plain = await (await c.post("/v1/invert", json={**body, "style": None})).json()
        assert "style" not in plain and len(seen) == 1
        for style, words in (
            ("cartoon", "broken, emoji"),
            (3, "name of a known style"),
            (["emoji"], "got ["),
        ):
            r = await c.post("/v1/invert", json={**body, "style": style})
            err = (await r.json())["error"]
            assert r.status == 400 and err["code"] == "invalid_style" and words in err["message"]
        r = await c.post("/v1/invert", json={**body, "style": "broken"})
        err = (await r.json())["error"]
        assert r.status == 503 and err["code"] == "style_unavailable" and "no translator at" in err["message"]


async def test_without_translators_a_style_is_refused_saying_none_are_configured(tiny_checkpoint, tmp_path):
    async with TestClient(TestServer(_service(tiny_checkpoint, tmp_path).app())) as c:
        r = await c.post("/v1/invert", json={"image": _b64(PICTURE), "style": "emoji"})
        assert r.status == 400 and "no translators are configured" in (await r.json())["error"]["message"]


def test_config_names_translators_under_the_checkpoints_folder(tmp_path):
    import argparse

    from engine.errors import MascotError
    from engine.serve.cli import serve_config

    def cfg(line: str):
        (tmp_path / "config.toml").write_text(f'[paths]\ncheckpoints = "ck"\n[engine]\n{line}\n')
        args = argparse.Namespace(
            config=str(tmp_path / "config.toml"), host=None, port=None, model=None, device="cpu"
        )
        return serve_config(args)[0]

    assert cfg('translators = {emoji = "cyclegan-emoji"}').translators == (("emoji", "ck/cyclegan-emoji"),)
    assert cfg("").translators == ()
    with pytest.raises(MascotError, match="translators must be a table"):
        cfg('translators = ["cyclegan-emoji"]')
