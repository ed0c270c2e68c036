import json

import numpy as np

from engine.checkpoint import load_checkpoint
from engine.curate.curated_set import build, main
from engine.data.dataset import Dataset
from tests.engine.curate.conftest import drawn, make_job, png_b64


def _item(seed, version, hair="blue", image=None):
    return {
        "id": f"g{seed}",
        "seed": seed,
        "attributes": {"hair": hair, "smile": "yes"},
        "version": version,
        "truncation": 1.0,
        "image": image,
    }


def test_champion_items_are_redrawn_exactly_and_retired_ones_come_from_their_png(
    tmp_path, tiny_checkpoint, toy_dataset
):
    version = load_checkpoint(tiny_checkpoint).version
    stored = np.zeros((32, 32, 3), np.uint8)
    stored[:, :, 2] = 200  # a retired version's picture: only the PNG the bot kept can give it back
    curated = [_item(1, version), _item(2, version, "red"), _item(3, "dcgan-retired", image=png_b64(stored))]
    job = make_job(tmp_path, tiny_checkpoint, toy_dataset, curated, [_item(4, version, "green")])
    result = build(job)
    assert result["sources"] == {"regenerated": 3, "stored_png": 1}
    ds = Dataset(job / "curated")
    assert len(ds) == 3
    assert np.array_equal(ds.images[0], drawn(tiny_checkpoint, 1, {"hair": "blue", "smile": "yes"}))
    assert np.array_equal(ds.images[2], stored)
    voted = Dataset(job / "voted")
    assert [t["liked"] for t in voted.tags()] == [1, 1, 1, 0]


def test_items_that_cannot_be_had_are_skipped_with_a_reason(tmp_path, tiny_checkpoint, toy_dataset):
    version = load_checkpoint(tiny_checkpoint).version
    job = make_job(tmp_path, tiny_checkpoint, toy_dataset, [_item(1, version), _item(2, "gone-version")], [])
    result = build(job)
    assert result["liked"] == 1
    assert "retired and no stored image" in result["skipped"][0]["why"]


def test_nothing_usable_fails_the_step_with_a_clear_message(tmp_path, tiny_checkpoint, toy_dataset, capsys):
    job = make_job(tmp_path, tiny_checkpoint, toy_dataset, [_item(1, "gone")], [])
    assert main([str(job)]) == 1
    assert "no curated image could be drawn" in capsys.readouterr().err
    assert not (job / "curated").exists()


def test_a_bad_png_is_skipped_not_a_crash(tmp_path, tiny_checkpoint, toy_dataset):
    version = load_checkpoint(tiny_checkpoint).version
    job = make_job(
        tmp_path, tiny_checkpoint, toy_dataset, [_item(1, version), _item(2, "old", image="bm90IGEgcG5n")], []
    )
    assert main([str(job)]) == 0
    result = json.loads((job / "results" / "curation.json").read_text())
    assert result["liked"] == 1 and "not a readable PNG" in result["skipped"][0]["why"]


def test_a_version_kept_in_the_engine_state_folder_is_redrawn(tmp_path, tiny_checkpoint, toy_dataset):
    from engine.versions import VersionStore
    from tests.engine.serve.test_versions import _variant

    retired = _variant(tiny_checkpoint, tmp_path / "retired", 0.9)
    store = VersionStore(tmp_path / "checkpoints" / "default", state=tmp_path / "state")
    store.add(tmp_path / "retired")
    item = _item(5, retired, image=png_b64(np.zeros((32, 32, 3), np.uint8)))
    job = make_job(tmp_path, tiny_checkpoint, toy_dataset, [item], [], versions=store.root)
    assert build(job)["sources"] == {"regenerated": 1}
    expected = drawn(tmp_path / "retired", 5, {"hair": "blue", "smile": "yes"})
    assert np.array_equal(Dataset(job / "curated").images[0], expected)
