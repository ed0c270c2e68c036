import numpy as np
import pytest

from engine.errors import MascotError
from engine.metrics.context import EvalConfig
from engine.metrics.prc import PRCOptions, by_group, prc, precision_recall_coverage


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


def two_styles(shift_b: float, n: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Real renders of styles a and b in two places; generated a where real a is, generated b
    ``shift_b`` away from real b."""
    rng = np.random.default_rng(4)
    real = np.concatenate([rng.normal(size=(n, 8)), rng.normal(size=(n, 8)) + 6.0])
    fake = np.concatenate([rng.normal(size=(n, 8)), rng.normal(size=(n, 8)) + 6.0 + shift_b])
    groups = np.array(["a"] * n + ["b"] * n)
    return real, fake, groups, groups.copy()


def test_the_style_drawn_off_the_real_manifold_is_the_one_that_reads_low():
    real, fake, real_groups, fake_groups = two_styles(shift_b=3.0)
    rows = by_group(real, fake, real_groups, fake_groups, k=5)
    assert rows["a"]["precision"] > 0.8 and rows["a"]["recall"] > 0.8
    assert rows["b"]["precision"] < 0.2 and rows["b"]["recall"] < 0.2
    assert rows["a"]["generated"] == rows["b"]["real"] == 200


def test_the_styles_pool_back_to_the_whole_figures():
    real, fake, real_groups, fake_groups = two_styles(shift_b=1.0)
    fake_groups[:50] = "c"  # a style only the generated side has
    whole = precision_recall_coverage(real, fake, k=5)
    rows = by_group(real, fake, real_groups, fake_groups, k=5)
    weighted = sum(r["precision"] * r["generated"] for r in rows.values()) / len(fake)
    assert weighted == pytest.approx(whole["precision"])
    recalled = sum(r["recall"] * r["real"] for r in rows.values() if r["real"]) / len(real)
    assert recalled == pytest.approx(whole["recall"])
    assert rows["c"]["real"] == 0 and np.isnan(rows["c"]["recall"])


class StubContext:
    """What ``prc`` reads from an evaluation: features, styles and the seed."""

    def __init__(self, real, fake, real_styles, fake_styles):
        self.config = EvalConfig(samples=len(fake))
        self._parts = real, fake, real_styles, fake_styles

    def real_effl0(self):
        return self._parts[0]

    def gen_effl0(self):
        return self._parts[1]

    def real_styles(self):
        return self._parts[2]

    def gen_styles(self):
        return self._parts[3]


def test_the_metric_breaks_precision_down_by_style_when_both_sides_have_one():
    real, fake, real_groups, fake_groups = two_styles(shift_b=3.0)
    result = prc(StubContext(real, fake, real_groups, fake_groups), PRCOptions())
    assert set(result["by_style"]) == {"a", "b"}
    assert result["by_style"]["b"]["precision"] < result["by_style"]["a"]["precision"]
    assert "by_style" not in prc(StubContext(real, fake, None, fake_groups), PRCOptions())
    one_style = np.array(["a"] * len(real))  # a set of one style: the split would repeat the whole
    assert "by_style" not in prc(StubContext(real, fake, one_style, fake_groups), PRCOptions())


def test_subsampled_sets_keep_each_point_with_its_style():
    real, fake, real_groups, fake_groups = two_styles(shift_b=3.0)
    result = prc(StubContext(real, fake, real_groups, fake_groups), PRCOptions(max_points=100))
    rows = result["by_style"]
    assert sum(r["real"] for r in rows.values()) == sum(r["generated"] for r in rows.values()) == 100
    # Were styles shuffled against the points, b's samples would land in a's manifold half the time.
    assert rows["a"]["precision"] > 0.6 and rows["b"]["precision"] < 0.2
