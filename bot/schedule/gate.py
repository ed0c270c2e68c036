"""Promote or keep: a pure function of the engine's evaluation and configured margins.

A challenger is promoted only if all hold:
  * its weights are finite and its metrics were measured;
  * KID against the base data is at most ``max_kid_worsening`` above the champion's
    (relative; absolute below ``kid_floor``, where a ratio of two near-zero KIDs is noise);
  * attribute precision has not dropped by more than ``attr_tolerance``;
  * its samples are not collapsed: their diversity (per-pixel spread across seeds) is at
    least ``min_diversity_ratio`` of the champion's;
  * the preference model beat guessing on held-out votes, and the preference gain is clear: the
    lower end of its 95 % bootstrap interval (paired over the samples) is above
    ``min_preference_gain``, so a gain that sampling noise could explain does not count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.schedule.config import ScheduleConfig


@dataclass(frozen=True)
class Verdict:
    promote: bool
    reasons: tuple[str, ...]  # every check, passed or not, in words

    @property
    def summary(self) -> str:
        return "; ".join(self.reasons)


def judge(evaluation: Mapping[str, Any] | None, cfg: ScheduleConfig) -> Verdict:
    if not evaluation:
        return Verdict(False, ("no evaluation came back from the engine",))
    champ, chall = evaluation.get("champion") or {}, evaluation.get("challenger") or {}
    if chall.get("finite") is False:
        return Verdict(False, ("the challenger's weights are not finite (NaN or inf)",))
    checks = [
        _kid(champ, chall, cfg),
        _attributes(champ, chall, cfg),
        _diversity(champ, chall, cfg),
        _preference(evaluation.get("preference") or {}, cfg),
    ]
    return Verdict(all(ok for ok, _ in checks), tuple(text for _, text in checks))


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _kid(champ: Mapping, chall: Mapping, cfg: ScheduleConfig) -> tuple[bool, str]:
    old, new = _number(champ.get("kid")), _number(chall.get("kid"))
    if old is None or new is None:
        return False, "KID was not measured"
    allowed = old + cfg.max_kid_worsening * max(abs(old), cfg.kid_floor)
    ok = new <= allowed
    change = (new - old) / max(abs(old), cfg.kid_floor) * 100
    return (
        ok,
        f"KID {old * 1000:.2f} -> {new * 1000:.2f} (x1000, {change:+.0f}%, "
        f"allowed +{cfg.max_kid_worsening:.0%}): {'ok' if ok else 'too much worse'}",
    )


def _attributes(champ: Mapping, chall: Mapping, cfg: ScheduleConfig) -> tuple[bool, str]:
    old, new = _number(champ.get("attr_precision")), _number(chall.get("attr_precision"))
    if old is None or new is None:
        return False, "attribute precision was not measured"
    ok = new >= old - cfg.attr_tolerance
    return ok, f"attribute precision {old:.3f} -> {new:.3f}: {'ok' if ok else 'dropped'}"


def _diversity(champ: Mapping, chall: Mapping, cfg: ScheduleConfig) -> tuple[bool, str]:
    old, new = _number(champ.get("diversity")), _number(chall.get("diversity"))
    if old is None or new is None:
        return False, "sample diversity was not measured"
    ok = new >= cfg.min_diversity_ratio * old
    return ok, f"diversity {old:.3f} -> {new:.3f}: {'ok' if ok else 'collapsed'}"


def _preference(pref: Mapping, cfg: ScheduleConfig) -> tuple[bool, str]:
    old, new = _number(pref.get("champion")), _number(pref.get("challenger"))
    if old is None or new is None:
        return False, f"preference check unavailable ({pref.get('why', 'no score')})"
    if not pref.get("trusted"):
        acc = _number(pref.get("held_out_accuracy")) or 0.0
        return False, f"preference model not trusted (held-out accuracy {acc:.2f} is no better than guessing)"
    low, high = _number(pref.get("gain_low")), _number(pref.get("gain_high"))
    if low is None or high is None:
        # An engine from before the interval: a bare rise in the mean is too noisy to promote on.
        return False, f"preference {old:.3f} -> {new:.3f} has no confidence interval (engine too old)"
    gain = _number(pref.get("gain"))
    gain = new - old if gain is None else gain
    ok = low > cfg.min_preference_gain
    verdict = "improved" if ok else f"not clearly improved (needs CI above {cfg.min_preference_gain:+.3f})"
    interval = f"gain {gain:+.3f}, 95% CI {low:+.3f}..{high:+.3f}"
    return ok, f"preference {old:.3f} -> {new:.3f} ({interval}): {verdict}"
