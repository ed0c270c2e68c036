import pytest
import torch

from engine.errors import MascotError
from engine.upscale.model import Upscaler, UpscalerArch


def test_an_untrained_upscaler_is_exactly_bicubic_enlargement():
    model = Upscaler(UpscalerArch(channels=8, blocks=1)).eval()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    expected = torch.nn.functional.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False)
    assert torch.allclose(model(x), expected)


def test_each_image_is_upscaled_independently_of_its_batch_mates():
    model = Upscaler(UpscalerArch(channels=8, blocks=2))
    for p in model.parameters():  # move off the bicubic start, so the body matters
        p.data.add_(torch.randn_like(p) * 0.05)
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        together = model(x)
        alone = torch.cat([model(x[i : i + 1]) for i in range(3)])
    assert together.shape == (3, 3, 64, 64)
    assert torch.allclose(together, alone, atol=1e-5)


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_every_offered_scale_starts_as_bicubic_and_enlarges_by_that_much(scale):
    model = Upscaler(UpscalerArch(scale=scale, channels=8, blocks=1)).eval()
    x = torch.rand(1, 3, 8, 8) * 2 - 1
    expected = torch.nn.functional.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
    assert model(x).shape == (1, 3, 8 * scale, 8 * scale)
    assert torch.allclose(model(x), expected)


@pytest.mark.parametrize("scale", [3, 16])
def test_another_scale_is_refused_with_the_ones_allowed(scale):
    with pytest.raises(MascotError, match="2, 4 or 8"):
        UpscalerArch(scale=scale).validate()
