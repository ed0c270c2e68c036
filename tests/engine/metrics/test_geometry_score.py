import numpy as np
import pytest

from engine.errors import MascotError
from engine.metrics.geometry_score import (
    GSOptions,
    geometry_score,
    mean_rlt,
    plot_mrlt,
    relative_living_times,
)

# γ fixed at 5 % of the largest landmark distance: for a few hundred 2-D points the
# paper's N-scaled γ (1/128 · N/5000) stops the filtration before small rings close.
OPTS = GSOptions(landmarks=32, repetitions=8, gamma=0.05)


def circle(n, seed, centre=(0.0, 0.0)):
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, n)
    return np.c_[np.cos(t) + centre[0], np.sin(t) + centre[1]] + rng.normal(scale=0.01, size=(n, 2))


def test_relative_living_times_by_hand():
    # Over [0, 1]: one hole alive on [0, 0.5), two on [0.5, 0.75), one after (the infinite one).
    intervals = np.array([[0.0, np.inf], [0.5, 0.75]])
    rlt = relative_living_times(intervals, 1.0, i_max=5)
    assert rlt.tolist() == pytest.approx([0.0, 0.75, 0.25, 0.0, 0.0])
    assert relative_living_times(np.zeros((0, 2)), 1.0, 3).tolist() == [1.0, 0.0, 0.0]


def test_a_circle_has_one_hole_and_two_circles_two():
    one = mean_rlt(circle(600, 0), OPTS, seed=0)
    two = mean_rlt(np.r_[circle(300, 1), circle(300, 2, centre=(4.0, 0.0))], OPTS, seed=0)
    assert one.argmax() == 1 and two.argmax() == 2
    assert one.sum() == pytest.approx(1.0) and two.sum() == pytest.approx(1.0)


def test_geometry_score_separates_topologies():
    ring_a, ring_b = mean_rlt(circle(600, 3), OPTS, 0), mean_rlt(circle(600, 4), OPTS, 1)
    blob = mean_rlt(np.random.default_rng(5).normal(size=(600, 2)), OPTS, 2)
    assert geometry_score(ring_a, ring_b) < 0.1 * geometry_score(ring_a, blob)


def test_mrlt_plot_is_written(tmp_path):
    rlt = relative_living_times(np.array([[0.0, np.inf]]), 1.0, 10)
    plot_mrlt(rlt, rlt, tmp_path / "mrlt.png", 0.0)
    assert (tmp_path / "mrlt.png").stat().st_size > 1000


@pytest.mark.parametrize("last", [0, 5, 98, 99])
def test_mrlt_plot_takes_any_hole_count_up_to_the_last_bar(tmp_path, last):
    # An untrained generator's cloud keeps up to i_max - 1 holes alive: the plot once asked for
    # one bar more than the histogram has and lost the whole evaluation.
    real, fake = np.zeros(100), np.zeros(100)
    real[3], fake[last] = 1.0, 1.0
    plot_mrlt(real, fake, tmp_path / "mrlt.png", 2.0)
    plot_mrlt(real[:10], fake, tmp_path / "uneven.png", 2.0)
    assert (tmp_path / "mrlt.png").stat().st_size > 1000 and (tmp_path / "uneven.png").is_file()


def test_bad_settings_and_too_few_points_are_refused():
    with pytest.raises(MascotError, match="landmarks"):
        GSOptions(landmarks=2)
    with pytest.raises(MascotError, match="more than 32 points"):
        mean_rlt(np.zeros((10, 2)), OPTS)
