"""The preference gain and its paired bootstrap interval (the gate promotes on the interval's lower end)."""

from types import SimpleNamespace

import numpy as np
import pytest

from engine.curate import compare
from engine.curate.compare import paired_bootstrap


def test_gain_is_the_mean_difference_and_the_interval_is_reproducible():
    rng = np.random.default_rng(0)
    old, new = rng.uniform(0, 1, 300), rng.uniform(0, 1, 300)
    gain, low, high = paired_bootstrap(old, new)
    assert gain == pytest.approx(new.mean() - old.mean())
    assert low < gain < high
    assert paired_bootstrap(old, new) == (gain, low, high)  # fixed seed: same scores, same interval


def test_pairing_cancels_what_a_seed_does_to_both_models():
    # Scores vary a lot from seed to seed, but the challenger is a little better on every one:
    # paired, that is a clear gain; resampling the two models apart would call it noise.
    rng = np.random.default_rng(1)
    old = rng.uniform(0, 1, 200)
    new = old + 0.01 + rng.normal(0, 0.005, 200)
    gain, low, high = paired_bootstrap(old, new)
    assert 0 < low < gain < high < 0.02
    pick = np.random.default_rng(2).integers(0, 200, (1000, 2, 200))
    unpaired = new[pick[:, 1]].mean(1) - old[pick[:, 0]].mean(1)
    assert np.percentile(unpaired, 2.5) < 0  # the same gain, unpaired, straddles zero


def test_no_real_difference_gives_an_interval_around_zero():
    rng = np.random.default_rng(3)
    old, new = rng.uniform(0, 1, 100), rng.uniform(0, 1, 100)
    _, low, high = paired_bootstrap(old, new)
    assert low < 0 < high
    assert paired_bootstrap(old, old) == (0.0, 0.0, 0.0)


def test_score_lists_must_pair_up():
    with pytest.raises(ValueError, match="equally long"):
        paired_bootstrap(np.zeros(5), np.zeros(6))
    with pytest.raises(ValueError, match="equally long"):
        paired_bootstrap(np.zeros(0), np.zeros(0))


def test_preference_check_reports_the_gain_and_its_interval(monkeypatch):
    # Voters like a high first feature; the challenger draws every seed's sample with more of it.
    rng = np.random.default_rng(4)
    voted_x = rng.normal(size=(200, 2))
    voted = SimpleNamespace(images=voted_x, tags=lambda: [{"liked": int(x > 0)} for x in voted_x[:, 0]])
    base = rng.normal(size=(64, 2))
    drawn = {"champion": base, "challenger": base + np.array([0.5, 0.0])}
    monkeypatch.setattr(compare, "prior_samples", lambda ck, n, seed: drawn[ck])
    pref = compare.preference_check("champion", "challenger", voted, np.asarray, 64, 0)
    assert pref["trusted"]
    assert pref["gain"] == pytest.approx(pref["challenger"] - pref["champion"])
    assert 0 < pref["gain_low"] < pref["gain"] < pref["gain_high"]


def test_an_unfittable_preference_model_reports_no_gain():
    voted = SimpleNamespace(images=np.zeros((4, 2)), tags=lambda: [{"liked": 1}] * 4)  # no dislikes
    pref = compare.preference_check(None, None, voted, lambda x: x, 8, 0)
    assert not pref["trusted"] and "both liked and disliked" in pref["why"]
    assert pref["gain"] is None and pref["gain_low"] is None and pref["gain_high"] is None
