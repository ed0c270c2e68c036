"""Kernel Inception Distance, on EfficientNet-Lite0 features and on EvalNet's domain features.

KID (Bińkowski et al. 2018) is the unbiased estimate of the squared MMD with the cubic
polynomial kernel k(x, y) = (x·y / d + 1)^3, averaged over random subsets. Unlike FID it
has no bias that depends on the sample count, which is why it is the primary metric for
our small sets. Same estimator as stylegan2-ada's metrics/kernel_inception_distance.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.errors import MascotError
from engine.features import EFFL0_NAME
from engine.metrics.registry import register_metric


@dataclass(frozen=True)
class KIDOptions:
    num_subsets: int = 100
    max_subset_size: int = 1000


def kernel_distance(
    real: np.ndarray, fake: np.ndarray, num_subsets: int = 100, max_subset_size: int = 1000, seed: int = 0
) -> float:
    """Unbiased MMD^2 (cubic polynomial kernel) averaged over ``num_subsets`` subsets."""
    check_features(real, fake, minimum=2)
    d = real.shape[1]
    m = min(len(real), len(fake), max_subset_size)
    rng = np.random.default_rng(seed)
    total = 0.0
    for _ in range(num_subsets):
        x = fake[rng.choice(len(fake), m, replace=False)]
        y = real[rng.choice(len(real), m, replace=False)]
        within = (x @ x.T / d + 1) ** 3 + (y @ y.T / d + 1) ** 3
        across = (x @ y.T / d + 1) ** 3
        # Leave out the diagonals: k(x, x) terms are what makes the plain estimate biased.
        total += (within.sum() - np.diag(within).sum()) / (m - 1) - across.sum() * 2 / m
    return float(total / num_subsets / m)


def check_features(real: np.ndarray, fake: np.ndarray, minimum: int) -> None:
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise MascotError(f"feature sets must be (N, D) with one D; got {real.shape} and {fake.shape}")
    if min(len(real), len(fake)) < minimum:
        raise MascotError(
            f"this metric needs at least {minimum} real and {minimum} generated samples; "
            f"got {len(real)} real and {len(fake)} generated"
        )


@register_metric(
    "kid_effl0",
    options=KIDOptions,
    headline="kid",
    better="lower",
    description=f"KID on EfficientNet-Lite0 pooled features ({EFFL0_NAME} space)",
)
def kid_effl0(ctx, opts: KIDOptions) -> dict:
    real, fake = ctx.real_effl0(), ctx.gen_effl0()
    kid = kernel_distance(real, fake, opts.num_subsets, opts.max_subset_size, ctx.config.seed)
    return {
        "kid": kid,
        "kid_x1000": kid * 1000,
        "feature_space": "EfficientNet-Lite0 pooled (1280-d)",
        "image_size": ctx.config.feature_size,
        "real": len(real),
        "generated": len(fake),
    }


DEAD_SPREAD = 1e-3  # a dimension whose real spread is below this share of the median is dead


def standardise_by(real: np.ndarray, fake: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale both sets by the real set's per-dimension mean and spread.

    EvalNet's ReLU features have no fixed scale (it depends on training), and the cubic
    kernel would turn that scale into huge, incomparable numbers; in units of the real
    data's own spread, domain KIDs are comparable across EvalNet rebuilds and data sets.
    Dimensions that do not vary over the real set (dead ReLUs: 46 of 128 in one rebuild)
    are dropped: they say nothing about the real images, and a fake that stirred one would
    be divided by a spread of zero (that rebuild read KID -1.08 for the shipped model).
    """
    sd = real.std(axis=0)
    live = sd > DEAD_SPREAD * np.median(sd)
    mu, sd = real.mean(axis=0)[live], sd[live]
    return (real[:, live] - mu) / sd, (fake[:, live] - mu) / sd


@register_metric(
    "kid_domain",
    options=KIDOptions,
    headline="kid",
    better="lower",
    description="KID on EvalNet's penultimate features (trained on the labelled data; unseen by any D)",
)
def kid_domain(ctx, opts: KIDOptions) -> dict:
    real, fake = standardise_by(ctx.real_domain(), ctx.gen_domain())
    kid = kernel_distance(real, fake, opts.num_subsets, opts.max_subset_size, ctx.config.seed)
    return {
        "kid": kid,
        "kid_x1000": kid * 1000,
        "feature_space": f"EvalNet penultimate ({real.shape[1]}-d)",
        "real": len(real),
        "generated": len(fake),
    }
