import pytest

from bot.schedule.config import ScheduleConfig
from bot.schedule.curation import curate, value_caps, wilson_lower_bound

SIZES = {"hair": 3, "smile": 2}


def row(i, up, down, hair="blue", smile="yes"):
    return {
        "id": f"g{i}",
        "version": "v1",
        "seed": i,
        "attributes": {"hair": hair, "smile": smile},
        "truncation": 1.0,
        "up": up,
        "down": down,
        "voters": up + down,
    }


def test_wilson_bound_rewards_evidence_not_just_the_ratio():
    assert wilson_lower_bound(0, 0) == 0.0
    assert wilson_lower_bound(1, 1) < wilson_lower_bound(3, 3) < wilson_lower_bound(30, 32)
    assert wilson_lower_bound(3, 3) == pytest.approx(0.4385, abs=1e-4)
    assert wilson_lower_bound(30, 40) > wilson_lower_bound(3, 3)


def test_ranks_by_bound_and_needs_enough_distinct_voters():
    snap = [row(1, 2, 0), row(2, 3, 0, "red"), row(3, 10, 1, "green"), row(4, 2, 2)]
    c = curate(snap, ScheduleConfig(min_voters=3), SIZES)
    assert [p.generation for p in c.chosen] == ["g3", "g2"]
    assert "liked by 10 of 11" in c.chosen[0].why
    assert c.skipped == {"fewer than 3 voters": 1, "votes too mixed to call": 1}


def test_downvoted_images_are_kept_as_negatives():
    c = curate([row(1, 0, 5, "red"), row(2, 4, 0)], ScheduleConfig(), SIZES)
    assert [p.generation for p in c.negatives] == ["g1"] and "down-voted by 5 of 5" in c.negatives[0].why
    assert [p.generation for p in c.chosen] == ["g2"]


def test_a_popular_look_cannot_take_over_the_set():
    # 20 liked blue mascots and 4 liked red ones: blue may fill at most quota_factor/3 of the set.
    snap = [row(i, 9, 0, "blue") for i in range(20)] + [row(100 + i, 3, 0, "red") for i in range(4)]
    cfg = ScheduleConfig(quota_factor=1.5, max_curated=24)
    c = curate(snap, cfg, SIZES)
    hair = [p.attributes["hair"] for p in c.chosen]
    assert hair.count("blue") == value_caps(SIZES, 24, 1.5)["hair"] == 12
    assert hair.count("red") == 4  # lower-ranked, but admitted for diversity
    assert c.skipped["quota full: hair=blue"] == 8
    assert c.summary()["chosen_values"]["hair"] == {"blue": 12, "red": 4}


def test_binary_attributes_are_not_capped_below_all_when_the_factor_allows():
    assert value_caps({"smile": 2, "hair": 9}, 100, 3.0) == {"smile": 100, "hair": 34}


def test_max_curated_bounds_the_set():
    c = curate(
        [row(i, 5, 0, h) for i, h in enumerate(["red", "green", "blue"] * 5)],
        ScheduleConfig(max_curated=4),
        SIZES,
    )
    assert len(c.chosen) == 4 and c.skipped["beyond max_curated"] == 11
