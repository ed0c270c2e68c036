"""Precision, recall (Kynkäänniemi et al. 2019), density and coverage (Naeem et al. 2020).

Each set's manifold is the union of balls around its points, of radius the distance to
the k-th nearest neighbour in the same set. Precision: fraction of generated samples
inside the real manifold (fidelity). Recall: fraction of real samples inside the
generated manifold (diversity). Density counts how many real balls hold each generated
sample (robust to real outliers); coverage is the fraction of real balls holding at
least one generated sample (robust to generated outliers). In EfficientNet-Lite0 space.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.errors import MascotError
from engine.metrics.kid import check_features
from engine.metrics.registry import register_metric


@dataclass(frozen=True)
class PRCOptions:
    nearest_k: int = 5  # Naeem et al.'s recommended k for all four numbers
    max_points: int = 5000  # distances are N x N; beyond this, a fixed random subset

    def __post_init__(self) -> None:
        if self.nearest_k < 1:
            raise MascotError(f"prc nearest_k must be at least 1, got {self.nearest_k}")


def pairwise_distances(a: np.ndarray, b: np.ndarray, chunk: int = 1024) -> np.ndarray:
    ta, tb = torch.from_numpy(np.asarray(a, np.float64)), torch.from_numpy(np.asarray(b, np.float64))
    return torch.cat([torch.cdist(ta[s : s + chunk], tb) for s in range(0, len(ta), chunk)]).numpy()


def kth_neighbour_radii(features: np.ndarray, k: int) -> np.ndarray:
    """Distance of each point to its k-th nearest other point of the same set."""
    d = pairwise_distances(features, features)
    # Column 0 of the sorted row is the point itself (distance 0).
    return np.partition(d, k, axis=1)[:, k]


def manifold_hits(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict[str, np.ndarray]:
    """Per point: each generated sample's count of real balls holding it, each real sample's
    hit by the generated manifold, and each real ball's hit by its nearest generated sample."""
    check_features(real, fake, minimum=k + 1)
    real_r, fake_r = kth_neighbour_radii(real, k), kth_neighbour_radii(fake, k)
    d = pairwise_distances(real, fake)  # (n_real, n_fake)
    return {
        "real_balls_holding": (d <= real_r[:, None]).sum(axis=0),  # per generated sample
        "recalled": (d <= fake_r[None, :]).any(axis=1),  # per real sample
        # Coverage: the real ball's own k-NN radius, reached by the nearest fake sample.
        "covered": d.min(axis=1) <= real_r,  # per real sample
    }


def precision_recall_coverage(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict[str, float]:
    return summarise(manifold_hits(real, fake, k), k)


def summarise(hits: dict[str, np.ndarray], k: int) -> dict[str, float]:
    """The four figures from ``manifold_hits``."""
    return {
        "precision": float((hits["real_balls_holding"] > 0).mean()),
        "recall": float(hits["recalled"].mean()),
        "density": float(hits["real_balls_holding"].mean() / k),
        "coverage": float(hits["covered"].mean()),
    }


def by_group(
    real: np.ndarray, fake: np.ndarray, real_groups: np.ndarray, fake_groups: np.ndarray, k: int = 5
) -> dict[str, dict[str, float | int]]:
    """Precision and recall of the pooled sets split by group (a style): a group's precision is
    the share of its generated samples inside the whole real manifold, its recall the share of
    its real samples inside the whole generated manifold. The pooled figures are the means of
    these weighted by the group's counts, so a table shows which groups hold the pool back."""
    return split_by_group(manifold_hits(real, fake, k), real_groups, fake_groups)


def split_by_group(
    hits: dict[str, np.ndarray], real_groups: np.ndarray, fake_groups: np.ndarray
) -> dict[str, dict[str, float | int]]:
    """``by_group`` from hits already measured."""
    inside = hits["real_balls_holding"] > 0
    out: dict[str, dict[str, float | int]] = {}
    for group in sorted(set(real_groups.tolist()) | set(fake_groups.tolist())):
        mine_fake, mine_real = fake_groups == group, real_groups == group
        out[group] = {
            "precision": float(inside[mine_fake].mean()) if mine_fake.any() else float("nan"),
            "recall": float(hits["recalled"][mine_real].mean()) if mine_real.any() else float("nan"),
            "generated": int(mine_fake.sum()),
            "real": int(mine_real.sum()),
        }
    return out


def _subsample_rows(n: int, limit: int, seed: int) -> np.ndarray:
    return np.arange(n) if n <= limit else np.random.default_rng(seed).choice(n, limit, replace=False)


@register_metric(
    "prc",
    options=PRCOptions,
    headline="precision",
    better="higher",
    description="precision/recall (k-NN manifolds), density and coverage in EfficientNet-Lite0 space",
)
def prc(ctx, opts: PRCOptions) -> dict:
    real_all, fake_all = ctx.real_effl0(), ctx.gen_effl0()
    real_rows = _subsample_rows(len(real_all), opts.max_points, ctx.config.seed)
    fake_rows = _subsample_rows(len(fake_all), opts.max_points, ctx.config.seed)
    real, fake = real_all[real_rows], fake_all[fake_rows]
    hits = manifold_hits(real, fake, opts.nearest_k)  # the distances once, for the whole and the split
    result = {
        **summarise(hits, opts.nearest_k),
        "nearest_k": opts.nearest_k,
        "real": len(real),
        "generated": len(fake),
    }
    styles = ctx.real_styles(), ctx.gen_styles()
    if styles[0] is not None and styles[1] is not None and len(set(styles[0].tolist())) > 1:
        result["by_style"] = split_by_group(hits, styles[0][real_rows], styles[1][fake_rows])
    return result
