import copy
import dataclasses
import math

import pytest
import torch

from engine.errors import MascotError
from engine.models import get_family
from engine.models.base import Batch, Hyper
from engine.models.projected import Arch, Discriminator, Generator, Trainer
from tests.engine.models import familykit
from tests.engine.models.familykit import one_hot_rows, warmed

R, C_DIM = 32, 5
ARCH = Arch(
    z_dim=16,
    c_embed_dim=8,
    g_channels=8,
    g_max_channels=32,
    d_channels=16,
    proj_channels=8,
    cmap_dim=8,
    d_input=32,
)
CPU = torch.device("cpu")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one thread is faster than two fighting over a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_batch(n: int = 4) -> Batch:
    return familykit.make_batch(ARCH.z_dim, R, n)


def test_registered_family():
    assert get_family("projected").Generator is Generator


@pytest.mark.parametrize("res", [32, 64, 128, 256])
def test_output_shape_and_range(res):
    """The default output is linear (clamped only when drawn); FastGAN's tanh stays in [-1, 1]."""
    z, c = torch.randn(3, ARCH.z_dim) * 10, one_hot_rows(3)
    assert Generator(ARCH, C_DIM, res)(z, c).shape == (3, 3, res, res)
    x = Generator(dataclasses.replace(ARCH, g_tanh=True), C_DIM, res)(z, c)
    assert x.shape == (3, 3, res, res)
    assert x.min() >= -1 and x.max() <= 1


def test_linear_output_keeps_a_gradient_where_tanh_saturates():
    """The collapse g_tanh=False avoids: pixels pushed far past +-1 get no gradient through tanh."""
    z, c = torch.randn(3, ARCH.z_dim), one_hot_rows(3)
    grads = {}
    for tanh in (True, False):
        torch.manual_seed(0)
        G = Generator(dataclasses.replace(ARCH, g_tanh=tanh), C_DIM, R)
        with torch.no_grad():
            G.to_rgb.bias.fill_(6.0)  # every pixel far into saturation
        x = G(z, c)
        assert (x.max() <= 1) == tanh
        x.mean().backward()
        grads[tanh] = G.to_rgb.bias.grad.abs().max().item()
    assert grads[True] < 1e-4 < grads[False]


def test_eval_is_per_sample_and_noise_is_constant():
    G = warmed(Generator(ARCH, C_DIM, R))
    for noise in [m for m in G.modules() if hasattr(m, "const")]:
        noise.weight.data.fill_(0.5)  # make the noise matter
    z, c = torch.randn(5, ARCH.z_dim), one_hot_rows(5)
    full = G(z, c)
    torch.testing.assert_close(full, G(z, c), atol=0, rtol=0)
    for i in range(5):
        # float32 convolutions round differently by batch size: up to 1.5e-5 here over 40 seeds.
        # A sample that leaked into another (BN in train mode) would differ by about 0.1.
        torch.testing.assert_close(full[i : i + 1], G(z[i : i + 1], c[i : i + 1]), atol=1e-4, rtol=0)
    G.train()
    assert (G(z, c) - G(z, c)).abs().max() > 0, "training noise should be random"


def test_conditioning_and_truncation_change_output():
    G = warmed(Generator(ARCH, C_DIM, R))
    z = torch.randn(1, ARCH.z_dim)
    c1, c2 = torch.tensor([[1.0, 0, 0, 1, 0]]), torch.tensor([[0.0, 0, 1, 0, 1]])
    assert (G(z, c1) - G(z, c2)).abs().max() > 1e-3
    assert (G(z, c1) - G(z, c1, truncation=0.5)).abs().max() > 1e-3
    c0 = torch.tensor([[0.0, 0, 0, 1, 0]])  # unknown first attribute: an all-zero block
    assert torch.isfinite(G(z, c0)).all() and (G(z, c0) - G(z, c1)).abs().max() > 1e-4


def test_discriminator_sees_labels_and_keeps_backbone_out_of_its_state():
    torch.manual_seed(0)
    D = Discriminator(ARCH, C_DIM, CPU)
    x = torch.randn(2, 3, R, R)
    assert (D(x, torch.eye(5)[[0, 0]]) - D(x, torch.eye(5)[[1, 1]])).abs().max() > 1e-5
    keys = D.state_dict().keys()
    assert any(k.startswith("projector.ccm0") for k in keys)  # fixed projections are saved...
    assert not any("stem" in k or "_blocks" in k or "_backbone" in k for k in keys)  # ...the backbone is not
    assert all(not k.startswith("projector") for k, _ in D.named_parameters())  # and never trained


def test_random_projection_is_reproducible_from_seed():
    a, b = Discriminator(ARCH, C_DIM, CPU), Discriminator(ARCH, C_DIM, CPU)
    torch.testing.assert_close(a.projector.ccm2_w, b.projector.ccm2_w, atol=0, rtol=0)


def test_three_steps_train_and_state_round_trips():
    torch.manual_seed(0)
    G = Generator(ARCH, C_DIM, R)
    trainer = Trainer(G, ARCH, C_DIM, R, Hyper(batch_size=4), CPU)
    before = copy.deepcopy(G.state_dict())
    d_before = copy.deepcopy(trainer.D.state_dict())
    for _ in range(3):
        stats = trainer.step(make_batch())
        assert stats.keys() >= {"loss_d", "loss_g", "d_real", "d_fake"}
        assert all(
            torch.as_tensor(v).ndim == 0 and torch.isfinite(torch.as_tensor(v)) for v in stats.values()
        )
    changed = [k for k, v in G.state_dict().items() if not torch.equal(v, before[k])]
    assert any("blocks" in k and "weight" in k for k in changed)
    assert any(not torch.equal(v, d_before[k]) for k, v in trainer.D.state_dict().items() if "heads" in k)
    torch.testing.assert_close(trainer.D.projector.ccm0_w, d_before["projector.ccm0_w"], atol=0, rtol=0)

    # Resume: a fresh trainer loaded from the saved state continues identically.
    G2 = Generator(ARCH, C_DIM, R)
    G2.load_state_dict(G.state_dict())
    t2 = Trainer(G2, ARCH, C_DIM, R, Hyper(batch_size=4), CPU)
    for name, module in trainer.modules().items():
        t2.modules()[name].load_state_dict(module.state_dict())
    for name, opt in trainer.optimizers().items():
        t2.optimizers()[name].load_state_dict(copy.deepcopy(opt.state_dict()))  # as if read from disk
    t2.load_extra_state(trainer.extra_state())
    torch.manual_seed(1)
    s1 = trainer.step(make_batch())
    torch.manual_seed(1)
    s2 = t2.step(make_batch())
    as_floats = lambda stats: {k: float(v) for k, v in stats.items()}  # approx compares numbers, not tensors
    assert as_floats(s1) == pytest.approx(as_floats(s2), rel=1e-4, abs=1e-5)
    for k, v in G.state_dict().items():
        torch.testing.assert_close(v, G2.state_dict()[k], atol=1e-5, rtol=1e-4)


def test_g_step_shares_the_fakes_features_but_reads_the_updated_heads():
    """One backbone pass of the fakes serves both steps; G's gradient must still be the
    one a fresh pass through the just-updated discriminator gives."""
    torch.manual_seed(0)
    arch = ARCH
    G = Generator(arch, C_DIM, R)
    # No random augmentation, so a recomputation is exact.
    trainer = Trainer(G, arch, C_DIM, R, Hyper(batch_size=4, augment="none"), CPU)
    z, c = torch.randn(4, arch.z_dim), one_hot_rows(4)
    batch = Batch(
        real=torch.rand(4, 3, R, R) * 2 - 1,
        c=one_hot_rows(4),
        sample_c=lambda n: c[:n],
        sample_z=lambda n: z[:n],
    )
    G_before, D_before = copy.deepcopy(G), copy.deepcopy(trainer.D)
    # D as it is right after its update (the G step's forward then moves spectral norm's u on).
    updated, d_update = {}, trainer.opt_d.step
    trainer.opt_d.step = lambda: (d_update(), updated.setdefault("D", copy.deepcopy(trainer.D)))
    torch.manual_seed(1)  # G's training noise is its first random draw, here and below
    trainer.step(batch)

    def g_grads(D):
        G_ref = copy.deepcopy(G_before)
        torch.manual_seed(1)
        logits, cls = D.judge(G_ref(z, c), c)
        (-logits.mean() + arch.aux_weight * D.aux_loss(cls, c)).backward()
        return [p.grad for p in G_ref.parameters()]

    used = [p.grad for p in G.parameters()]
    for got, want in zip(used, g_grads(updated["D"])):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-4)
    assert any(
        not torch.allclose(got, stale, atol=1e-6, rtol=1e-4) for got, stale in zip(used, g_grads(D_before))
    )


def test_freeze_d_keeps_first_head_blocks():
    torch.manual_seed(0)
    G = Generator(ARCH, C_DIM, R)
    trainer = Trainer(G, ARCH, C_DIM, R, Hyper(batch_size=4, freeze_d_layers=1), CPU)
    first = [copy.deepcopy(h.blocks[0].state_dict()) for h in trainer.D.heads]
    last = [copy.deepcopy(h.out.state_dict()) for h in trainer.D.heads]
    for _ in range(2):
        trainer.step(make_batch())
    for h, f, end in zip(trainer.D.heads, first, last):
        for k, v in h.blocks[0].state_dict().items():
            if "original" in k or k.endswith("bias"):
                torch.testing.assert_close(v, f[k], atol=0, rtol=0)
        assert any(not torch.equal(v, end[k]) for k, v in h.out.state_dict().items())


def test_auxiliary_classifier_loss_is_reported_and_can_be_switched_off():

    from engine.models.base import Batch, Hyper
    from engine.models.projected import Arch, Generator, Trainer

    torch.manual_seed(0)
    for weight in (1.0, 0.0):
        arch = dataclasses.replace(
            Arch(g_channels=16, d_channels=16, d_input=32), aux_weight=weight, blocks=(3, 2)
        )
        G = Generator(arch, 5, 32)
        trainer = Trainer(G, arch, 5, 32, Hyper(batch_size=4), torch.device("cpu"))
        c = torch.tensor(
            [[1, 0, 0, 0, 1], [0, 1, 0, 1, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0]], dtype=torch.float32
        )
        out = trainer.step(
            Batch(
                real=torch.rand(4, 3, 32, 32) * 2 - 1,
                c=c,
                sample_c=lambda n, c=c: c[:n],
                sample_z=lambda n, z_dim=G.z_dim: torch.randn(n, z_dim),
            )
        )
        assert (out["aux_d"] > 0) == (weight > 0) and (out["aux_g"] > 0) == (weight > 0)


def test_balanced_classifier_loss_weighs_each_attribute_by_its_chance_level():
    c = one_hot_rows(4)  # blocks (3, 2): a 3-valued choice and a 2-valued one
    zero = torch.zeros(4, C_DIM)
    for balanced, expected in ((False, math.log(3) + math.log(2)), (True, 2.0)):
        D = Discriminator(dataclasses.replace(ARCH, blocks=(3, 2), aux_balanced=balanced), C_DIM, CPU)
        torch.testing.assert_close(D.aux_loss(zero, c), torch.tensor(expected))
    # Per-attribute weights multiply on top: the second attribute three times over.
    for balanced, expected in ((False, math.log(3) + 3 * math.log(2)), (True, 4.0)):
        arch = dataclasses.replace(ARCH, blocks=(3, 2), aux_balanced=balanced, aux_attr_weights=(1.0, 3.0))
        torch.testing.assert_close(Discriminator(arch, C_DIM, CPU).aux_loss(zero, c), torch.tensor(expected))
    with pytest.raises(MascotError, match=r"2 entries for 3 attributes"):
        Discriminator(dataclasses.replace(ARCH, blocks=(3, 1, 1), aux_attr_weights=(1.0, 3.0)), C_DIM, CPU)


def test_a_recorded_arch_rebuilds_the_network_it_was_trained_as():
    """Defaults may change; a model.json or resume.json keeps its network. Fields it predates
    take the values it was trained with, and a retired setting builds only switched off."""
    from engine.models import get_family

    family = get_family("projected")
    assert Arch().g_tanh is False and Arch().aux_balanced is True  # today's defaults
    old = family.recorded_values(
        {"z_dim": 32, "aux_fake_class": False, "mismatch_weight": 0.0}, "model.json's arch"
    )
    arch = Arch(**old)
    assert arch.z_dim == 32 and arch.g_tanh is True and arch.aux_balanced is False
    assert Arch(**family.recorded_values({"g_tanh": False}, "model.json's arch")).g_tanh is False
    with pytest.raises(MascotError, match=r"mismatch_weight=0.5, a setting this engine no longer has"):
        family.recorded_values({"mismatch_weight": 0.5}, "model.json's arch")
    with pytest.raises(MascotError, match=r"unknown --arch setting"):
        family.arch_values({"aux_fake_class": False}, "--arch")  # not offered to new runs


def test_the_shipped_model_and_the_resume_point_keep_their_tanh_output():
    import json
    from pathlib import Path

    from engine.checkpoint import arch_of

    root = Path(__file__).resolve().parents[3] / "checkpoints"
    shipped = arch_of(json.loads((root / "default" / "model.json").read_text()))
    resume = json.loads((root / "resume" / "projected-128" / "resume.json").read_text())["arch"]
    assert shipped.g_tanh is True and shipped.aux_balanced is False
    assert resume["g_tanh"] is True and resume["aux_balanced"] is False


def test_attribute_head_finds_a_small_spot_that_averaging_washes_out():
    """A 'smile' three pixels wide: the label is whether one spot on channel 0 is lit.

    Its share of the mean of a 16x16 map is 1/256: an MLP on the mean of the raw maps (the
    head this replaced) reached 0.60 on this task; local filters must find it.
    """
    from engine.models.projected import AttributeHead

    torch.manual_seed(0)
    head = AttributeHead((4, 8), width=16, c_dim=2)
    opt = torch.optim.Adam(head.parameters(), lr=2e-3)

    def batch(n: int = 64):
        fine, coarse = torch.randn(n, 4, 16, 16) * 0.3, torch.randn(n, 8, 8, 8) * 0.3
        lit = torch.rand(n) < 0.5
        ys, xs = torch.randint(16, (n,)), torch.randint(16, (n,))
        fine[lit.nonzero().squeeze(1), 0, ys[lit], xs[lit]] += 3.0
        return [fine, coarse], torch.stack([~lit, lit], dim=1).float()

    for _ in range(300):
        feats, c = batch()
        loss = torch.nn.functional.cross_entropy(head(feats), c.argmax(1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    feats, c = batch(512)
    with torch.no_grad():
        accuracy = (head(feats).argmax(1) == c.argmax(1)).float().mean().item()
    assert accuracy > 0.95
