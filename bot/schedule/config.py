"""ScheduleConfig: config.toml's [schedule] section (curation, fine-tune and gate settings)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ScheduleConfig:
    enabled: bool = True
    cron: str = "0 3 * * *"
    timezone: str = "UTC"
    misfire_grace_s: int = (
        6 * 3600
    )  # a run missed by less than this (bot down, machine asleep) runs once on return
    model: str = "default"
    data: str = "data/dicebear-2k-64"  # the base data set, as a path on the engine
    # curation
    min_voters: int = 3
    min_liked_bound: float = 0.35  # Wilson lower bound of the up share needed to be curated (3 of 3 -> 0.44)
    min_disliked_bound: float = 0.35  # same for the down share, to be kept as a negative
    wilson_z: float = 1.96
    max_curated: int = 256
    min_curated: int = 8  # fewer liked images than this: no fine-tune tonight
    max_negatives: int = 256
    quota_factor: float = 3.0  # one attribute value may fill at most this many times its fair share (1/K)
    curated_share: float = 0.25  # cap on the curated share of each fine-tune batch (TrainConfig.extra_share)
    # fine-tune
    kimg: float = 10.0
    lr_g: float = 1e-4  # low: nudge the champion, don't retrain it
    lr_d: float = 1e-4
    freeze_d: int = 2  # FreezeD: D's lower blocks stay as the champion's
    batch: int = 32
    timeout_s: int = 3 * 3600  # the engine stops the job past this; the run records the failure
    poll_s: float = 5.0
    eval_samples: int = 500
    eval_feature_size: int = 224
    eval_per_value: int = 16
    eval_size: int = (
        0  # side the gate judges both models at: 0 = the model's own; 256/512 = as posted (upscale stage)
    )
    # gate
    max_kid_worsening: float = 0.10  # challenger KID may be at most 10 % above the champion's
    kid_floor: float = (
        1e-4  # KID near 0 makes a relative margin meaningless; below this the margin is absolute
    )
    attr_tolerance: float = 0.01  # attribute precision may drop by at most this
    min_diversity_ratio: float = (
        0.5  # samples' spread across seeds must keep half the champion's (no collapse)
    )
    min_preference_gain: float = 0.0  # the preference gain's 95 % interval must lie above this (lower bound)
    # announcements
    announce_channel: str = ""  # Discord channel id for promotions (empty: log only)

    @property
    def lease_ttl_s(self) -> float:
        # Longer than a run can last, so a live run never loses its lock; short enough that a crash frees it.
        return self.timeout_s + 1800

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides: Any) -> ScheduleConfig:
        file = Path(path or "config.toml")
        data: dict[str, Any] = {}
        if file.exists():
            with file.open("rb") as fh:
                data = tomllib.load(fh).get("schedule", {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"[schedule] has unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        cfg = replace(cls(**data), **{k: v for k, v in overrides.items() if v is not None})
        return cfg.validate()

    def validate(self) -> ScheduleConfig:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(self.cron, timezone=self.timezone)
        except (ValueError, LookupError) as exc:
            raise ValueError(
                f"[schedule] cron '{self.cron}' / timezone '{self.timezone}' is not valid: {exc}"
            ) from None
        if not 0 < self.curated_share <= 0.5:
            raise ValueError(
                f"[schedule] curated_share must be above 0 and at most 0.5, got {self.curated_share}"
            )
        if self.min_voters < 1 or self.max_curated < 1 or self.min_curated < 1:
            raise ValueError("[schedule] min_voters, max_curated and min_curated must be at least 1")
        if self.quota_factor < 1:
            raise ValueError(f"[schedule] quota_factor must be at least 1, got {self.quota_factor}")
        return self
