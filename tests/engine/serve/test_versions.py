import json
import shutil

import pytest
from aiohttp.test_utils import TestClient, TestServer

from engine.checkpoint import load_checkpoint, save_generator
from engine.serve.app import EngineService, ServeConfig
from engine.versions import VersionStore, content_key


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


def _tree(folder):
    """Every file under ``folder`` with its bytes, to show that serving never writes there."""
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


async def test_promote_swaps_serving_keeps_lineage_and_rollback_restores(client, live, tmp_path):
    shipped = _tree(live)
    first = await _version(client)
    second = _variant(live, tmp_path / "challenger", 0.9)
    r = await client.post(
        "/v1/models/default/promote", json={"checkpoint": str(tmp_path / "challenger"), "reason": "won"}
    )
    assert r.status == 200, await r.text()
    assert (await r.json())["previous"] == first
    assert await _version(client) == second
    store = VersionStore(live)
    assert store.root.parent == tmp_path / "state" / "models"  # the engine's own folder
    assert load_checkpoint(store.live).version == second  # a restart serves the promoted one
    assert store.has(first) and store.has(second)  # the configured folder became the first version
    assert (store.path_of(first) / "discriminator.safetensors").is_file()  # kept for the next fine-tune
    assert json.loads((store.path_of(second) / "model.json").read_text())["parent"] == first
    info = await (await client.get("/v1/models/default/versions")).json()
    assert info["current"] == second and info["previous"] == first and info["history"][0]["reason"] == "won"

    r = await client.post("/v1/models/default/rollback", json={})
    assert r.status == 200 and (await r.json())["version"] == first
    assert await _version(client) == first and load_checkpoint(store.live).version == first
    assert not live.is_symlink() and _tree(live) == shipped  # the tracked folder was never written


async def test_a_corrupt_challenger_is_refused_and_the_champion_keeps_serving(client, live, tmp_path):
    first = await _version(client)
    bad = tmp_path / "bad"
    shutil.copytree(live, bad)
    (bad / "model.safetensors").write_bytes(b"garbage")
    r = await client.post("/v1/models/default/promote", json={"checkpoint": str(bad)})
    assert r.status == 422 and "keeps serving" in (await r.json())["error"]["message"]
    assert await _version(client) == first and load_checkpoint(live).version == first
    # Nothing of the refused one is kept: no stored copy but the champion's, no half-written folder.
    root = VersionStore(live).root
    assert {content_key(p) for p in VersionStore(live).copies()} <= {content_key(live)}
    assert not root.is_dir() or [p.name for p in root.iterdir() if ".partial-" in p.name] == []


async def test_rollback_with_no_history_says_so(client):
    r = await client.post("/v1/models/default/rollback", json={})
    assert r.status == 409 and "no earlier promoted version" in (await r.json())["error"]["message"]
    assert (await client.post("/v1/models/nope/rollback", json={})).status == 404
    assert (await client.post("/v1/models/default/promote", json={})).status == 400


# --- corrupt candidates (issue #41): refused with a 4xx, nothing left behind, the old model serves ---


def _meta_edit(**changes):
    def edit(folder):
        meta = json.loads((folder / "model.json").read_text())
        meta.update(changes)
        (folder / "model.json").write_text(json.dumps(meta))

    return edit


def _weights_edit(change):
    def edit(folder):
        from safetensors.torch import load_file, save_file

        from engine.checkpoint import file_sha256

        state = {
            k: change(v.clone()) if v.is_floating_point() else v
            for k, v in load_file(folder / "model.safetensors").items()
        }
        save_file(state, folder / "model.safetensors")
        _meta_edit(weights_sha256=file_sha256(folder / "model.safetensors"))(folder)

    return edit


def _no_version(folder):
    meta = json.loads((folder / "model.json").read_text())
    del meta["version"]
    (folder / "model.json").write_text(json.dumps(meta))


def _huge_arch(folder):
    meta = json.loads((folder / "model.json").read_text())
    _meta_edit(arch={**meta["arch"], "g_ch": 60_000, "max_ch": 60_000})(folder)


def _truncated_same_version(folder):
    """Weights cut short, hash updated, version name kept: the name matches a stored copy."""
    from engine.checkpoint import file_sha256

    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[:-64])
    _meta_edit(weights_sha256=file_sha256(folder / "model.safetensors"))(folder)


CORRUPT = {
    "no_version": _no_version,
    "nul_in_version": _meta_edit(version="projected-\x00abc"),
    "unknown_field": _meta_edit(colour="blue"),
    "huge_arch": _huge_arch,
    "resolution_2_30": _meta_edit(resolution=2**30),
    "truncated_same_version": _truncated_same_version,
    "nan_weights": _weights_edit(lambda v: v.fill_(float("nan"))),
    "inf_weights": _weights_edit(lambda v: v.fill_(float("inf"))),
    "zeroed_weights": _weights_edit(lambda v: v.zero_()),
}


@pytest.mark.parametrize("kind", sorted(CORRUPT))
@pytest.mark.parametrize("route", ["promote", "reload"])
async def test_a_corrupt_candidate_is_refused_leaves_nothing_and_the_old_model_serves(
    client, live, tmp_path, kind, route
):
    first = await _version(client)
    # The first promotion stores the shipped folder under its version name, so a candidate that
    # claims the same name cannot be mistaken for it.
    candidate = tmp_path / "candidate"
    shutil.copytree(live, candidate)
    CORRUPT[kind](candidate)
    store = VersionStore(live)
    store.adopt_live_folder()
    before = sorted(p.name for p in store.root.iterdir())
    field = "checkpoint" if route == "promote" else "path"
    r = await client.post(f"/v1/models/default/{route}", json={field: str(candidate)})
    body = await r.json()
    assert r.status == 422, body
    assert "keeps serving" in body["error"]["message"] and "\n" not in body["error"]["message"]
    assert await _version(client) == first
    assert sorted(p.name for p in store.root.iterdir()) == before
    assert (await client.post("/v1/generate", json={"seed": 1})).status == 200


async def test_a_folder_fixed_in_place_is_accepted_after_its_refusal(client, live, tmp_path):
    candidate = tmp_path / "candidate"
    _variant(live, candidate, 0.9)
    good = (candidate / "model.safetensors").read_bytes()
    _truncated_same_version(candidate)
    r = await client.post("/v1/models/default/promote", json={"checkpoint": str(candidate)})
    assert r.status == 422
    (candidate / "model.safetensors").write_bytes(good)
    from engine.checkpoint import file_sha256

    _meta_edit(weights_sha256=file_sha256(candidate / "model.safetensors"))(candidate)
    r = await client.post("/v1/models/default/promote", json={"checkpoint": str(candidate)})
    assert r.status == 200, await r.text()


async def test_a_stored_copy_is_reused_only_for_the_same_content(live, tmp_path):
    store = VersionStore(live)
    first = store.add(live)
    assert store.add(live) == first  # same files: the same copy
    other = tmp_path / "other"
    shutil.copytree(live, other)
    _meta_edit(parent="someone")(other)  # same weights and version name, other model.json
    second = store.add(other)
    assert second != first and second.rpartition(".")[0] == first.rpartition(".")[0]


async def test_a_pulled_default_is_adopted_by_promotion_and_served_after_a_restart(live, tmp_path):
    cfg = ServeConfig(
        models=(("default", str(live)),), jobs_dir=str(tmp_path / "jobs"), path_roots=(str(tmp_path.parent),)
    )
    async with TestClient(TestServer(EngineService(cfg).app())) as c:
        first = await _version(c)
        pulled = _variant(live, tmp_path / "pulled", 0.9)
        shutil.rmtree(live)
        shutil.copytree(tmp_path / "pulled", live)  # as `git pull` would, while the engine runs
        assert await _version(c) == first
        r = await c.post("/v1/models/default/promote", json={"checkpoint": str(live), "reason": "pulled"})
        assert r.status == 200 and (await r.json())["version"] == pulled
    async with TestClient(TestServer(EngineService(cfg).app())) as c:
        assert await _version(c) == pulled


def test_paths_state_in_the_settings_file_names_the_state_folder(tmp_path, monkeypatch):
    from engine.serve.cli import adopt_state_folder
    from engine.versions import STATE_ENV

    monkeypatch.setenv(STATE_ENV, "")  # recorded, so the variable the test sets is undone after it
    monkeypatch.delenv(STATE_ENV)
    (tmp_path / "config.toml").write_text(f'[paths]\nstate = "{tmp_path / "st"}"\n')
    adopt_state_folder(str(tmp_path / "config.toml"))
    store = VersionStore(tmp_path / "checkpoints" / "default")
    assert store.root.parent == tmp_path / "st" / "models"
