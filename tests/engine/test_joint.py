import numpy as np
import pytest

from engine.joint import UNKNOWN, JointError, LabelJoint

# style (0 = plain, 1 = hatted), hat (0 = no, 1 = yes), hair (0 = red, 1 = blue; unknown under a hat)
LABELS = np.array([[0, 0, 0], [0, 0, 1], [1, 0, 0], [1, 1, UNKNOWN], [1, 1, UNKNOWN], [1, 1, 1]], np.int16)


def draws(joint: LabelJoint, given: dict[int, int], n: int = 400) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.stack([joint.draw_row(given, rng) for _ in range(n)])


def test_rows_drawn_agree_with_what_is_given():
    rows = draws(LabelJoint.from_labels(LABELS), {1: 1})
    assert set(rows[:, 0]) == {1}  # a hat only ever comes with the hatted style
    assert 0.55 < np.mean(rows[:, 2] == UNKNOWN) < 0.78  # two of the three hat rows hide the hair


def test_a_combination_the_data_never_shows_skips_that_constraint():
    rows = draws(LabelJoint.from_labels(LABELS), {0: 0, 1: 1})  # plain style with a hat: no such row
    assert set(rows[:, 0]) == {0} and set(rows[:, 1]) == {0}


def test_rows_are_drawn_by_their_weight():
    joint = LabelJoint(np.array([[0], [1]]), np.array([1.0, 3.0]))
    assert 0.7 < np.mean(draws(joint, {})[:, 0] == 1) < 0.8


def test_a_seed_draws_the_row_numpy_choice_draws_so_seeds_keep_their_attributes():
    rng = np.random.default_rng(7)
    labels = rng.integers(-1, 4, size=(500, 4))
    joint = LabelJoint.from_labels(labels)
    for given in ({}, {1: 2}, {0: 3, 2: 1}, {0: 0, 1: 0, 2: 0, 3: 0}):
        for _ in range(2):  # the second pass reads the cached cumulative weights
            for seed in range(300):
                candidates = np.ones(len(joint.rows), dtype=bool)
                for i, v in sorted(given.items()):
                    if (candidates & (joint.rows[:, i] == v)).any():
                        candidates &= joint.rows[:, i] == v
                p = joint.weights * candidates
                expected = joint.rows[np.random.default_rng(seed).choice(len(joint.rows), p=p / p.sum())]
                assert joint.draw_row(given, np.random.default_rng(seed)).tolist() == expected.tolist()


def test_mixing_weighs_each_table_by_its_share():
    a = LabelJoint(np.array([[0, 0]]), np.array([1.0]))
    b = LabelJoint(np.array([[0, 0], [1, 1]]), np.array([1.0, 1.0]))
    mixed = a.mixed(b, 0.25)
    assert mixed.rows.tolist() == [[0, 0], [1, 1]]
    assert mixed.weights.tolist() == pytest.approx([0.75 + 0.125, 0.125])


def test_json_round_trip_is_compact_and_exact_for_counts():
    joint = LabelJoint.from_labels(LABELS)
    stored = joint.to_json()
    assert stored["1.1.-"] == 2 and stored["0.0.0"] == 1
    again = LabelJoint.from_json(stored)
    assert again.rows.tolist() == joint.rows.tolist()
    assert again.weights == pytest.approx(joint.weights)


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"0.1": 1, "0.1.1": 1},
        {"0.x": 1},
        {"0.1": -1},
        {"0.1": float("nan")},
        {"0.1": "many"},
        {"0.99999": 1},
        {"0.-2": 1},
        [1, 2],
        "0.1",
    ],
)
def test_a_malformed_table_is_refused(bad):
    with pytest.raises(JointError):
        LabelJoint.from_json(bad)


def test_a_table_that_does_not_fit_the_schema_is_refused():
    joint = LabelJoint.from_labels(LABELS)
    joint.check_against([2, 2, 2])
    with pytest.raises(JointError, match="attributes"):
        joint.check_against([2, 2])
    with pytest.raises(JointError, match="value"):
        joint.check_against([2, 1, 2])
