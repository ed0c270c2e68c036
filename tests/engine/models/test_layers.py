import math

import pytest
import torch
import torch.nn.functional as F

from engine.models.layers import (
    ConditionalBatchNorm2d,
    DBlock,
    FewColourHead,
    GBlock,
    PaletteHead,
    SelfAttention,
    attribute_cross_entropy,
    attribute_spans,
    chance_balanced_weights,
    freeze_first,
    sn_conv2d,
    sn_linear,
)


def test_spectral_norm_bounds_the_largest_singular_value():
    torch.manual_seed(0)
    lin = sn_linear(32, 16)
    for _ in range(30):  # power iteration converges over training-mode calls
        lin(torch.randn(2, 32))
    lin.eval()
    assert torch.linalg.matrix_norm(lin.weight, ord=2).item() == pytest.approx(1.0, abs=0.02)
    plain = sn_conv2d(3, 8, sn=False)
    assert isinstance(plain, torch.nn.Conv2d) and plain.padding == (1, 1)


def test_conditional_bn_gain_and_bias_follow_condition():
    torch.manual_seed(0)
    cbn = ConditionalBatchNorm2d(4, cond_dim=3)
    x = torch.randn(8, 4, 5, 5)
    zero = cbn(x, torch.zeros(8, 3))  # an all-zero condition (unknown labels) is plain BN
    torch.testing.assert_close(zero, F.batch_norm(x, None, None, training=True), atol=1e-5, rtol=0)
    y = torch.eye(3)[torch.tensor([0, 1] * 4)]
    out = cbn(x, y)
    assert (out[0] - zero[0]).abs().max() > 1e-3
    # the same sample under two conditions differs only by a per-channel affine map
    gain = 1 + cbn.gain(y)
    torch.testing.assert_close(out, zero * gain[:, :, None, None] + cbn.bias(y)[:, :, None, None])


def test_self_attention_is_identity_at_init_and_non_local_once_gated():
    attn = SelfAttention(16)
    x = torch.randn(1, 16, 8, 8)
    torch.testing.assert_close(attn(x), x)
    with torch.no_grad():
        attn.gamma.fill_(1.0)
    x2 = x.clone()
    x2[0, :, 7, 7] += 5.0  # a far corner...
    assert (attn(x)[0, :, 0, 0] - attn(x2)[0, :, 0, 0]).abs().max() > 1e-4  # ...reaches the opposite one


def test_gblock_upsamples_and_dblock_downsamples():
    g = GBlock(8, 4, cond_dim=5)
    assert g(torch.randn(2, 8, 4, 4), torch.randn(2, 5)).shape == (2, 4, 8, 8)
    assert GBlock(8, 8, 5, upsample=False)(torch.randn(2, 8, 4, 4), torch.randn(2, 5)).shape == (2, 8, 4, 4)
    d = DBlock(3, 8, preactivation=False)
    assert d(torch.randn(2, 3, 8, 8)).shape == (2, 8, 4, 4)
    same = DBlock(8, 8, sn=False, downsample=False, leak=0.2)
    assert isinstance(same.skip, torch.nn.Identity)
    assert same(torch.randn(2, 8, 4, 4)).shape == (2, 8, 4, 4)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in d.modules())


def test_attribute_spans():
    assert attribute_spans(3, ()) == [(0, 1), (1, 2), (2, 3)]
    assert attribute_spans(5, (3, 2)) == [(0, 3), (3, 5)]
    with pytest.raises(ValueError):
        attribute_spans(6, (3, 2))


def test_attribute_cross_entropy_is_per_block_and_skips_unknown():
    spans = [(0, 3), (3, 5)]
    logits = torch.randn(2, 5)
    c = torch.tensor([[0.0, 1, 0, 0, 0], [1.0, 0, 0, 0, 1]])  # sample 0's flag is unknown
    expected = F.cross_entropy(logits[:, :3], torch.tensor([1, 0])) + F.cross_entropy(
        logits[1:, 3:], torch.tensor([1])
    )
    torch.testing.assert_close(attribute_cross_entropy(logits, c, spans), expected)
    # the unknown block's logits get no gradient
    logits.requires_grad_(True)
    attribute_cross_entropy(logits, c, spans).backward()
    assert logits.grad[0, 3:].abs().sum() == 0 and logits.grad[1, 3:].abs().sum() > 0
    # a batch where nothing is known gives zero loss, not NaN
    assert attribute_cross_entropy(torch.randn(2, 5), torch.zeros(2, 5), spans).item() == 0.0
    # independent binary labels
    bce = attribute_cross_entropy(logits.detach(), c, attribute_spans(5, ()))
    torch.testing.assert_close(
        bce, F.binary_cross_entropy_with_logits(logits.detach(), c, reduction="none").mean(0).sum()
    )


def test_freeze_first_stops_gradients_of_first_blocks_only():
    blocks = torch.nn.ModuleList([torch.nn.Linear(2, 2) for _ in range(3)])
    freeze_first(blocks, 2)
    assert [all(not p.requires_grad for p in b.parameters()) for b in blocks] == [True, True, False]


def test_balanced_attribute_cross_entropy_scores_every_attribute_one_at_chance():
    # Hair with 9 values, a 6-valued choice and a flag: raw, chance-level logits cost
    # log 9 + log 6 + log 2; balanced, each attribute costs 1.
    spans = [(0, 9), (9, 15), (15, 16)]
    c = torch.zeros(4, 16)
    c[:, 2], c[:, 10], c[:2, 15] = 1, 1, 1
    chance = torch.zeros(4, 16)
    raw = attribute_cross_entropy(chance, c, spans)
    torch.testing.assert_close(raw, torch.tensor(math.log(9) + math.log(6) + math.log(2)))
    balanced = chance_balanced_weights(spans)
    torch.testing.assert_close(attribute_cross_entropy(chance, c, spans, balanced), torch.tensor(3.0))
    # Weights multiply each attribute's own term: doubling the flag's adds one more log 2.
    doubled = attribute_cross_entropy(chance, c, spans, [1.0, 1.0, 2.0])
    torch.testing.assert_close(doubled, torch.tensor(math.log(9) + math.log(6) + 2 * math.log(2)))


def _palette_head() -> PaletteHead:
    head = PaletteHead(3)
    head.fill(torch.tensor([[0, 0, 0], [255, 0, 0], [255, 255, 255]]))
    return head


def test_palette_head_draws_the_nearest_colour_exactly():
    head = _palette_head()
    rgb = torch.tensor([[[0.9, -0.2], [-0.9, 0.1]], [[-0.8, 0.9], [-0.7, 0.1]], [[-1.0, 0.8], [-0.9, 0.1]]])
    with torch.no_grad():
        out = head(rgb[None])[0]
    assert out[:, 0, 0].tolist() == [1.0, -1.0, -1.0]  # reddish -> red
    assert out[:, 0, 1].tolist() == [1.0, 1.0, 1.0]  # light -> white
    assert out[:, 1, 0].tolist() == [-1.0, -1.0, -1.0]  # dark -> black
    assert out[:, 1, 1].tolist() == [1.0, 1.0, 1.0]  # a grey nearer white than red or black


def test_palette_head_draws_exact_colours_in_training_and_passes_the_gradient_straight_through():
    head = _palette_head()
    rgb = (torch.rand(2, 3, 4, 4) * 2 - 1).requires_grad_()
    out = head(rgb)
    with torch.no_grad():
        assert torch.equal(out, head(rgb))  # the forward pass is the served picture
    colours = {tuple(c) for c in head.colours.tolist()}
    assert {tuple(c) for c in out.detach().permute(0, 2, 3, 1).reshape(-1, 3).tolist()} <= colours
    weights = torch.randn_like(rgb)
    (out * weights).sum().backward()
    assert torch.equal(rgb.grad, weights)


def test_palette_head_refuses_a_palette_of_another_size():
    with pytest.raises(ValueError, match=r"palette of \(2, 3\) for a head of \(3, 3\)"):
        PaletteHead(3).fill(torch.zeros(2, 3))


def test_few_colour_head_draws_each_picture_in_k_palette_colours_and_learns_through_both_choices():
    head = FewColourHead(in_features=6, k=3, palette=5)
    head.palette.fill(torch.tensor([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]))
    logits, inputs = torch.randn(4, 3, 8, 8, requires_grad=True), torch.randn(4, 6)
    out = head(logits, inputs)
    with torch.no_grad():  # the picture's k colours, each snapped to the palette
        picked = head.palette(head.colours(inputs).view(4, 3, 3).permute(0, 2, 1)[..., None])[..., 0]
    palette = {tuple(c) for c in head.palette.colours.tolist()}
    assert {tuple(c) for c in picked.permute(0, 2, 1).reshape(-1, 3).tolist()} <= palette
    # Every cell is the colour its largest logit names.
    expected = torch.stack([picked[b][:, logits[b].argmax(dim=0)] for b in range(4)])
    assert torch.allclose(out.detach(), expected, atol=1e-6)
    (out * torch.randn_like(out)).sum().backward()
    assert logits.grad.abs().sum() > 0  # which colour a cell takes
    assert all(p.grad.abs().sum() > 0 for p in head.colours.parameters())  # which colours a picture has


def test_few_colour_head_cell_vote_clears_an_unsure_stray_cell_and_keeps_a_sure_one():
    # Colour 0 everywhere; the cell at (1, 1) leans to colour 1 (0.8), the one at (1, 3) is sure of
    # it (0.95): an unsure stray cell in a part and a one-cell eye.
    soft = torch.zeros(1, 2, 5, 5)
    soft[:, 0] = 1.0
    soft[0, :, 1, 1] = torch.tensor([0.2, 0.8])
    soft[0, :, 1, 3] = torch.tensor([0.05, 0.95])
    logits = soft.clamp_min(1e-6).log()
    chosen = lambda vote: FewColourHead(6, 2, 5, vote=vote)._chosen(logits.softmax(dim=1)).argmax(dim=1)[0]
    alone = chosen(0.0)
    assert alone[1, 1] == 1 and alone[1, 3] == 1  # each cell its own likeliest colour
    voted = chosen(0.1)
    assert voted[1, 1] == 0 and voted[1, 3] == 1  # 0.8 < 0.2 + 8 x 0.1; 0.95 > 0.05 + 8 x 0.1
    assert (voted.flatten().bincount() == torch.tensor([24, 1])).all()  # nothing else moved
