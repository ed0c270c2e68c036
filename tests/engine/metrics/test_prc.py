import numpy as np
import pytest

from engine.errors import MascotError
from engine.metrics.prc import PRCOptions, precision_recall_coverage


@pytest.fixture(scope="module")
def cloud():
    return np.random.default_rng(0).normal(size=(300, 8))


def test_a_set_against_itself_has_precision_recall_coverage_one(cloud):
    r = precision_recall_coverage(cloud, cloud, k=5)
    assert r["precision"] == r["recall"] == r["coverage"] == 1.0
    assert r["density"] >= 1.0


def test_two_samples_of_one_distribution_score_high(cloud):
    other = np.random.default_rng(1).normal(size=(300, 8))
    r = precision_recall_coverage(cloud, other, k=5)
    assert r["precision"] > 0.8 and r["recall"] > 0.8 and r["coverage"] > 0.8


def test_shifted_set_scores_lower_and_lower_with_the_shift(cloud):
    rng = np.random.default_rng(2)
    near = precision_recall_coverage(cloud, rng.normal(size=(300, 8)) + 0.5, k=5)
    far = precision_recall_coverage(cloud, rng.normal(size=(300, 8)) + 2.0, k=5)
    assert far["precision"] < near["precision"] < 1.0
    assert far["recall"] < near["recall"] < 1.0
    assert far["coverage"] < near["coverage"]


def test_mode_collapse_keeps_precision_but_loses_recall(cloud):
    # As many samples as the real set, squeezed into its centre: faithful, not diverse.
    collapsed = np.random.default_rng(3).normal(size=(300, 8)) * 0.3
    r = precision_recall_coverage(cloud, collapsed, k=5)
    assert r["precision"] > 0.9
    assert r["recall"] < 0.2 and r["coverage"] < 0.8  # two fair samples: both > 0.8 (above)


def test_bad_k_and_too_few_points_are_refused(cloud):
    with pytest.raises(MascotError, match="nearest_k"):
        PRCOptions(nearest_k=0)
    with pytest.raises(MascotError, match="at least 6"):
        precision_recall_coverage(cloud, cloud[:3], k=5)
