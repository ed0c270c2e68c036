import json

import numpy as np
import pytest
from PIL import Image

from engine.errors import MascotError
from engine.metrics import evaluate
from engine.metrics.memorization import MemorizationOptions, memorization_stats
from tests.engine.metrics.conftest import CopyGenerator, ToyGenerator, blob_images, fake_checkpoint


def test_copies_of_training_points_are_flagged_and_fresh_samples_are_not():
    rng = np.random.default_rng(0)
    train = rng.normal(size=(400, 16))
    copies = train[rng.choice(400, 200)] + rng.normal(scale=1e-4, size=(200, 16))
    fresh = rng.normal(size=(200, 16))
    flagged, clean = memorization_stats(train, copies), memorization_stats(train, fresh)
    assert flagged["near_copy_fraction"] == 1.0 and flagged["frac_nearer_than_median_train_nn"] == 1.0
    assert clean["near_copy_fraction"] < 0.05 and clean["frac_nearer_than_median_train_nn"] < 0.7


def test_a_generator_that_returns_training_images_is_flagged_end_to_end(tmp_path, toy_dataset):
    from engine.data.dataset import Dataset, DatasetWriter
    from tests.toydata import TOY_SCHEMA

    # A varied training set (blobs), labelled with the toy schema so a checkpoint fits it.
    images = blob_images(60, 32, seed=7)
    with DatasetWriter(tmp_path / "blobs", resolution=32, schema=TOY_SCHEMA, capacity=60) as w:
        for img in images:
            w.add(img, {"hair": "red", "smile": "no"})
    ds = Dataset(tmp_path / "blobs")
    run = dict(metrics=["memorization"], samples=40, feature_size=64, progress=False)
    copier = evaluate(fake_checkpoint(CopyGenerator(images)), ds, out_dir=tmp_path / "copy", **run)
    novel = evaluate(fake_checkpoint(ToyGenerator("obey")), ds, **run)
    assert copier["metrics"]["memorization"]["near_copy_fraction"] == 1.0
    assert novel["metrics"]["memorization"]["near_copy_fraction"] == 0.0
    grid = Image.open(tmp_path / "copy" / "memorization.png")
    assert grid.size == (6 * 32 + 8, 8 * 32)  # generated | gap | 5 nearest, 8 rows
    assert json.loads((tmp_path / "copy" / "report.json").read_text())["samples"] == 40


def test_bad_copy_ratio_is_refused():
    with pytest.raises(MascotError, match="copy_ratio"):
        MemorizationOptions(copy_ratio=0)
