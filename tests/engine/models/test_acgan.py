import copy

import pytest
import torch

from engine.augment import build_augment
from engine.models import get_family
from engine.models.acgan import Arch, Discriminator, Generator, Trainer, dragan_penalty
from engine.models.base import Batch, Hyper
from tests.engine.models import familykit
from tests.engine.models.familykit import one_hot_rows, warmed

R, C_DIM = 32, 5
ARCH = Arch(z_dim=16, g_ch=8, g_blocks=2, d_ch=4, d_max_ch=16, blocks=(3, 2))


def make_batch(n: int = 4) -> Batch:
    return familykit.make_batch(ARCH.z_dim, R, n)


def make_trainer(**hyper) -> Trainer:
    return Trainer(
        Generator(ARCH, C_DIM, R), ARCH, C_DIM, R, Hyper(batch_size=4, **hyper), torch.device("cpu")
    )


def test_output_shape_and_range():
    x = Generator(ARCH, C_DIM, R)(torch.randn(3, ARCH.z_dim) * 10, one_hot_rows(3))
    assert x.shape == (3, 3, R, R)
    assert x.min() >= -1 and x.max() <= 1


@pytest.mark.parametrize("res", [32, 64, 128, 256])
def test_every_resolution_builds(res):
    arch = Arch(z_dim=8, g_ch=4, g_blocks=1, d_ch=2, d_max_ch=4)
    x = Generator(arch, C_DIM, res).eval()(torch.randn(1, 8), one_hot_rows(1))
    assert x.shape == (1, 3, res, res)
    adv, cls = Discriminator(arch, C_DIM, res)(x)
    assert adv.shape == (1,) and cls.shape == (1, C_DIM)


def test_paper_shape_of_networks():
    G, D = Generator(Arch(), C_DIM, 128), Discriminator(Arch(), C_DIM, 128)
    assert len(G.trunk) == 16 and sum(isinstance(m, torch.nn.PixelShuffle) for m in G.modules()) == 3
    assert sum(type(m).__name__ == "DBlock" for m in D.modules()) == 10
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in D.modules())


def test_eval_is_per_sample():
    G = warmed(Generator(ARCH, C_DIM, R))
    z, c = torch.randn(5, ARCH.z_dim), one_hot_rows(5)
    full = G(z, c)
    for i in range(5):
        torch.testing.assert_close(full[i : i + 1], G(z[i : i + 1], c[i : i + 1]), atol=1e-5, rtol=0)


def test_conditioning_and_truncation_change_output():
    G = warmed(Generator(ARCH, C_DIM, R))
    z = torch.randn(1, ARCH.z_dim)
    c1, c2 = torch.tensor([[1.0, 0, 0, 1, 0]]), torch.tensor([[0.0, 0, 1, 0, 1]])
    assert (G(z, c1) - G(z, c2)).abs().max() > 1e-3
    assert (G(z, c1) - G(z, c1, truncation=0.5)).abs().max() > 1e-3


def test_fake_labels_keep_each_attribute_marginal_but_mix_attributes():
    trainer = make_trainer()
    # perfectly correlated attributes: value i of the choice always comes with flag i % 2
    idx = torch.arange(300) % 3
    c = torch.cat([torch.eye(3)[idx], torch.eye(2)[idx % 2]], dim=1)
    torch.manual_seed(0)
    out = trainer._fake_labels(c)
    torch.testing.assert_close(out.sum(0), c.sum(0))  # same frequency of every value
    assert (out[:, :3].argmax(1) % 2 != out[:, 3:].argmax(1)).any()  # correlation broken
    assert torch.equal(out.sum(1), c.sum(1))  # still one-hot per block


@pytest.mark.parametrize("mode", ["none", "ada", "diffaugment"])
def test_dragan_penalty_reaches_d_through_every_augment_mode(mode):
    # The penalty's D call sees augmented points, like every D call, and its second-order
    # gradient must pass through the augmentation (ADA's resampling included) into D.
    torch.manual_seed(0)
    D = Discriminator(ARCH, C_DIM, R)
    augment = build_augment(mode)
    if mode == "ada":
        augment.controller.p = 1.0
    gp = dragan_penalty(D, torch.rand(4, 3, R, R), augment)
    assert gp.item() > 0 and gp.requires_grad
    gp.backward()
    grads = [p.grad for p in D.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads) and any(g.abs().sum() > 0 for g in grads)


def test_lr_decays_exponentially_in_second_half():
    trainer = make_trainer(total_kimg=10.0)
    trainer.kimg = 4.0
    assert trainer.lr_scale() == 1.0
    trainer.kimg = 7.5
    assert trainer.lr_scale() == pytest.approx(0.1**0.5)
    trainer.kimg = 10.0
    assert trainer.lr_scale() == pytest.approx(0.1)


def test_trainer_steps_update_generator_and_round_trip():
    torch.manual_seed(0)
    trainer = make_trainer()
    before = copy.deepcopy(trainer.G.state_dict())
    for _ in range(3):
        stats = trainer.step(make_batch())
    assert {"loss_d", "loss_g", "gp", "d_cls", "d_real", "d_fake"} <= stats.keys()
    assert all(torch.isfinite(torch.tensor(v)) for v in stats.values())
    assert any(
        not torch.equal(before[k], v) for k, v in trainer.G.state_dict().items() if v.is_floating_point()
    )
    assert trainer.extra_state()["kimg"] == pytest.approx(0.012)

    saved = copy.deepcopy(  # what a checkpoint holds (deep copies: no tensors shared)
        {
            "G": trainer.G.state_dict(),
            "D": trainer.modules()["D"].state_dict(),
            "extra": trainer.extra_state(),
            **{k: opt.state_dict() for k, opt in trainer.optimizers().items()},
        }
    )
    fresh = make_trainer()
    fresh.G.load_state_dict(saved["G"])
    fresh.D.load_state_dict(saved["D"])
    for k, opt in fresh.optimizers().items():
        opt.load_state_dict(saved[k])
    fresh.load_extra_state(saved["extra"])
    assert fresh.kimg == trainer.kimg
    torch.manual_seed(1)
    a = trainer.step(make_batch())
    torch.manual_seed(1)
    b = fresh.step(make_batch())
    assert a == pytest.approx(b, rel=1e-4, abs=1e-5)


def test_freeze_d_keeps_first_blocks():
    trainer = make_trainer(freeze_d_layers=2)
    first = copy.deepcopy(trainer.D.blocks[1].state_dict())
    later = copy.deepcopy(trainer.D.blocks[2].state_dict())
    for _ in range(2):
        trainer.step(make_batch())
    for k, v in trainer.D.blocks[1].state_dict().items():
        torch.testing.assert_close(v, first[k])
    assert any(not torch.equal(later[k], v) for k, v in trainer.D.blocks[2].state_dict().items())


def test_registered():
    assert get_family("acgan").Trainer is Trainer
