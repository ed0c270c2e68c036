import numpy as np
import pytest

from engine.errors import MascotError
from engine.features import effl0_features
from engine.metrics.fid import fid_from_features, frechet_distance
from tests.engine.metrics.conftest import blob_images, box_blur


def test_frechet_distance_of_gaussians_matches_the_closed_form():
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 2.0])
    s1, s2 = np.eye(3), 4 * np.eye(3)
    # |dmu|^2 + tr(S1 + S2 - 2 sqrt(S1 S2)) = 9 + (3 + 12 - 2 * 6) = 12
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(12.0)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-9)


def test_fid_effl0_is_larger_for_blurred_images_than_for_the_other_half():
    images = blob_images(160, 32, seed=2)
    real = effl0_features(images[:80], 64, progress=False)
    other = effl0_features(images[80:], 64, progress=False)
    blurred = effl0_features(box_blur(images[80:], 3), 64, progress=False)
    # The first 256 of the 1280 dimensions: same features, a sqrtm 100x cheaper on a busy CPU.
    real, other, blurred = real[:, :256], other[:, :256], blurred[:, :256]
    assert fid_from_features(real, blurred) > 1.5 * fid_from_features(real, other)


def test_fid_refuses_single_samples():
    with pytest.raises(MascotError, match="at least 2"):
        fid_from_features(np.zeros((1, 3)), np.zeros((5, 3)))
