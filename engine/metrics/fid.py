"""FID-EffLite0: the Fréchet distance between Gaussians fitted to EfficientNet-Lite0 features.

Same formula as Heusel et al.'s FID, but NOT the Inception FID of the papers: numbers are
not comparable with theirs, so every report calls it "FID-EffLite0". FID is biased
upwards at small sample counts (and 1280-d covariances from ~2,000 samples are rank
deficient), so compare FIDs only at equal sample counts; KID is the primary metric.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from engine.features import EFFL0_NAME
from engine.metrics.kid import check_features
from engine.metrics.registry import register_metric


@dataclass(frozen=True)
class FIDOptions:
    pass


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^1/2)."""
    with warnings.catch_warnings():
        # With fewer samples than dimensions the covariances are singular; expected here.
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        # Near-singular product (few samples, many dimensions): regularise as pytorch-fid does.
        offset = np.eye(len(sigma1)) * 1e-6
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    covmean = np.real(covmean)  # tiny imaginary parts are numerical noise
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1 + sigma2 - 2 * covmean))


def fid_from_features(real: np.ndarray, fake: np.ndarray) -> float:
    check_features(real, fake, minimum=2)
    return frechet_distance(*gaussian_stats(real), *gaussian_stats(fake))


@register_metric(
    "fid_effl0",
    options=FIDOptions,
    headline="fid",
    better="lower",
    description=f"{EFFL0_NAME}: Fréchet distance on EfficientNet-Lite0 features (not Inception FID)",
)
def fid_effl0(ctx, opts: FIDOptions) -> dict:
    real, fake = ctx.real_effl0(), ctx.gen_effl0()
    return {
        "fid": fid_from_features(real, fake),
        "name": EFFL0_NAME,
        "image_size": ctx.config.feature_size,
        "real": len(real),
        "generated": len(fake),
    }
