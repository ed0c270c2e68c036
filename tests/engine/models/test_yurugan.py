import copy

import pytest
import torch

from engine.models import get_family
from engine.models.base import Batch, Hyper
from engine.models.layers import SelfAttention
from engine.models.yurugan import EQUAL_LR, TTUR_LR, Arch, Discriminator, Generator, Trainer
from tests.engine.models import familykit
from tests.engine.models.familykit import one_hot_rows, warmed

R, C_DIM = 32, 5
ARCH = Arch(z_dim=16, shared_dim=8, g_ch=8, d_ch=8, max_ch=32, attn_res=16, blocks=(3, 2))


def make_batch(n: int = 4) -> Batch:
    return familykit.make_batch(ARCH.z_dim, R, n)


def make_trainer(arch: Arch = ARCH, **hyper) -> Trainer:
    return Trainer(
        Generator(arch, C_DIM, R), arch, C_DIM, R, Hyper(batch_size=4, **hyper), torch.device("cpu")
    )


def test_output_shape_and_range():
    x = Generator(ARCH, C_DIM, R)(torch.randn(3, ARCH.z_dim) * 10, one_hot_rows(3))
    assert x.shape == (3, 3, R, R)
    assert x.min() >= -1 and x.max() <= 1


@pytest.mark.parametrize("res", [32, 64, 128, 256])
def test_every_resolution_builds_with_attention(res):
    arch = Arch(z_dim=20, shared_dim=4, g_ch=2, d_ch=2, max_ch=8)
    G, D = Generator(arch, C_DIM, res).eval(), Discriminator(arch, C_DIM, res)
    assert sum(G.chunks) == 20 and len(G.chunks) == len(G.blocks) + 1  # hierarchical latent
    assert len(G.attn) == 1 and len(D.attn) == 1
    x = G(torch.randn(1, 20), one_hot_rows(1))
    assert x.shape == (1, 3, res, res)
    adv, cls = D(x, one_hot_rows(1))
    assert adv.shape == (1,) and cls.shape == (1, C_DIM)


def test_eval_is_per_sample():
    G = warmed(Generator(ARCH, C_DIM, R))
    z, c = torch.randn(5, ARCH.z_dim), one_hot_rows(5)
    full = G(z, c)
    for i in range(5):
        torch.testing.assert_close(full[i : i + 1], G(z[i : i + 1], c[i : i + 1]), atol=1e-5, rtol=0)


def test_conditioning_latent_chunks_and_truncation_change_output():
    G = warmed(Generator(ARCH, C_DIM, R))
    z = torch.randn(1, ARCH.z_dim)
    c1, c2 = torch.tensor([[1.0, 0, 0, 1, 0]]), torch.tensor([[0.0, 0, 1, 0, 1]])
    assert (G(z, c1) - G(z, c2)).abs().max() > 1e-3
    assert (G(z, c1) - G(z, c1, truncation=0.5)).abs().max() > 1e-3
    z_last = z.clone()
    z_last[:, -G.chunks[-1] :] += 1.0  # only the last block's chunk: reaches G through its CBN
    assert (G(z, c1) - G(z_last, c1)).abs().max() > 1e-4


def test_projection_ignores_unknown_blocks():
    D = Discriminator(ARCH, C_DIM, R).eval()  # eval: spectral norm stops its power iteration
    x = torch.randn(1, 3, R, R)
    known, unknown = torch.tensor([[0.0, 1, 0, 0, 1]]), torch.tensor([[0.0, 1, 0, 0, 0]])
    torch.testing.assert_close(D.proj(known) - D.proj(unknown), D.proj(torch.tensor([[0.0, 0, 0, 0, 1]])))
    assert (D(x, known)[0] - D(x, unknown)[0]).abs().item() > 0


def test_two_d_steps_per_g_step_on_halves_of_the_batch():
    trainer = make_trainer()
    seen = []
    hook = trainer.D.register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[0]))
    trainer.step(make_batch(8))
    hook.remove()
    assert seen == [4, 4, 4, 4, 8]  # (real, fake) x 2 D steps on halves, then G's fakes
    steps = lambda opt: max(s["step"].item() for s in opt.state.values())
    assert steps(trainer.opt_d) == 2 and steps(trainer.opt_g) == 1


def test_ttur_learning_rates():
    assert make_trainer(Arch(**{**ARCH.__dict__, "ttur": True})).opt_d.param_groups[0]["lr"] == TTUR_LR[1]
    trainer = make_trainer()
    assert (trainer.opt_g.param_groups[0]["lr"], trainer.opt_d.param_groups[0]["lr"]) == EQUAL_LR
    assert make_trainer(lr_g=1e-3).opt_g.param_groups[0]["lr"] == 1e-3


def test_trainer_steps_update_generator_and_round_trip():
    torch.manual_seed(0)
    trainer = make_trainer()
    before = copy.deepcopy(trainer.G.state_dict())
    for _ in range(3):
        stats = trainer.step(make_batch())
    assert {"loss_d", "loss_g", "d_cls", "g_cls", "d_real", "d_fake"} <= stats.keys()
    assert all(torch.isfinite(torch.tensor(v)) for v in stats.values())
    assert any(
        not torch.equal(before[k], v) for k, v in trainer.G.state_dict().items() if v.is_floating_point()
    )

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
    torch.manual_seed(1)
    a = trainer.step(make_batch())
    torch.manual_seed(1)
    b = fresh.step(make_batch())
    assert a == pytest.approx(b, rel=1e-4, abs=1e-5)


def test_freeze_d_keeps_first_blocks():
    trainer = make_trainer(freeze_d_layers=1)
    first = copy.deepcopy(trainer.D.blocks[0].state_dict())
    later = copy.deepcopy(trainer.D.blocks[1].state_dict())
    for _ in range(2):
        trainer.step(make_batch())
    for k, v in trainer.D.blocks[0].state_dict().items():
        if "original" in k or "bias" in k:  # parameters (SN's u/v buffers still track the weight)
            torch.testing.assert_close(v, first[k])
    assert any(not torch.equal(later[k], v) for k, v in trainer.D.blocks[1].state_dict().items())


def test_attention_starts_as_identity():
    attn = SelfAttention(16)
    x = torch.randn(2, 16, 8, 8)
    torch.testing.assert_close(attn(x), x)


def test_registered():
    assert get_family("yurugan").Trainer is Trainer
