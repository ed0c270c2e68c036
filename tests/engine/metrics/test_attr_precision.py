import numpy as np
import pytest

from engine.data.dataset import Dataset, DatasetWriter
from engine.errors import MascotError
from engine.evalnet import EvalNetConfig
from engine.metrics import evaluate
from engine.metrics.attr_precision import asked_values, conditioned_requests
from engine.schema import Schema, choice
from tests.engine.metrics.conftest import ToyGenerator, fake_checkpoint
from tests.toydata import TOY_SCHEMA, make_toy_dataset

RUN = dict(
    metrics=["attr_precision"],
    samples=10,
    options={"attr_precision": {"per_value": 24}},
    progress=False,
    evalnet_config=EvalNetConfig(size=16, epochs=5, batch_size=32),
)


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    return Dataset(make_toy_dataset(tmp_path_factory.mktemp("d") / "toy150", n=150, seed=3))


@pytest.fixture(scope="module")
def results(labelled, tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MASCOT_CACHE", str(tmp_path_factory.mktemp("cache")))  # both runs share one classifier
        obey = evaluate(fake_checkpoint(ToyGenerator("obey")), labelled, **RUN)["metrics"]["attr_precision"]
        ignore = evaluate(fake_checkpoint(ToyGenerator("ignore")), labelled, **RUN)["metrics"][
            "attr_precision"
        ]
    return obey, ignore


def test_a_generator_that_obeys_its_conditioning_scores_near_one(results):
    obey, _ = results
    assert obey["mean"] > 0.95
    assert obey["per_attribute"]["hair"]["values"]["blue"] > 0.9


def test_a_generator_that_ignores_its_conditioning_scores_near_chance(results):
    _, ignore = results
    hair, smile = ignore["per_attribute"]["hair"], ignore["per_attribute"]["smile"]
    assert hair["chance"] == pytest.approx(1 / 3) and smile["chance"] == 0.5
    assert abs(hair["mean"] - 1 / 3) < 0.15 and abs(smile["mean"] - 0.5) < 0.15
    assert ignore["mean"] < 0.6


def test_report_carries_the_classifier_accuracy(results):
    obey, _ = results
    acc = obey["classifier"]["held_out_accuracy"]
    assert acc["hair"] >= 0.95 and obey["per_attribute"]["smile"]["classifier_accuracy"] == acc["smile"]
    assert obey["images"] == 24 * 5


def test_other_attributes_come_from_rows_that_have_the_fixed_value():
    labels = np.array([[0, -1], [1, 1], [2, 0], [-1, 1]], np.int16)
    reqs = conditioned_requests(TOY_SCHEMA.with_joint(labels), attr_i=1, value_i=1, n=60, seed=0)
    assert {r.attrs["smile"] for r in reqs} == {"yes"}
    assert {r.attrs.get("hair") for r in reqs} == {
        "green",
        None,
    }  # rows 1 and 3: never blue, where smile is no
    assert [r.seed for r in reqs] == list(range(60))


def test_a_checkpoint_with_another_schema_is_refused(labelled):
    other = Schema((choice("class", ["0", "1"]),))
    with pytest.raises(MascotError, match="share one attribute schema"):
        evaluate(fake_checkpoint(ToyGenerator("obey"), schema=other), labelled, **RUN)


def test_only_values_the_data_shows_are_asked_of_attributes_it_shows_two_of():
    labels = np.array([[0, 1], [2, 1], [0, 1], [-1, 1]], np.int16)  # red or blue hair; always a smile
    assert asked_values(TOY_SCHEMA, labels) == [(0, 0), (0, 2)]


def test_a_set_without_green_hair_or_frowns_is_judged_on_what_it_shows(tmp_path, monkeypatch):
    monkeypatch.setenv("MASCOT_CACHE", str(tmp_path / "cache"))
    full = Dataset(make_toy_dataset(tmp_path / "full", n=150, seed=3))
    keep = [i for i in range(len(full)) if full.labels[i, 0] != 1]  # no green hair
    with DatasetWriter(tmp_path / "part", resolution=32, schema=TOY_SCHEMA, capacity=len(keep)) as w:
        for i in keep:
            w.add(
                np.asarray(full.images[i]),
                {"hair": ["red", "green", "blue"][full.labels[i, 0]], "smile": "yes"},
            )
    run = {**RUN, "options": {"attr_precision": {"per_value": 8, "confident": 0.9}}}
    result = evaluate(fake_checkpoint(ToyGenerator("obey")), Dataset(tmp_path / "part"), **run)["metrics"]
    table = result["attr_precision"]
    assert set(table["per_attribute"]) == {"hair"}  # every render smiles: nothing to condition on
    assert set(table["per_attribute"]["hair"]["values"]) == {"red", "blue"}
    assert set(table["per_attribute"]["hair"]["under_threshold"]) == {"red", "blue"}
    assert table["images"] == 2 * 8
