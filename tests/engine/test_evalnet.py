import numpy as np
import pytest

from engine import evalnet as E
from engine.data.dataset import Dataset
from engine.errors import MascotError
from tests.toydata import make_toy_dataset


@pytest.fixture(autouse=True)
def metrics_cache(tmp_path, monkeypatch):
    """Every test gets its own empty cache: no test can pass because of another's files."""
    root = tmp_path / "cache"
    monkeypatch.setenv("MASCOT_CACHE", str(root))
    return root / "metrics"


FAST = E.EvalNetConfig(size=32, width=16, epochs=6, batch_size=32)  # the small net: seconds on CPU


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    # 150 toy images: 120 to train on, 30 held out (10 per hair colour).
    return Dataset(make_toy_dataset(tmp_path_factory.mktemp("d") / "toy150", n=150, seed=3))


@pytest.fixture(scope="module")
def trained(labelled):
    return E.train_evalnet(labelled, FAST, progress=False)


def test_classifier_reaches_95_percent_held_out_accuracy_per_attribute(trained):
    assert set(trained.accuracy) == {"hair", "smile"}
    assert all(acc >= 0.95 for acc in trained.accuracy.values()), trained.accuracy


def test_held_out_accuracy_ignores_unknown_labels(trained, labelled):
    labels = np.asarray(labelled.labels).copy()
    images = np.asarray(labelled.images)
    labels[:, 1] = -1  # smile unknown everywhere: nothing to score
    labels[: len(labels) // 2, 0] = -1
    acc = E.held_out_accuracy(trained, images, labels)
    assert acc["smile"] is None and acc["hair"] >= 0.95


def test_untrained_network_is_near_chance(labelled):
    untrained = E.TrainedEvalNet(E.EvalNet((3, 2), 32).eval(), labelled.schema, FAST, {}, "x")
    acc = E.held_out_accuracy(untrained, np.asarray(labelled.images), np.asarray(labelled.labels))
    assert acc["hair"] < 0.7  # the accuracy test above can fail


def test_domain_features_have_fixed_width_and_separate_classes(trained, labelled):
    feats = trained.features(np.asarray(labelled.images))
    hair = np.asarray(labelled.labels)[:, 0]
    assert feats.shape == (len(labelled), E.FEAT_DIM)
    centroids = np.stack([feats[hair == k].mean(0) for k in range(3)])
    within = np.mean([np.linalg.norm(feats[hair == k] - centroids[k], axis=1).mean() for k in range(3)])
    between = np.linalg.norm(centroids[0] - centroids[1])
    assert between > within


def test_cache_is_used_and_a_corrupt_cache_is_rebuilt(labelled, metrics_cache, monkeypatch):
    quick = E.EvalNetConfig(size=16, epochs=1, batch_size=32)
    first = E.get_evalnet(labelled, quick, progress=False)
    stem = next(metrics_cache.glob("evalnet-*.json")).with_suffix("")
    assert stem.with_suffix(".safetensors").stat().st_size < 2_000_000

    def no_training(*a, **k):
        raise AssertionError("retrained although cached")

    with monkeypatch.context() as patch:
        patch.setattr(E, "train_evalnet", no_training)
        again = E.get_evalnet(labelled, quick, progress=False)
    assert again.accuracy == first.accuracy
    stem.with_suffix(".safetensors").write_bytes(b"garbage")
    rebuilt = E.get_evalnet(labelled, quick, progress=False)
    assert E.load_evalnet(stem) is not None and rebuilt.features(np.asarray(labelled.images[:2])).shape == (
        2,
        128,
    )
    assert not list(metrics_cache.glob(".*"))  # no temp files left behind


def test_bad_config_and_unlabelled_data_are_refused(tmp_path):
    with pytest.raises(MascotError, match="holdout"):
        E.EvalNetConfig(holdout=0.9)
    ds = Dataset(make_toy_dataset(tmp_path / "few", n=6))
    with pytest.raises(MascotError, match="at least 10"):
        E.train_evalnet(ds, FAST, progress=False)


def test_probabilities_are_per_attribute_softmaxes_agreeing_with_predict(trained, labelled):
    images = np.asarray(labelled.images[:20])
    probs = trained.probabilities(images)
    assert [p.shape for p in probs] == [(20, 3), (20, 2)]
    assert all(np.allclose(p.sum(1), 1.0) for p in probs)
    assert np.array_equal(np.stack([p.argmax(1) for p in probs], 1), trained.predict(images))
    assert [p.shape for p in trained.probabilities(images[:0])] == [(0, 3), (0, 2)]


def test_a_shipped_tagger_loads_as_trained_and_a_changed_one_is_refused(trained, labelled, tmp_path):
    folder = E.export_tagger(trained, tmp_path / "tagger", data="toy")
    back = E.load_tagger(folder)
    images = np.asarray(labelled.images[:8])
    assert (
        np.array_equal(back.predict(images), trained.predict(images))
        and back.schema.names == trained.schema.names
    )
    weights = folder / "tagger.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(MascotError, match="hash"):
        E.load_tagger(folder)
    with pytest.raises(MascotError, match="no readable tagger"):
        E.load_tagger(tmp_path / "nowhere")
