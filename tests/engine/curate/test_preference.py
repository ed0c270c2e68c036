import numpy as np
import pytest

from engine.curate.preference import fit_preference, sharpness, split
from engine.errors import MascotError


def _votes(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    liked = (x[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(int)  # voters like a high first feature
    return x, liked


def test_learns_a_taste_and_scores_liked_looks_higher():
    x, liked = _votes()
    model = fit_preference(x, liked)
    assert model.trusted and model.held_out_accuracy > 0.8
    high, low = np.zeros((1, 6)), np.zeros((1, 6))
    high[0, 0], low[0, 0] = 2.0, -2.0
    assert model.score(high)[0] > 0.8
    assert model.score(low)[0] < 0.2


def test_random_votes_are_not_trusted():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 50))
    liked = rng.integers(0, 2, 60)
    assert not fit_preference(x, liked).trusted


def test_needs_both_kinds_of_vote():
    with pytest.raises(MascotError, match="both liked and disliked"):
        fit_preference(np.zeros((5, 2)), np.ones(5))


def test_split_keeps_both_classes_in_the_held_out_part():
    train, test = split(np.array([1] * 10 + [0] * 3), 0.25, 0)
    labels = np.array([1] * 10 + [0] * 3)
    assert set(labels[test]) == {0, 1} and not set(train) & set(test)


def test_sharpness_is_lower_for_blurred_images():
    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 255, (2, 16, 16, 3)).astype(np.uint8)
    flat = np.full((2, 16, 16, 3), 128, np.uint8)
    assert (sharpness(sharp) > sharpness(flat)).all()
