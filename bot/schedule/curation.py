"""Which voted mascots a fine-tune learns from: pure functions over a vote snapshot.

Ranking uses the Wilson lower bound of the up share among distinct voters, so 3 of 3
likes ranks above 1 of 1 and 30 of 40 above 3 of 3 — a small sample has to earn its
place. A diversity quota keeps a popular look from taking over: no attribute value may
fill more than ``quota_factor`` times its fair share (1/K of the set for a K-valued
attribute). Clearly disliked mascots are kept as negatives for the preference model.
Every decision carries its reason, so a run's record says what it chose and why.
"""

from __future__ import annotations

import base64
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.schedule.config import ScheduleConfig


def wilson_lower_bound(positive: int, total: int, z: float = 1.96) -> float:
    """Lower end of the Wilson score interval for a proportion positive/total (0 when total is 0)."""
    if total <= 0:
        return 0.0
    p = positive / total
    centre = p + z * z / (2 * total)
    margin = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    return max(0.0, (centre - margin) / (1 + z * z / total))


@dataclass(frozen=True)
class Pick:
    generation: str
    version: str
    seed: int
    attributes: dict[str, str]
    truncation: float
    up: int
    down: int
    voters: int
    bound: float
    why: str
    latent: dict[str, Any] | None = (
        None  # a variation's or a fusion's recipe: its seed alone draws another picture
    )


@dataclass(frozen=True)
class Curation:
    chosen: tuple[Pick, ...]
    negatives: tuple[Pick, ...]
    skipped: Mapping[str, int]  # reason -> how many
    caps: Mapping[str, int] = field(default_factory=dict)  # attribute -> most images one value may fill

    def summary(self) -> dict[str, Any]:
        return {
            "chosen": [p.__dict__ for p in self.chosen],
            "negatives": [p.__dict__ for p in self.negatives],
            "skipped": dict(self.skipped),
            "caps": dict(self.caps),
            "chosen_values": value_counts(self.chosen),
        }


def item(pick: Pick, image: bytes | None) -> dict[str, Any]:
    """One curated or negative image as the fine-tune request carries it (``image``: its stored PNG)."""
    out = {
        "id": pick.generation,
        "seed": pick.seed,
        "attributes": pick.attributes,
        "version": pick.version,
        "truncation": pick.truncation,
    }
    if pick.latent:
        out["latent"] = pick.latent
    if image is not None:
        out["image"] = base64.b64encode(image).decode()
    return out


def value_counts(picks: Sequence[Pick]) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter] = {}
    for p in picks:
        for name, value in p.attributes.items():
            counts.setdefault(name, Counter())[value] += 1
    return {name: dict(c.most_common()) for name, c in counts.items()}


def _pick(row: Mapping[str, Any], bound: float, why: str) -> Pick:
    return Pick(
        row["id"],
        row["version"],
        int(row["seed"]),
        dict(row["attributes"]),
        float(row["truncation"]),
        int(row["up"]),
        int(row["down"]),
        int(row["voters"]),
        round(bound, 4),
        why,
        row.get("latent"),
    )


def value_caps(sizes: Mapping[str, int], target: int, quota_factor: float) -> dict[str, int]:
    """Most images one value of each attribute may fill in a set of ``target``."""
    return {name: max(1, math.ceil(target * min(1.0, quota_factor / max(k, 1)))) for name, k in sizes.items()}


def curate(snapshot: Sequence[Mapping[str, Any]], cfg: ScheduleConfig, sizes: Mapping[str, int]) -> Curation:
    """Liked picks under quotas, and negatives, from per-generation vote counts.

    ``sizes``: number of values of each attribute (from the model's schema)."""
    skipped: Counter = Counter()
    liked, disliked = [], []
    for row in snapshot:
        n = int(row["voters"])
        if n < cfg.min_voters:
            skipped[f"fewer than {cfg.min_voters} voters"] += 1
            continue
        up_bound = wilson_lower_bound(int(row["up"]), n, cfg.wilson_z)
        down_bound = wilson_lower_bound(int(row["down"]), n, cfg.wilson_z)
        if up_bound >= cfg.min_liked_bound:
            liked.append((up_bound, row))
        elif down_bound >= cfg.min_disliked_bound:
            disliked.append((down_bound, row))
        else:
            skipped["votes too mixed to call"] += 1
    chosen, caps = _fill_with_quotas(liked, cfg, sizes, skipped)
    disliked.sort(key=lambda t: (-t[0], t[1]["id"]))
    negatives = tuple(
        _pick(r, b, f"down-voted by {r['down']} of {r['voters']} (Wilson {b:.2f})")
        for b, r in disliked[: cfg.max_negatives]
    )
    if len(disliked) > cfg.max_negatives:
        skipped["beyond max_negatives"] += len(disliked) - cfg.max_negatives
    return Curation(tuple(chosen), negatives, dict(skipped), caps)


def _fill_with_quotas(
    liked: list, cfg: ScheduleConfig, sizes: Mapping[str, int], skipped: Counter
) -> tuple[list[Pick], dict[str, int]]:
    liked.sort(key=lambda t: (-t[0], -int(t[1]["voters"]), t[1]["id"]))  # ties: more voters, then stable
    target = min(cfg.max_curated, len(liked))
    caps = value_caps(sizes, target, cfg.quota_factor)
    used: Counter = Counter()
    chosen: list[Pick] = []
    for bound, row in liked:
        if len(chosen) >= cfg.max_curated:
            skipped["beyond max_curated"] += 1
            continue
        full = [f"{a}={v}" for a, v in row["attributes"].items() if a in caps and used[(a, v)] >= caps[a]]
        if full:
            skipped[f"quota full: {full[0]}"] += 1
            continue
        used.update(row["attributes"].items())
        chosen.append(_pick(row, bound, f"liked by {row['up']} of {row['voters']} (Wilson {bound:.2f})"))
    return chosen, caps
