import torch

from engine.upscale.degrade import Degradations, degrade, gaussian_blur


def test_degradations_are_reproducible_from_the_seed_and_change_the_images():
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    a = degrade(x, torch.Generator().manual_seed(3), Degradations(p_clean=0.0))
    b = degrade(x, torch.Generator().manual_seed(3), Degradations(p_clean=0.0))
    assert torch.equal(a, b)
    assert a.shape == x.shape and a.min() >= -1 and a.max() <= 1
    assert (a - x).abs().mean(dim=(1, 2, 3)).min() > 0.005  # every image was degraded


def test_clean_share_leaves_images_as_they_were():
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    assert torch.equal(degrade(x, torch.Generator().manual_seed(0), Degradations(p_clean=1.0)), x)


def test_blur_keeps_flat_regions_and_softens_an_edge():
    x = -torch.ones(1, 3, 16, 16)
    x[..., 8:] = 1
    y = gaussian_blur(x, torch.tensor([1.0]))
    assert torch.allclose(y[..., :, :4], x[..., :, :4], atol=1e-4)  # far from the edge: unchanged
    assert -1 < y[0, 0, 0, 7] < 0 < y[0, 0, 0, 8] < 1  # at the edge: a ramp
