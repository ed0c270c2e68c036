import pytest
import torch

from engine.augment import AUGMENT_MODES, AugmentSpec, build_augment, check_mode
from engine.errors import MascotError


def images(n: int = 8, side: int = 16) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.rand(n, 3, side, side, generator=gen) * 2 - 1


def test_the_three_modes_and_a_clear_error_for_any_other():
    assert AUGMENT_MODES == ("ada", "diffaugment", "none")
    assert all(build_augment(mode).mode == mode for mode in AUGMENT_MODES)
    with pytest.raises(MascotError, match=r"--augment takes ada, diffaugment, none; got 'strong'"):
        check_mode("strong")


def test_a_bad_detailed_spec_is_a_clear_error():
    with pytest.raises(MascotError, match="unknown ADA augmentations"):
        build_augment("none", AugmentSpec(ada_ops="xflip,warp"))
    with pytest.raises(MascotError, match="unknown DiffAugment"):
        build_augment("ada", AugmentSpec(diffaugment="color,rotate"))


def test_none_is_the_identity_and_logs_nothing():
    augment, x = build_augment("none"), images()
    assert augment(x) is x and augment.stats() == {} and augment.state() == {}


@pytest.mark.parametrize("mode", ["ada", "diffaugment"])
def test_augmented_images_keep_their_shape_and_pass_gradients(mode):
    torch.manual_seed(0)
    augment = build_augment(mode)
    if mode == "ada":
        augment.controller.p = 1.0
    x = images().requires_grad_()
    y = augment(x)
    assert y.shape == x.shape and not torch.allclose(y, x)
    y.square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_ada_starts_as_the_identity():
    augment, x = build_augment("ada"), images()
    assert torch.equal(augment(x), x)
    assert augment.stats() == {"ada_p": 0.0, "ada_rt": 0.0}


def test_ada_p_rises_while_d_overfits_and_falls_when_it_stops():
    augment = build_augment("ada", total_kimg=100.0)
    for _ in range(16):  # every real logit positive: D tells the reals apart, r_t = 1 > 0.6
        augment.observe(torch.full((32,), 3.0))
    high = augment.stats()["ada_p"]
    assert high > 0 and augment.stats()["ada_rt"] == 1.0
    for _ in range(8):  # half the reals judged fake: r_t = 0 < 0.6
        augment.observe(torch.tensor([1.0, -1.0] * 16))
    assert 0 <= augment.stats()["ada_p"] < high


def test_ada_speed_is_the_papers_or_a_quarter_of_a_shorter_run():
    assert build_augment("ada", AugmentSpec(ada_kimg=500), total_kimg=40).controller.speed_kimg == 10
    assert build_augment("ada", AugmentSpec(ada_kimg=500), total_kimg=25_000).controller.speed_kimg == 500


def test_ada_state_round_trips_mid_window():
    a = build_augment("ada", total_kimg=4.0)
    for _ in range(6):
        a.observe(torch.ones(32))
    b = build_augment("ada", total_kimg=4.0)
    b.load_state(a.state())
    for augment in (a, b):
        augment.observe(torch.ones(32))
        augment.observe(torch.ones(32))
    assert a.stats() == b.stats() and a.stats()["ada_p"] > 0
