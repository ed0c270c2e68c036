import copy

import pytest
import torch

from engine.errors import MascotError
from engine.models import get_family
from engine.models.base import Batch, Hyper
from engine.models.dcgan import Arch, Discriminator, Generator, Trainer
from tests.engine.models.familykit import one_hot_rows, warmed

R, C_DIM = 32, 5
ARCH = Arch(g_ch=16, d_ch=16, max_ch=64)


def make_batch(n: int = 4, z_dim: int = ARCH.z_dim) -> Batch:
    gen = torch.Generator().manual_seed(0)
    return Batch(
        real=torch.rand(n, 3, R, R, generator=gen) * 2 - 1,
        c=one_hot_rows(n, gen),
        sample_c=one_hot_rows,
        sample_z=lambda k: torch.randn(k, z_dim),
    )


def test_output_shape_and_range():
    G = Generator(ARCH, C_DIM, R)
    x = G(torch.randn(3, ARCH.z_dim) * 10, one_hot_rows(3))
    assert x.shape == (3, 3, R, R)
    assert x.min() >= -1 and x.max() <= 1


@pytest.mark.parametrize("res", [32, 64, 128, 256])
def test_every_resolution_builds(res):
    G = Generator(Arch(g_ch=4, d_ch=4, max_ch=8), C_DIM, res).eval()
    D = Discriminator(Arch(g_ch=4, d_ch=4, max_ch=8), C_DIM, res)
    x = G(torch.randn(1, 100), one_hot_rows(1))
    assert x.shape == (1, 3, res, res)
    assert D(x, one_hot_rows(1)).shape == (1,)


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
    # an unknown (all-zero) block is a valid input, distinct from every value
    c0 = torch.tensor([[0.0, 0, 0, 1, 0]])
    assert torch.isfinite(G(z, c0)).all() and (G(z, c0) - G(z, c1)).abs().max() > 1e-4


def test_discriminator_sees_labels():
    D = Discriminator(ARCH, C_DIM, R)
    x = torch.randn(2, 3, R, R)
    assert (D(x, torch.eye(5)[[0, 0]]) - D(x, torch.eye(5)[[1, 1]])).abs().max() > 1e-5


def test_trainer_steps_update_generator_and_round_trip():
    torch.manual_seed(0)
    G = Generator(ARCH, C_DIM, R)
    before = copy.deepcopy(G.state_dict())
    trainer = Trainer(G, ARCH, C_DIM, R, Hyper(batch_size=4), torch.device("cpu"))
    for _ in range(3):
        stats = trainer.step(make_batch())
    assert {"loss_d", "loss_g", "d_real", "d_fake"} <= stats.keys()
    assert all(torch.isfinite(torch.tensor(v)) for v in stats.values())
    assert any(not torch.equal(before[k], v) for k, v in G.state_dict().items() if v.is_floating_point())

    # resume: a fresh trainer filled from the saved state continues identically
    fresh = Trainer(Generator(ARCH, C_DIM, R), ARCH, C_DIM, R, Hyper(batch_size=4), torch.device("cpu"))
    saved = copy.deepcopy(  # what a checkpoint holds (deep copies: no tensors shared)
        {
            "G": G.state_dict(),
            "D": trainer.modules()["D"].state_dict(),
            "extra": trainer.extra_state(),
            **{k: opt.state_dict() for k, opt in trainer.optimizers().items()},
        }
    )
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
    G = Generator(ARCH, C_DIM, R)
    trainer = Trainer(G, ARCH, C_DIM, R, Hyper(freeze_d_layers=1), torch.device("cpu"))
    first = copy.deepcopy(trainer.D.blocks[0].state_dict())
    later = copy.deepcopy(trainer.D.blocks[1].state_dict())
    for _ in range(2):
        trainer.step(make_batch())
    for k, v in trainer.D.blocks[0].state_dict().items():
        torch.testing.assert_close(v, first[k])
    assert any(not torch.equal(later[k], v) for k, v in trainer.D.blocks[1].state_dict().items())


def test_registered():
    fam = get_family("dcgan")
    assert fam.Generator is Generator and fam.Trainer is Trainer


def test_a_palette_generator_draws_only_its_palette_and_learns_through_it():
    palette = torch.tensor([[0, 0, 0], [40, 40, 220], [220, 40, 40], [255, 255, 255]])
    G = Generator(Arch(g_ch=8, d_ch=8, max_ch=16, palette=4), C_DIM, 16)
    for head in (m for m in G.modules() if hasattr(m, "fill")):
        head.fill(palette)
    x = G(torch.randn(3, 100), one_hot_rows(3))
    cells = {
        tuple(v) for v in ((x.detach() + 1) * 127.5).round().int().permute(0, 2, 3, 1).reshape(-1, 3).tolist()
    }
    assert x.shape == (3, 3, 16, 16) and cells <= {tuple(v) for v in palette.tolist()}
    x.mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters())
    assert any(k.endswith(".colours") for k in G.state_dict())  # the palette travels with the weights


def test_a_few_colour_generator_draws_each_picture_in_that_many_palette_colours():
    palette = torch.tensor([[0, 0, 0], [40, 40, 220], [220, 40, 40], [255, 255, 255], [30, 200, 30]])
    G = Generator(Arch(g_ch=8, d_ch=8, max_ch=16, palette=5, colours_per_image=2), C_DIM, 16)
    for head in (m for m in G.modules() if hasattr(m, "fill")):
        head.fill(palette)
    x = G(torch.randn(3, 100), one_hot_rows(3))
    for picture in ((x.detach() + 1) * 127.5).round().int():
        cells = {tuple(v) for v in picture.reshape(3, -1).T.tolist()}
        assert len(cells) <= 2 and cells <= {tuple(v) for v in palette.tolist()}
    x.mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters())


def test_with_soft_cells_d_sees_blended_cells_in_training_and_the_served_ones_are_the_likeliest():
    palette = torch.tensor([[0, 0, 0], [40, 40, 220], [220, 40, 40], [255, 255, 255], [30, 200, 30]])
    G = Generator(Arch(g_ch=8, d_ch=8, max_ch=16, palette=5, colours_per_image=3, soft_cells=True), C_DIM, 16)
    for head in (m for m in G.modules() if hasattr(m, "fill")):
        head.fill(palette)
    z, c = torch.randn(4, 100), one_hot_rows(4)
    G.train()
    seen, served = G.seen_and_served(z, c)
    assert torch.allclose(G(z, c), seen)  # training: what D judges is the blend
    in_palette = lambda x: (
        ((x.detach() + 1) * 127.5).round().int().permute(0, 2, 3, 1).reshape(-1, 3).tolist()
    )
    assert {tuple(v) for v in in_palette(served)} <= {tuple(v) for v in palette.tolist()}
    assert not {tuple(v) for v in in_palette(seen)} <= {tuple(v) for v in palette.tolist()}  # blends
    served.sum().backward()  # the attributes are read on the served cells: their gradient reaches G
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters())
    G.eval()
    assert torch.allclose(G(z, c), G.seen_and_served(z, c)[1])  # served as chosen, with BN in eval


def test_r1_adds_gamma_over_two_times_the_gradient_penalty_at_the_reals_to_d_loss():
    def step(gamma: float) -> dict[str, float]:
        torch.manual_seed(0)
        arch = Arch(g_ch=16, d_ch=16, max_ch=64, r1_gamma=gamma)
        trainer = Trainer(Generator(arch, C_DIM, R), arch, C_DIM, R, Hyper(batch_size=4), torch.device("cpu"))
        torch.manual_seed(1)
        return trainer.step(make_batch())

    plain, penalised = step(0.0), step(10.0)
    assert "r1" not in plain and penalised["r1"] > 0
    assert penalised["loss_d"] - plain["loss_d"] == pytest.approx(5.0 * penalised["r1"], rel=1e-4)
    assert penalised["d_real"] == pytest.approx(plain["d_real"])  # the same D judged the same batch


@pytest.mark.parametrize(
    "arch,message",
    [
        (dict(colours_per_image=8), "colours_per_image needs pixel art at its grid"),
        (dict(colours_per_image=1, palette=5), "colours_per_image takes 2 to 64, got 1"),
        (dict(cell_vote=0.1), "cell_vote needs colours_per_image"),
        (
            dict(colours_per_image=8, palette=5, cell_vote=0.125),
            "cell_vote takes 0 to under 0.125, got 0.125",
        ),
    ],
)
def test_a_few_colour_head_without_a_palette_or_with_one_colour_is_refused(arch, message):
    with pytest.raises(MascotError, match=message):
        Arch(**arch)


def test_a_negative_r1_gamma_is_refused():
    with pytest.raises(MascotError, match=r"r1_gamma takes 0 \(none\) or more, got -1.0"):
        Arch(r1_gamma=-1.0)


AUX = Arch(g_ch=16, d_ch=16, max_ch=64, aux_weight=1.0, blocks=(3, 2))


def coloured_by_first_attribute(n: int) -> Batch:
    """Reals whose colour is their first attribute's value (red, green, blue): readable."""
    c = one_hot_rows(n, torch.Generator().manual_seed(n))
    colour = c[:, :3] * 2 - 1  # one channel lit per value
    real = colour[:, :, None, None].expand(-1, -1, R, R) + 0.1 * torch.randn(n, 3, R, R)
    return Batch(real=real, c=c, sample_c=one_hot_rows, sample_z=lambda k: torch.randn(k, AUX.z_dim))


def test_an_attribute_reader_learns_the_attributes_from_reals_without_their_labels():
    torch.manual_seed(0)
    trainer = Trainer(Generator(AUX, C_DIM, R), AUX, C_DIM, R, Hyper(batch_size=16), torch.device("cpu"))
    held_out = coloured_by_first_attribute(64)
    before = trainer._aux_loss(held_out.real, held_out.c).item()
    for _ in range(40):
        stats = trainer.step(coloured_by_first_attribute(16))
    assert {"aux_d", "aux_g"} <= stats.keys()
    with torch.no_grad():
        read = trainer.D.classify(held_out.real)[:, :3].argmax(1)
    assert (read == held_out.c[:, :3].argmax(1)).float().mean() > 0.9
    assert trainer._aux_loss(held_out.real, held_out.c).item() < before


def test_the_reader_pulls_the_generator_towards_the_attributes_asked_for():
    trainer = Trainer(Generator(AUX, C_DIM, R), AUX, C_DIM, R, Hyper(batch_size=4), torch.device("cpu"))
    z, c = torch.randn(4, AUX.z_dim), one_hot_rows(4)
    trainer._aux_loss(trainer.G(z, c), c).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in trainer.G.parameters())


def test_without_an_aux_weight_the_discriminator_has_no_reader():
    # Checkpoints trained before the reader existed load into such a D unchanged.
    D = Discriminator(ARCH, C_DIM, R)
    assert D.reader is None and not any(k.startswith("reader.") for k in D.state_dict())
    trainer = Trainer(Generator(ARCH, C_DIM, R), ARCH, C_DIM, R, Hyper(batch_size=4), torch.device("cpu"))
    assert "aux_d" not in trainer.step(make_batch())
