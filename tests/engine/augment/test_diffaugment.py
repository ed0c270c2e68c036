import pytest
import torch

from engine.augment.diffaugment import diff_augment, rand_color, rand_cutout, rand_translation


def _shift(x: torch.Tensor, ty: int, tx: int) -> torch.Tensor:
    """Reference: shift content by (ty, tx) reading x[y + ty, x + tx], zero outside."""
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    for y in range(h):
        for xx in range(w):
            sy, sx = y + ty, xx + tx
            if 0 <= sy < h and 0 <= sx < w:
                out[..., y, xx] = x[..., sy, sx]
    return out


def test_empty_policy_is_identity():
    x = torch.randn(4, 3, 8, 8)
    assert torch.equal(diff_augment(x, ""), x)


def test_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="unknown DiffAugment"):
        diff_augment(torch.zeros(1, 3, 8, 8), "color,rotate")


def test_translation_is_an_integer_shift_with_zero_fill():
    torch.manual_seed(0)
    x = torch.arange(1, 2 * 3 * 8 * 8 + 1, dtype=torch.float32).view(2, 3, 8, 8)
    x = x.repeat(8, 1, 1, 1)
    y = rand_translation(x, ratio=0.25)
    shifts = set()
    for i in range(x.shape[0]):
        found = [
            (ty, tx) for ty in range(-2, 3) for tx in range(-2, 3) if torch.equal(_shift(x[i], ty, tx), y[i])
        ]
        assert found, f"sample {i} is not a shift of its input"
        shifts.add(found[0])
    assert len(shifts) > 1, "every sample got the same shift: parameters are not per sample"


def test_cutout_zeros_one_square_per_sample():
    torch.manual_seed(0)
    x = torch.ones(16, 3, 16, 16)
    y = rand_cutout(x, ratio=0.5)
    zeroed = (y == 0).all(dim=1)  # same mask on every channel
    assert ((y == 0) == zeroed.unsqueeze(1)).all()
    counts = zeroed.flatten(1).sum(1)
    assert (counts > 0).all() and (counts <= 64).all()
    for m in zeroed:
        rows, cols = m.any(1).nonzero().flatten(), m.any(0).nonzero().flatten()
        assert m[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all(), (
            "cut region is not a rectangle"
        )
    assert len({tuple(m.flatten().tolist()) for m in zeroed}) > 1, "every sample got the same cut"


def test_color_draws_per_sample_and_keeps_shape():
    torch.manual_seed(0)
    x = torch.zeros(8, 3, 4, 4).uniform_(-1, 1)
    x = x[:1].expand(8, -1, -1, -1).contiguous()
    y = rand_color(x)
    assert y.shape == x.shape
    assert not torch.allclose(y[0], y[1])


def test_gradients_flow_through_full_policy():
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    diff_augment(x).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0 and torch.isfinite(x.grad).all()
