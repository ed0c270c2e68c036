import pytest
import torch

from engine.errors import MascotError
from engine.translate.model import PatchDiscriminator, ResnetGenerator, TranslatorArch

ARCH = TranslatorArch(channels=8, blocks=2, disc_channels=8, disc_layers=2, resolution=16)


def test_the_generator_keeps_the_size_and_range_and_each_picture_is_its_own_batch():
    torch.manual_seed(0)
    G = ResnetGenerator(ARCH)
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        together = G(x)
        alone = torch.cat([G(x[i : i + 1]) for i in range(3)])
    assert together.shape == x.shape and together.abs().max() <= 1
    assert torch.allclose(together, alone, atol=1e-5)
    assert not torch.allclose(together[0], together[1], atol=1e-3)  # it does look at its input


def test_the_discriminator_scores_patches():
    D = PatchDiscriminator(ARCH)
    assert D(torch.zeros(2, 3, 16, 16)).shape == (2, 1, 2, 2)
    assert PatchDiscriminator(TranslatorArch())(torch.zeros(1, 3, 64, 64)).shape == (1, 1, 6, 6)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(channels=2), "channels must be 4..128"),
        (dict(disc_layers=5), "layers 1..4"),
        (dict(resolution=30), "multiple of 4"),
        (dict(resolution=16, disc_layers=3), "use at most 2"),
    ],
)
def test_impossible_architectures_are_refused_with_what_is_allowed(kw, match):
    with pytest.raises(MascotError, match=match):
        TranslatorArch(**kw).validate()
