"""Latent recipes: a variation's step, its siblings' directions, and the earlier kind drawn as it was."""

import itertools
import math

import pytest
import torch

from engine import creative

Z = 64


def _latent(recipe: creative.Recipe) -> torch.Tensor:
    return creative.layer_latents(recipe, Z)[0]


def test_siblings_step_apart_along_orthogonal_directions():
    parent = creative.seed_recipe(7)
    p = _latent(parent).double()
    steps = [_latent(creative.vary(parent, i, 0.5)).double() - p for i in range(1, 5)]
    length = creative.STEP_GAIN * 0.5 * math.sqrt(Z)
    for step in steps:
        assert float(step.norm()) == pytest.approx(length, rel=1e-5)
        assert abs(float(step @ p)) < 1e-4 * length * float(p.norm())  # away from the parent, not along it
    for a, b in itertools.combinations(steps, 2):
        assert abs(float(a @ b)) < 1e-4 * length**2  # so siblings are sqrt(2) steps apart
        assert float((a - b).norm()) == pytest.approx(math.sqrt(2) * length, rel=1e-4)


def test_a_variation_depends_on_its_recipe_alone():
    parent = creative.seed_recipe(7)
    v2 = creative.vary(parent, 2, 0.5)
    assert torch.equal(_latent(v2), _latent(creative.parse(v2.to_json())))
    assert v2.to_json() == {"vary": {"seed": 7}, "index": 2, "step": 0.5}
    assert torch.equal(_latent(creative.vary(parent, 3, 0.0)), _latent(parent))  # step 0 is the parent
    assert not torch.equal(_latent(creative.vary(parent, 5, 0.5)), _latent(v2))  # the next group of siblings


def test_a_variation_of_the_earlier_kind_draws_as_before():
    # Stored identities name these; the numbers are what the earlier code drew for them.
    old = creative.parse({"vary": {"seed": 7}, "index": 2, "strength": 0.3})
    assert old.to_json() == {"vary": {"seed": 7}, "index": 2, "strength": 0.3}
    assert _latent(old)[:4].tolist() == pytest.approx([-0.764425, 0.214864, 1.163686, -1.213798], abs=1e-6)
    nested = creative.parse(
        {"vary": {"vary": {"seed": 7}, "index": 1, "strength": 0.5}, "index": 3, "strength": 0.3}
    )
    assert _latent(nested)[:4].tolist() == pytest.approx([-0.828524, 0.209219, 1.788132, -1.565637], abs=1e-6)


@pytest.mark.parametrize(
    "raw",
    [
        {"vary": {"seed": 1}, "index": 1, "step": 1.5},
        {"vary": {"seed": 1}, "index": 0, "step": 0.5},
        {"vary": {"seed": 1}, "index": 1, "step": 0.5, "strength": 0.5},
    ],
)
def test_a_malformed_step_is_refused_with_the_allowed_shape(raw):
    with pytest.raises(creative.RecipeError):
        creative.parse(raw)
