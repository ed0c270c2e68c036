import numpy as np
import pytest

from engine.errors import MascotError
from engine.features import effl0_features
from engine.metrics.kid import kernel_distance
from tests.engine.metrics.conftest import blob_images, box_blur, colour_shift

SIZE = 64  # EffLite0 input size for the tests: small images, fast


@pytest.fixture(scope="module")
def halves():
    images = blob_images(160, 32, seed=1)
    return images[:80], images[80:]


@pytest.fixture(scope="module")
def real_features(halves):
    return effl0_features(halves[0], SIZE, progress=False)


def test_unbiased_kid_of_same_distribution_is_near_zero_on_gaussians():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    shifted = rng.normal(size=(400, 16)) + 0.5
    same, diff = kernel_distance(a, b, 20, 200), kernel_distance(a, shifted, 20, 200)
    assert abs(same) < 0.02 * diff
    assert diff > 0.1


def test_kid_of_a_real_set_against_its_other_half_is_near_zero(halves, real_features):
    other = effl0_features(halves[1], SIZE, progress=False)
    blurred = effl0_features(box_blur(halves[1], 2), SIZE, progress=False)
    same = kernel_distance(real_features, other, 50, 80)
    damaged = kernel_distance(real_features, blurred, 50, 80)
    assert abs(same) < 0.1 * damaged


def test_kid_grows_with_blur(halves, real_features):
    kids = [
        kernel_distance(real_features, effl0_features(box_blur(halves[1], r), SIZE, progress=False), 50, 80)
        for r in (0, 1, 3)
    ]
    assert kids[0] < kids[1] < kids[2]


def test_kid_grows_with_colour_shift(halves, real_features):
    kids = [
        kernel_distance(
            real_features, effl0_features(colour_shift(halves[1], s), SIZE, progress=False), 50, 80
        )
        for s in (0, 40, 100)
    ]
    assert kids[0] < kids[1] < kids[2]
    assert kids[2] > 10 * abs(kids[0])


def test_domain_standardising_drops_dimensions_dead_on_the_real_set():
    """A ReLU unit that never fires on real images but fires faintly on one fake must not
    turn the KID into a huge number (divided by a spread of zero)."""
    from engine.metrics.kid import standardise_by

    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    real[:, 3] = 0.0  # dead on the real set
    fake[:, 3] = 0.0
    fake[0, 3] = 1e-3
    r, f = standardise_by(real, fake)
    assert r.shape == f.shape == (400, 7)
    assert abs(kernel_distance(r, f, num_subsets=20, max_subset_size=200)) < 0.05


def test_kid_refuses_mismatched_or_tiny_feature_sets():
    with pytest.raises(MascotError, match="one D"):
        kernel_distance(np.zeros((10, 4)), np.zeros((10, 5)))
    with pytest.raises(MascotError, match="at least 2"):
        kernel_distance(np.zeros((1, 4)), np.zeros((10, 4)))
