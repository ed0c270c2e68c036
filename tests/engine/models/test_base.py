import pytest
import torch

from engine.errors import MascotError
from engine.models import FAMILY_NAMES, get_family
from engine.models.base import Hyper, typed_arch_value
from tests.engine.models import familykit


def test_arch_values_are_read_as_their_fields_types():
    assert typed_arch_value("g_tanh", "false", bool) is False  # a bare word, not a truthy string
    assert typed_arch_value("g_tanh", "Yes", bool) is True
    assert typed_arch_value("aux_weight", 1, float) == 1.0 and isinstance(
        typed_arch_value("w", 1, float), float
    )
    assert typed_arch_value("blocks", [3, 2], tuple[int, ...]) == (3, 2)
    with pytest.raises(MascotError, match=r"takes true or false, got 'maybe'"):
        typed_arch_value("g_tanh", "maybe", bool)
    with pytest.raises(MascotError, match=r"takes a whole number, got True"):
        typed_arch_value("g_ch", True, int)
    with pytest.raises(MascotError, match=r"blocks takes a tuple like \(1, 2\), got \[3, '2'\]"):
        typed_arch_value("blocks", [3, "2"], tuple[int, ...])


def test_a_family_types_a_whole_table_and_names_where_it_came_from():
    projected = get_family("projected")
    values = projected.arch_values(
        {"g_tanh": "off", "blocks": [6, 9], "aux_weight": 1}, "'p/model.json' arch"
    )
    assert values == {"g_tanh": False, "blocks": (6, 9), "aux_weight": 1.0}
    projected.Arch(**values)  # builds
    with pytest.raises(MascotError, match=r"'p/model.json' arch g_tanh takes true or false, got 'false!'"):
        projected.arch_values({"g_tanh": "false!"}, "'p/model.json' arch")
    with pytest.raises(MascotError, match=r"unknown --arch setting"):
        projected.arch_values({"g_tahn": False}, "--arch")


TINY_ARCHS = {
    "dcgan": dict(g_ch=8, d_ch=8, max_ch=32),
    "acgan": dict(z_dim=16, g_ch=8, g_blocks=1, d_ch=4, d_max_ch=16, blocks=(3, 2)),
    "yurugan": dict(z_dim=16, shared_dim=8, g_ch=8, d_ch=8, max_ch=32, attn_res=16, blocks=(3, 2)),
    "stylegan2": dict(z_dim=16, w_dim=16, channel_base=128, channel_max=16),
    "projected": dict(z_dim=16, c_embed_dim=8, g_channels=8, g_max_channels=32, d_channels=8, d_input=32),
}
R, C_DIM = 32, 5


class Recording:
    """The run's augmentation, counting the images it augments and the logits it observes."""

    def __init__(self, inner) -> None:
        self.inner, self.batches, self.observed = inner, 0, 0

    def __call__(self, images):
        self.batches += 1
        return self.inner(images)

    def observe(self, d_real):
        self.observed += 1
        self.inner.observe(d_real)

    def stats(self):
        return self.inner.stats()


def tiny_trainer(name: str, mode: str = ""):
    family = get_family(name)
    arch = family.Arch(**TINY_ARCHS[name])
    hyper = Hyper(batch_size=4, augment=mode)
    return family.Trainer(family.Generator(arch, C_DIM, R), arch, C_DIM, R, hyper, torch.device("cpu"))


def test_each_family_has_its_default_augmentation():
    defaults = {name: tiny_trainer(name).augment.mode for name in FAMILY_NAMES}
    assert defaults == {
        "dcgan": "ada",
        "acgan": "ada",
        "yurugan": "ada",
        "stylegan2": "ada",
        "projected": "diffaugment",
    }


@pytest.mark.parametrize("mode", ["ada", "diffaugment"])
@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_every_image_each_family_s_discriminator_sees_is_augmented(name, mode):
    torch.manual_seed(0)
    trainer = tiny_trainer(name, mode)
    if mode == "ada":
        trainer.augment.controller.p = 1.0  # every op on: the pipeline really runs
    trainer.augment = spy = Recording(trainer.augment)
    stats = trainer.step(familykit.make_batch(trainer.G.z_dim, R))
    # Reals and fakes in each D step, fakes in the G step (a penalty's D call may add one);
    # projected's G step reuses the D step's augmented fakes (their backbone features).
    d_steps = getattr(trainer.arch, "d_steps", 1)
    g_step = 0 if name == "projected" else 1
    assert spy.batches >= 2 * d_steps + g_step and spy.observed == d_steps
    assert all(torch.isfinite(torch.as_tensor(v)) for v in stats.values()), stats
    assert ("ada_p" in stats) == (mode == "ada")
