from bot.schedule.config import ScheduleConfig
from bot.schedule.gate import judge
from tests.bot.schedule.conftest import evaluation

CFG = ScheduleConfig(max_kid_worsening=0.10, attr_tolerance=0.01)


def test_a_better_challenger_within_margins_is_promoted():
    v = judge(evaluation(kid=(0.010, 0.0109), attr=(0.80, 0.795), pref=(0.4, 0.5)), CFG)
    assert v.promote and len(v.reasons) == 4


def test_kid_worse_than_the_margin_rejects():
    v = judge(evaluation(kid=(0.010, 0.0111)), CFG)
    assert not v.promote and "too much worse" in v.summary


def test_near_zero_kid_uses_an_absolute_floor():
    # 0.00001 -> 0.00002 is +100 % but far below the noise floor of KID: not a reason to reject.
    assert judge(evaluation(kid=(0.00001, 0.00002)), CFG).promote


def test_attribute_precision_drop_rejects():
    v = judge(evaluation(attr=(0.80, 0.78)), CFG)
    assert not v.promote and "dropped" in v.summary


def test_preference_must_improve_and_be_trusted():
    assert not judge(evaluation(pref=(0.5, 0.5)), CFG).promote
    v = judge(evaluation(trusted=False), CFG)
    assert not v.promote and "not trusted" in v.summary


def test_a_preference_gain_within_its_noise_is_rejected():
    # The mean rose, but the interval straddles zero: sampling noise could explain the rise.
    v = judge(evaluation(pref=(0.512, 0.540), ci=(-0.004, 0.060)), CFG)
    assert not v.promote
    assert v.reasons[3] == (
        "preference 0.512 -> 0.540 (gain +0.028, 95% CI -0.004..+0.060): "
        "not clearly improved (needs CI above +0.000)"
    )


def test_a_preference_gain_clearly_above_zero_is_promoted():
    v = judge(evaluation(pref=(0.512, 0.540), ci=(0.011, 0.046)), CFG)
    assert v.promote
    assert v.reasons[3] == "preference 0.512 -> 0.540 (gain +0.028, 95% CI +0.011..+0.046): improved"


def test_min_preference_gain_is_compared_with_the_lower_bound():
    strict = ScheduleConfig(min_preference_gain=0.02)
    assert not judge(
        evaluation(pref=(0.50, 0.55), ci=(0.015, 0.085)), strict
    ).promote  # mean +0.05, low +0.015
    assert judge(evaluation(pref=(0.50, 0.55), ci=(0.025, 0.075)), strict).promote


def test_an_evaluation_without_an_interval_is_rejected_not_crashed():
    old = evaluation(pref=(0.40, 0.90))
    for key in ("gain", "gain_low", "gain_high"):
        del old["preference"][key]  # an engine from before the interval
    v = judge(old, CFG)
    assert not v.promote and "no confidence interval" in v.reasons[3]
    old["preference"]["gain_low"] = "n/a"
    assert not judge(old, CFG).promote


def test_collapse_rejects_even_with_good_scores():
    v = judge(evaluation(diversity=(0.3, 0.01)), CFG)
    assert not v.promote and "collapsed" in v.summary


def test_missing_or_broken_evaluations_reject_with_a_reason():
    assert "no evaluation" in judge(None, CFG).summary
    nan = evaluation()
    nan["challenger"] = {"version": "v2", "finite": False}
    assert "not finite" in judge(nan, CFG).summary
    missing = evaluation()
    missing["challenger"]["kid"] = None  # NaN comes back from the engine as null
    assert not judge(missing, CFG).promote and "KID was not measured" in judge(missing, CFG).summary
