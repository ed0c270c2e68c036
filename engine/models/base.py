"""What every generator family provides, so one training loop, one checkpoint format and
one service serve them all.

A family module (``engine/models/<name>.py``) defines:

* ``Arch`` — a frozen dataclass of architecture kwargs with defaults (saved in model.json);
* ``Generator(arch, c_dim, resolution)`` — an ``nn.Module`` with ``z_dim`` and
  ``forward(z, c, truncation=1.0) -> images`` in [-1, 1], shape (B, 3, R, R). It must be
  a pure function of its inputs in eval mode (no batch-dependent statistics, constant
  noise), so a seed gives the same pixels alone or inside any batch;
* ``Trainer(G, arch, c_dim, resolution, hyper, device)`` — a ``GANTrainer`` that owns the
  discriminator, the optimizers and the losses.

and registers ``FAMILY = Family(name, Arch, Generator, Trainer)``.
"""

from __future__ import annotations

import abc
import contextlib
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from engine.augment import AugmentSpec, build_augment
from engine.errors import MascotError


@dataclass(frozen=True)
class Hyper:
    """Training hyper-parameters the loop passes to a family's trainer.

    ``None`` means "the family's own default" (each paper has its own).
    """

    batch_size: int = 32
    lr_g: float | None = None
    lr_d: float | None = None
    total_kimg: float = 100.0
    freeze_d_layers: int = 0  # FreezeD: keep the discriminator's first N blocks fixed (fine-tuning)
    augment: str = ""  # what D's input goes through: ada | diffaugment | none; "" = the family's default


@dataclass
class Batch:
    """One training step's inputs.

    ``real``: images in [-1, 1]; ``c``: their conditioning vectors; ``sample_c(n)``: draws
    conditioning vectors for fakes from the data's label distribution; ``sample_z(n)``:
    latents; ``amp``: a context manager factory for mixed precision (no-op on CPU).
    """

    real: torch.Tensor
    c: torch.Tensor
    sample_c: Callable[[int], torch.Tensor]
    sample_z: Callable[[int], torch.Tensor]
    amp: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
    kimg: float = 0.0


class GANTrainer(abc.ABC):
    """Owns D, both optimizers and the losses of one family.

    Every image D sees goes through ``self.augment`` first (engine/augment/modes.py), and D's
    real logits of each D step go to ``self.augment.observe``.
    """

    # ADA for families without a differentiable-augmentation tradition: its p starts at 0
    # and rises only while D overfits, so on plenty of data a run trains as it did without
    # augmentation and on 300 pictures the augmentation switches itself on; DiffAugment
    # transforms every image at full strength from the first step, a regime these
    # families' published settings were never tuned for.
    DEFAULT_AUGMENT = "ada"

    def __init__(
        self, G: nn.Module, arch, c_dim: int, resolution: int, hyper: Hyper, device: torch.device
    ) -> None:
        self.G = G
        self.arch = arch
        self.c_dim = c_dim
        self.resolution = resolution
        self.hyper = hyper
        self.device = device
        mode = hyper.augment or self.DEFAULT_AUGMENT
        self.augment = build_augment(mode, self.augment_spec(), hyper.total_kimg)

    def augment_spec(self) -> AugmentSpec:
        """The details of the augment modes: the defaults, unless the family's arch records its own."""
        return AugmentSpec()

    @abc.abstractmethod
    def step(self, batch: Batch) -> dict[str, float | torch.Tensor]:
        """One optimisation step (D and/or G); returns scalar losses and stats for logging,
        as floats or 0-d tensors (tensors let the loop read them without a sync per step)."""

    @abc.abstractmethod
    def modules(self) -> dict[str, nn.Module]:
        """Trainable modules besides G to save for resuming, e.g. ``{"D": self.D}``."""

    @abc.abstractmethod
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Optimizers to save for resuming, e.g. ``{"opt_g": ..., "opt_d": ...}``."""

    def extra_state(self) -> dict[str, float]:
        """Scalars to resume with: the augmentation's (ADA's p), and a family's own (an lr
        scheduler's step...) in an override that extends this one."""
        return self.augment.state()

    def load_extra_state(self, state: dict[str, float]) -> None:
        """Restore what ``extra_state`` saved."""
        self.augment.load_state(state)


@dataclass(frozen=True)
class Family:
    name: str
    Arch: type
    Generator: type
    Trainer: type
    # A recorded arch (model.json, resume.json) must rebuild the network it was trained as,
    # whatever today's defaults are. ``unrecorded``: the value of each field that files written
    # before the field existed were trained with. ``retired``: settings no longer offered,
    # with the one value under which a recorded arch still builds (the setting switched off).
    unrecorded: Mapping[str, Any] = field(default_factory=dict)
    retired: Mapping[str, Any] = field(default_factory=dict)
    # Arch settings that change how the trained weights are served, not the weights themselves:
    # ``export --serve`` may set them on a trained model (``served_values``).
    served: tuple[str, ...] = ()

    def arch_values(self, values: Mapping[str, Any], source: str) -> dict[str, Any]:
        """``values`` as this family's Arch fields' types, or a clear error naming ``source``
        ("--arch", or the model.json they were read from). A frozen dataclass checks
        neither names nor types, and a stray string "false" would read as true."""
        if not isinstance(values, Mapping):
            raise MascotError(f"{source} must be a table of settings, got {type(values).__name__}")
        hints = typing.get_type_hints(self.Arch)
        unknown = sorted(set(values) - set(hints))
        if unknown:
            raise MascotError(
                f"unknown {source} setting(s) {', '.join(unknown)} for {self.name}; "
                f"known: {', '.join(sorted(hints))}"
            )
        return {name: typed_arch_value(name, value, hints[name], source) for name, value in values.items()}

    def served_values(self, values: Mapping[str, Any], source: str) -> dict[str, Any]:
        """``arch_values`` of settings an export may change: only those in ``served``."""
        other = sorted(set(values) - set(self.served))
        if other:
            offered = ", ".join(self.served) if self.served else "none"
            raise MascotError(
                f"{source} sets only how a {self.name} model's weights are served ({offered}); "
                f"{', '.join(other)} would need the network trained again (train --arch)"
            )
        return self.arch_values(values, source)

    def recorded_values(self, values: Mapping[str, Any], source: str) -> dict[str, Any]:
        """``arch_values`` of an arch read from a file: fields it predates take the values it
        was trained with, and a retired setting is accepted only switched off."""
        if not isinstance(values, Mapping):
            raise MascotError(f"{source} must be a table of settings, got {type(values).__name__}")
        kept = dict(values)
        for name, off in self.retired.items():
            if name in kept and kept.pop(name) != off:
                raise MascotError(
                    f"{source} uses {name}={values[name]!r}, a setting this engine no longer "
                    f"has (only {name}={off!r} can be built)"
                )
        return self.arch_values({**self.unrecorded, **kept}, source)


_BOOL_WORDS = {
    "true": True,
    "yes": True,
    "on": True,
    "1": True,
    "false": False,
    "no": False,
    "off": False,
    "0": False,
}


def typed_arch_value(name: str, value: Any, hint: Any, source: str = "--arch") -> Any:
    """One Arch value as its field's type. Values arrive as JSON, Python literals or bare
    words (``--arch g_tanh=false`` is the word "false")."""
    if hint is bool:
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in _BOOL_WORDS:
            return _BOOL_WORDS[word]
        raise MascotError(f"{source} {name} takes true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise MascotError(f"{source} {name} takes a whole number, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise MascotError(f"{source} {name} takes a number, got {value!r}")
    if hint is str:
        return str(value)
    # Tuple fields (per-resolution channel counts, attribute block sizes); JSON gives lists.
    item = typing.get_args(hint)[0] if typing.get_args(hint) else None
    if isinstance(value, (list, tuple)) and all(_is_a(v, item) for v in value):
        return tuple(float(v) for v in value) if item is float else tuple(value)
    raise MascotError(f"{source} {name} takes a tuple like (1, 2), got {value!r}")


def _is_a(value: Any, kind: Any) -> bool:
    if isinstance(value, bool):
        return kind is None
    return kind is None or isinstance(value, (int, float) if kind is float else kind)


def requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Temporarily stop gradients into ``module``'s parameters (e.g. D during the G step)."""
    flags = [p.requires_grad for p in module.parameters()]
    requires_grad(module, False)
    try:
        yield
    finally:
        for p, f in zip(module.parameters(), flags):
            p.requires_grad_(f)
