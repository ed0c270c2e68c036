"""Geometry Score (Khrulkov & Oseledets 2018): compare the topology of two point clouds.

For a point cloud X: pick L_0 random landmarks, build the witness complex with every
point as a witness (gudhi), and follow its 1-dimensional homology as the relaxation α
grows from 0 to α_max = γ · max landmark-witness distance. The relative living time
RLT(i) is the fraction of [0, α_max] during which exactly i one-dimensional holes exist;
averaging over n random landmark draws gives the MRLT, a distribution over i. The score
is the squared L2 distance between the real and generated MRLTs (lower is better).

Settings follow the paper's reference code: L_0 = 64, γ = 1/128 · N/5000, i_max = 100,
distances (not squared) in the landmark table, Z/2 coefficients. We run it on
EfficientNet-Lite0 features rather than raw pixels (the same space as KID), which is
documented in every report.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from engine.errors import MascotError
from engine.metrics.kid import check_features
from engine.metrics.registry import register_metric


@dataclass(frozen=True)
class GSOptions:
    landmarks: int = 64  # L_0
    gamma: float | None = None  # None: 1/128 · N/5000, N = points in the cloud
    i_max: int = 100
    repetitions: int = 100  # n random landmark draws per cloud

    def __post_init__(self) -> None:
        if self.landmarks < 3 or self.i_max < 2 or self.repetitions < 1:
            raise MascotError("geometry_score needs landmarks >= 3, i_max >= 2 and repetitions >= 1")
        if self.gamma is not None and not self.gamma > 0:
            raise MascotError(f"geometry_score gamma must be positive, got {self.gamma}")


def _gudhi():
    try:
        import gudhi
    except ImportError:
        raise MascotError("the Geometry Score needs gudhi: pip install gudhi") from None
    return gudhi


def relative_living_times(intervals: np.ndarray, alpha_max: float, i_max: int) -> np.ndarray:
    """RLT(i) for i < i_max: the fraction of [0, alpha_max] with exactly i intervals alive."""
    rlt = np.zeros(i_max)
    if len(intervals) == 0:
        rlt[0] = 1.0
        return rlt
    births = np.clip(intervals[:, 0], 0, alpha_max)
    deaths = np.clip(np.where(np.isinf(intervals[:, 1]), alpha_max, intervals[:, 1]), 0, alpha_max)
    cuts = np.unique(np.concatenate([[0.0, alpha_max], births, deaths]))
    for lo, hi in itertools.pairwise(cuts):
        mid = (lo + hi) / 2
        alive = int(((births <= mid) & (deaths > mid)).sum())
        if alive < i_max:  # more holes than i_max: outside the histogram, as in the reference
            rlt[alive] += hi - lo
    return rlt / alpha_max


def witness_rlt(points: np.ndarray, rng: np.random.Generator, opts: GSOptions) -> np.ndarray:
    """RLT of one random landmark draw."""
    from scipy.spatial.distance import cdist

    gudhi = _gudhi()
    landmarks = points[rng.choice(len(points), opts.landmarks, replace=False)]
    dist = cdist(points, landmarks)
    order = np.argsort(dist, axis=1)
    table = np.dstack([order, np.take_along_axis(dist, order, axis=1)])
    gamma = opts.gamma if opts.gamma is not None else 1.0 / 128 * len(points) / 5000
    alpha_max = float(dist.max() * gamma)
    tree = gudhi.WitnessComplex(nearest_landmark_table=table).create_simplex_tree(
        max_alpha_square=alpha_max, limit_dimension=2
    )
    tree.persistence(homology_coeff_field=2)
    return relative_living_times(
        np.asarray(tree.persistence_intervals_in_dimension(1)).reshape(-1, 2), alpha_max, opts.i_max
    )


def mean_rlt(
    points: np.ndarray, opts: GSOptions, seed: int = 0, desc: str = "MRLT", progress: bool = False
) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or len(points) <= opts.landmarks:
        raise MascotError(
            f"the Geometry Score needs more than {opts.landmarks} points (L_0); got {len(points)}"
        )
    rng = np.random.default_rng(seed)
    reps = tqdm(range(opts.repetitions), desc=desc, unit="rep", disable=not progress, leave=False)
    return np.mean([witness_rlt(points, rng, opts) for _ in reps], axis=0)


def geometry_score(mrlt_a: np.ndarray, mrlt_b: np.ndarray) -> float:
    return float(np.sum((mrlt_a - mrlt_b) ** 2))


def plot_mrlt(mrlt_real: np.ndarray, mrlt_fake: np.ndarray, path: Path, score: float) -> None:
    """MRLT of real and generated, side by side per number of holes (YuruGAN's Fig. 10)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    real, fake = _same_length(mrlt_real, mrlt_fake)
    used = np.nonzero((real > 1e-4) | (fake > 1e-4))[0]
    # One empty bar past the last used count, but never past the histogram (i_max bars): an
    # untrained generator's cloud can keep holes alive up to the last count.
    top = min(int(used.max()) + 2 if len(used) else 5, len(real))
    i = np.arange(top)
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.bar(i - 0.2, real[:top], 0.4, label="real")
    ax.bar(i + 0.2, fake[:top], 0.4, label="generated")
    ax.set_xlabel("number of 1-dimensional holes i")
    ax.set_ylabel("MRLT")
    ax.set_title(f"Mean relative living times (GS = {score:.4g})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _same_length(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = max(len(a), len(b), 1)
    return np.pad(a, (0, n - len(a))), np.pad(b, (0, n - len(b)))


@register_metric(
    "geometry_score",
    options=GSOptions,
    headline="gs",
    better="lower",
    description="Geometry Score (witness complexes, 1-d holes) in EfficientNet-Lite0 space",
)
def geometry_score_metric(ctx, opts: GSOptions) -> dict:
    real, fake = ctx.real_effl0(), ctx.gen_effl0()
    check_features(real, fake, minimum=opts.landmarks + 1)
    # Equal cloud sizes: γ scales with N, so unequal clouds would use different α ranges.
    n = min(len(real), len(fake))
    rng = np.random.default_rng(ctx.config.seed)
    real, fake = real[rng.choice(len(real), n, replace=False)], fake[rng.choice(len(fake), n, replace=False)]
    show = ctx.config.progress
    mrlt_real = mean_rlt(real, opts, ctx.config.seed, "MRLT real", show)
    mrlt_fake = mean_rlt(fake, opts, ctx.config.seed + 1, "MRLT generated", show)
    score = geometry_score(mrlt_real, mrlt_fake)
    out = {
        "gs": score,
        "points": n,
        "landmarks": opts.landmarks,
        "repetitions": opts.repetitions,
        "gamma": opts.gamma if opts.gamma is not None else n / 5000 / 128,
        "i_max": opts.i_max,
        "feature_space": "EfficientNet-Lite0 pooled",
        "mrlt_real": _trim(mrlt_real),
        "mrlt_generated": _trim(mrlt_fake),
    }
    if ctx.out_dir is not None:
        plot_mrlt(mrlt_real, mrlt_fake, ctx.out_dir / "mrlt.png", score)
        out["plot"] = "mrlt.png"
    return out


def _trim(mrlt: np.ndarray) -> list[float]:
    # The long tail of zeros says nothing; keep the report readable.
    used = np.nonzero(mrlt > 0)[0]
    return [round(float(v), 6) for v in mrlt[: int(used.max()) + 1 if len(used) else 1]]
