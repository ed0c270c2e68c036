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


def precision_recall_coverage(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict[str, float]:
    check_features(real, fake, minimum=k + 1)
    real_r, fake_r = kth_neighbour_radii(real, k), kth_neighbour_radii(fake, k)
    d = pairwise_distances(real, fake)  # (n_real, n_fake)
    inside_real = d <= real_r[:, None]  # fake j inside real ball i
    return {
        "precision": float(inside_real.any(axis=0).mean()),
        "recall": float((d <= fake_r[None, :]).any(axis=1).mean()),
        "density": float(inside_real.sum(axis=0).mean() / k),
        # Coverage: the real ball's own k-NN radius, reached by the nearest fake sample.
        "coverage": float((d.min(axis=1) <= real_r).mean()),
    }


def _subsample(x: np.ndarray, n: int, seed: int) -> np.ndarray:
    return x if len(x) <= n else x[np.random.default_rng(seed).choice(len(x), n, replace=False)]


@register_metric(
    "prc",
    options=PRCOptions,
    headline="precision",
    better="higher",
    description="precision/recall (k-NN manifolds), density and coverage in EfficientNet-Lite0 space",
)
def prc(ctx, opts: PRCOptions) -> dict:
    real = _subsample(ctx.real_effl0(), opts.max_points, ctx.config.seed)
    fake = _subsample(ctx.gen_effl0(), opts.max_points, ctx.config.seed)
    return {
        **precision_recall_coverage(real, fake, opts.nearest_k),
        "nearest_k": opts.nearest_k,
        "real": len(real),
        "generated": len(fake),
    }
