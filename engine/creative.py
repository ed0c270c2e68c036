"""Latent recipes: variations around a mascot and the fusion of two, as pure, repeatable math.

A recipe names a latent without storing it, so any picture of the creative loop can be
drawn again from its identity (recipe + attributes + truncation + model version):

    {"seed": 42}                                       the seed's own latent (as /v1/generate)
    {"vary": RECIPE, "index": 2, "step": 0.5}          variation 2 of RECIPE
    {"fuse": [RECIPE_A, RECIPE_B], "mix": 0.5}         a child of two recipes
    {"z": [0.12, -1.3, ...]}                           a latent given in full (a picture's, from /v1/invert)

A variation steps from the parent's latent along a direction of its own:
z = z_parent + STEP_GAIN * step * u, with u as long as a standard normal latent (sqrt(z_dim)),
orthogonal to the parent and to the directions of the lower indices of its group of
SIBLINGS (V1-V4, V5-V8, ...), so siblings move apart as much as each moves from the parent.
The directions come from noise seeded by the parent's canonical text and the index, so V2
of the same parent is always the same picture and V2 of a variation moves somewhere new.
The shipped generator draws much the same picture for any latent of a standard normal's
length, so the step leaves that sphere on purpose: the length is what makes siblings differ
(EfficientNet-Lite0 feature distance, parent 6.9 and siblings 8.1 apart at step 0.4, where a
random seed with the same attributes is 8.4 away). ``{"vary": ..., "strength": s}`` names a variation of the
earlier kind, which turned the latent toward the noise instead
(z = sqrt(1 - s^2) z_parent + s n); it is still drawn as it was. A fusion spherically
interpolates the two latents; for style-based generators (a mapping network per layer)
it mixes styles instead: the coarse layers from A, the fine ones from B, the cut set by
``mix`` (Karras et al. 2019, §3.1). Recipes nest: a variation of a fused child is fine.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from engine.errors import MascotError, shown
from engine.sampling import MAX_SEED, check_seed, latent, to_uint8
from engine.schema import Schema

MAX_DEPTH = 32  # pick -> V -> pick -> V ... chains; deeper recipes are refused, not recursed into
MAX_INDEX = 1000
STEP_GAIN = 2.0  # step 0.5 moves one standard-normal length; the served default, 0.4, 0.8 of one
SIBLINGS = 4  # variations whose directions are orthogonal to each other: indices 1-4, 5-8, ...


class RecipeError(MascotError):
    """A latent recipe that is malformed; the message shows the allowed shape."""


@dataclass(frozen=True)
class Recipe:
    """One node of a latent recipe. ``amount`` is the strength of a variation or the mix of a fusion."""

    kind: str  # seed | step | vary (the earlier, turning kind) | fuse | z
    seed: int = 0
    parts: tuple[Recipe, ...] = ()
    index: int = 0
    amount: float = 0.0
    values: tuple[float, ...] = ()  # the latent of a "z" recipe, float32 values

    def to_json(self) -> dict[str, Any]:
        if self.kind == "seed":
            return {"seed": self.seed}
        if self.kind == "z":
            return {"z": list(self.values)}
        if self.kind == "step":
            return {"vary": self.parts[0].to_json(), "index": self.index, "step": self.amount}
        if self.kind == "vary":
            return {"vary": self.parts[0].to_json(), "index": self.index, "strength": self.amount}
        return {"fuse": [p.to_json() for p in self.parts], "mix": self.amount}

    @property
    def key(self) -> str:
        """Canonical text: equal recipes have equal keys (used for ids, caches and noise seeds)."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))

    @property
    def root_seed(self) -> int:
        """The seed the recipe starts from (the first parent's, for a fusion; 0 for a given latent)."""
        if self.kind in ("seed", "z"):
            return self.seed
        return self.parts[0].root_seed


def seed_recipe(seed: int) -> Recipe:
    return Recipe("seed", seed=check_seed(seed))


def vary(parent: Recipe, index: int, strength: float) -> Recipe:
    """Variation ``index`` of ``parent``, a step of ``strength`` (0: the parent's latent) away."""
    return Recipe("step", parts=(parent,), index=_index(index), amount=_unit("strength", strength))


def turned(parent: Recipe, index: int, strength: float) -> Recipe:
    """A variation of the earlier kind (stored identities name them; new ones are ``vary``'s)."""
    return Recipe("vary", parts=(parent,), index=_index(index), amount=_unit("strength", strength))


def fuse(a: Recipe, b: Recipe, mix: float = 0.5) -> Recipe:
    return Recipe("fuse", parts=(a, b), amount=_unit("mix", mix))


def _loads(text: str) -> Any:
    """A recipe given as JSON text; every refusal is a RecipeError saying what is allowed."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise RecipeError(f"{SHAPE}; got text that is not JSON") from None
    except RecursionError:
        raise RecipeError(f"{SHAPE}; got JSON text nested too deeply") from None
    except ValueError:  # Python's int-string limit: a number of thousands of digits
        raise RecipeError(f"{SHAPE}; got JSON text with a number too long to read") from None


def _unit(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise RecipeError(f"{name} must be a number from 0 to 1, got {shown(value)}")
    return round(float(value), 4)  # 4 digits: 0.3 and 0.30000000000000004 are one identity


def _index(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_INDEX:
        raise RecipeError(
            f"a variation index must be a whole number from 1 to {MAX_INDEX}, got {shown(value)}"
        )
    return value


SHAPE = (
    'a latent recipe is {"seed": N}, {"vary": RECIPE, "index": 1-1000, "step": 0-1}, '
    '{"fuse": [RECIPE, RECIPE], "mix": 0-1} or {"z": [the model\'s z_dim numbers]}'
)
Z_LIMIT = 8.0  # no coordinate of a given latent is larger (a standard normal's is < 6)
MAX_Z_DIM = 1024


def given_latent(values: Any) -> Recipe:
    """A "z" recipe: finite float32 numbers within +-Z_LIMIT (checked against z_dim when drawn)."""
    ok = (
        isinstance(values, list)
        and 1 <= len(values) <= MAX_Z_DIM
        and all(
            isinstance(v, (int, float))
            and not isinstance(v, bool)
            and abs(v) <= Z_LIMIT  # False for NaN and inf
            for v in values
        )
    )
    if not ok:
        raise RecipeError(f"'z' must be a list of at most {MAX_Z_DIM} finite numbers within +-{Z_LIMIT:g}")
    return Recipe("z", values=tuple(float(v) for v in np.asarray(values, dtype=np.float32)))


def parse(raw: Any, depth: int = 0) -> Recipe:
    """A recipe from its JSON form (an int is a plain seed); RecipeError names what is allowed."""
    if depth > MAX_DEPTH:
        raise RecipeError(f"a latent recipe may nest at most {MAX_DEPTH} levels")
    if isinstance(raw, str):
        raw = _loads(raw)  # a string holding a string holding ... is one level each, so MAX_DEPTH bounds it
        if isinstance(raw, str):
            return parse(raw, depth + 1)
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = {"seed": raw}
    if not isinstance(raw, dict):
        raise RecipeError(f"{SHAPE}; got {shown(raw)}")
    if "seed" in raw and len(raw) == 1:
        seed = raw["seed"]
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
            raise RecipeError(
                f"a recipe's seed must be a whole number from 0 to {MAX_SEED}, got {shown(seed)}"
            )
        return seed_recipe(seed)
    if "z" in raw and len(raw) == 1:
        return given_latent(raw["z"])
    if "vary" in raw and set(raw) <= {"vary", "index", "step"} and "step" in raw:
        return vary(parse(raw["vary"], depth + 1), raw.get("index"), raw["step"])
    if "vary" in raw and set(raw) <= {"vary", "index", "strength"}:
        return turned(parse(raw["vary"], depth + 1), raw.get("index"), raw.get("strength"))
    if "fuse" in raw and set(raw) <= {"fuse", "mix"}:
        parts = raw["fuse"]
        if not isinstance(parts, list) or len(parts) != 2:
            raise RecipeError(f"{SHAPE}; 'fuse' takes exactly two recipes")
        return fuse(parse(parts[0], depth + 1), parse(parts[1], depth + 1), raw.get("mix", 0.5))
    raise RecipeError(f"{SHAPE}; got keys {shown(sorted(raw))}")


# --- the math --------------------------------------------------------------------------


def _noise(recipe: Recipe, z_dim: int, index: int | None = None) -> torch.Tensor:
    digest = hashlib.sha256(
        f"{recipe.parts[0].key}#{recipe.index if index is None else index}".encode()
    ).digest()
    return torch.randn(z_dim, generator=torch.Generator().manual_seed(int.from_bytes(digest[:8], "big") >> 1))


def _direction(recipe: Recipe, parent: torch.Tensor) -> torch.Tensor:
    """A step's direction, sqrt(z_dim) long: its noise made orthogonal (Gram-Schmidt, in float64) to
    the parent latent and to the directions of the lower indices of its group of SIBLINGS. It depends
    on the recipe alone, so V2 is the same picture alone or among four."""
    z_dim = parent.shape[-1]
    basis = [parent.double() / parent.double().norm()] if float(parent.norm()) > 0 else []
    first = (recipe.index - 1) // SIBLINGS * SIBLINGS + 1
    for index in range(first, recipe.index + 1):
        v = _noise(recipe, z_dim, index).double()
        for b in basis:
            v = v - (v @ b) * b
        basis.append(v / v.norm())
    return (basis[-1] * math.sqrt(z_dim)).float()


def _slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    na, nb = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    if float(torch.minimum(na, nb).min()) < 1e-6:
        # A zero latent has no direction: dividing by its norm would give NaN and a black picture.
        return a + t * (b - a)
    omega = torch.arccos((a / na * b / nb).sum(-1, keepdim=True).clamp(-1, 1))
    if float(torch.sin(omega).abs().min()) < 1e-4:  # the same or opposite directions: no arc to follow
        return a + t * (b - a)
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def layer_latents(recipe: Recipe, z_dim: int, layers: int = 1) -> torch.Tensor:
    """(layers, z_dim): one latent per style layer (``layers`` = 1 without a mapping network)."""
    if recipe.kind == "seed":
        return latent(recipe.seed, z_dim).expand(layers, z_dim).clone()
    if recipe.kind == "z":
        if len(recipe.values) != z_dim:
            raise RecipeError(f"the latent has {len(recipe.values)} numbers; this model takes {z_dim}")
        return torch.tensor(recipe.values, dtype=torch.float32).expand(layers, z_dim).clone()
    if recipe.kind == "step":
        parent = layer_latents(recipe.parts[0], z_dim, layers)
        return parent + STEP_GAIN * recipe.amount * _direction(recipe, parent[0])
    if recipe.kind == "vary":
        parent = layer_latents(recipe.parts[0], z_dim, layers)
        s = recipe.amount
        return math.sqrt(1.0 - s * s) * parent + s * _noise(recipe, z_dim)
    a, b = (layer_latents(p, z_dim, layers) for p in recipe.parts)
    if layers > 1:
        cut = layers - round(recipe.amount * layers)  # mix 0: all A; mix 1: all B
        return torch.cat([a[:cut], b[cut:]])
    return _slerp(a, b, recipe.amount)


def style_layers(G: nn.Module) -> int:
    """How many per-layer latents ``G`` takes: its mapping network's outputs, else 1."""
    return int(G.num_ws) if hasattr(G, "mapping") and hasattr(G, "synthesis") and hasattr(G, "num_ws") else 1


@torch.no_grad()
def render(
    G: nn.Module,
    schema: Schema,
    items: Sequence[tuple[Recipe, Mapping[str, str]]],
    truncation: float = 1.0,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Pixels (B, H, W, 3) of (recipe, full attributes) pairs, one sample per forward pass: CPU
    kernels round differently at other batch sizes, and V2 must be the same bytes alone or among
    four. A plain seed recipe draws what the generator draws for that seed."""
    layers = style_layers(G)
    dtype = next(G.parameters()).dtype
    out = []
    for recipe, attrs in items:
        z = layer_latents(recipe, G.z_dim, layers)[None].to(device, dtype)
        c = torch.from_numpy(schema.encode(attrs)[None]).to(device, dtype)
        if layers == 1:
            out.append(G(z[:, 0], c, truncation=truncation))
        else:  # a mapping pass per layer latent: each layer's style from its own latent
            ws = torch.stack([G.mapping(z[:, i], c, truncation)[:, i] for i in range(layers)], dim=1)
            out.append(G.synthesis(ws))
    return to_uint8(torch.cat(out))


def fused_attributes(
    schema: Schema, a: Mapping[str, str], b: Mapping[str, str], chosen: Mapping[str, str], draw_seed: int
) -> tuple[dict[str, str], dict[str, str]]:
    """Each attribute from one parent: ``chosen`` ({"hair": "a"}) where the user fixed it, else a
    fair coin seeded by ``draw_seed``. Returns (attributes, which parent each came from)."""
    rng = np.random.default_rng(
        [check_seed(draw_seed), 0x46555345]
    )  # "FUSE": apart from the seed's attribute draw
    attrs, source = {}, {}
    for name in schema.names:
        coin = (
            "a" if rng.random() < 0.5 else "b"
        )  # drawn for every attribute, so fixing one leaves the rest alone
        pick = chosen.get(name, coin)
        value = (a if pick == "a" else b).get(name)
        if value is not None:  # a parent drawn from an unlabelled training row may leave one unset
            attrs[name], source[name] = value, pick
    return attrs, source
