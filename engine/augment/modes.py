"""One object per run that augments every image a discriminator sees, whatever the family.

A trainer passes reals and fakes alike through ``augment(images)`` right before D, in the D
step, the G step and a gradient penalty's own D call (the penalty's gradient is taken with
respect to the images before augmentation, as StyleGAN2-ADA takes R1's), reports D's real
logits with ``observe`` after each D step, and logs ``stats()``. ``state()`` and
``load_state()`` carry what the mode learned across a resume. The modes:

* ``ada``: ADA's pipeline (ada.py, Karras et al. 2020) at a probability p tuned online:
  p stays at 0 while D does not overfit and rises while it does;
* ``diffaugment``: DiffAugment's policies (diffaugment.py, Zhao et al. 2020), every image,
  full strength, from the first step;
* ``none``: D sees the images as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.augment.ada import AdaController, AugmentPipe, parse_ops
from engine.augment.diffaugment import diff_augment, parse_policy
from engine.errors import MascotError

# ADA's ops when a family records none: geometry plus brightness and contrast. Hue,
# saturation and the luma flip are left out because colours are labels here (hair, eyes,
# skin): a discriminator shown a red-haired real as a blue-haired one cannot teach G colours.
ADA_OPS = "xflip,rotate90,xint,scale,rotate,aniso,xfrac,brightness,contrast"
DIFFAUGMENT_POLICY = "color,translation,cutout"  # the DiffAugment paper's full policy


@dataclass(frozen=True)
class AugmentSpec:
    """The details behind the modes. A family whose arch records its own (stylegan2's
    ``augment``/``ada_target``/``ada_kimg``, projected's ``diffaugment``) passes them."""

    ada_ops: str = ADA_OPS
    ada_target: float = 0.6  # ADA §2.3: the share of positive real logits p steers toward
    ada_kimg: float = 500.0  # p can go 0 -> 1 in this many thousand images (the paper's 500)
    diffaugment: str = DIFFAUGMENT_POLICY


class Augment:
    """The ``none`` mode, and what every mode provides."""

    mode = "none"

    def __init__(self, spec: AugmentSpec, total_kimg: float) -> None:
        pass

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return images

    def observe(self, d_real: torch.Tensor) -> None:
        """D's logits for the (augmented) reals of one D step."""

    def state(self) -> dict[str, float]:
        return {}

    def load_state(self, state: dict[str, float]) -> None:
        pass

    def stats(self) -> dict[str, float]:
        return {}


class AdaAugment(Augment):
    mode = "ada"
    # ADA's 500 kimg is 2 % of its 25,000 kimg runs; on a CPU budget of 30-300 kimg p would
    # barely leave 0 while D memorises a small set, so a shorter run lets p cross 0 -> 1
    # within this share of its length instead.
    RUN_SHARE = 0.25

    def __init__(self, spec: AugmentSpec, total_kimg: float) -> None:
        self.pipe = AugmentPipe(spec.ada_ops)
        speed = min(spec.ada_kimg, total_kimg * self.RUN_SHARE)
        self.controller = AdaController(target=spec.ada_target, speed_kimg=speed)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.pipe(images, self.controller.p)

    def observe(self, d_real: torch.Tensor) -> None:
        self.controller.accumulate(d_real)

    def state(self) -> dict[str, float]:
        return self.controller.state()

    def load_state(self, state: dict[str, float]) -> None:
        self.controller.load_state(state)

    def stats(self) -> dict[str, float]:
        return {"ada_p": self.controller.p, "ada_rt": self.controller.rt}


class DiffAugment(Augment):
    mode = "diffaugment"

    def __init__(self, spec: AugmentSpec, total_kimg: float) -> None:
        self.policy = spec.diffaugment

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return diff_augment(images, self.policy)


_MODES: dict[str, type[Augment]] = {"ada": AdaAugment, "diffaugment": DiffAugment, "none": Augment}
AUGMENT_MODES = tuple(_MODES)


def check_mode(mode: str, source: str = "--augment") -> str:
    """``mode`` if it is a known one, else a clear error naming ``source`` and the known modes."""
    if mode not in _MODES:
        raise MascotError(f"{source} takes {', '.join(AUGMENT_MODES)}; got {mode!r}")
    return mode


def build_augment(mode: str, spec: AugmentSpec = AugmentSpec(), total_kimg: float = 100.0) -> Augment:
    """The run's augmentation; ``total_kimg`` (the run's length) sets how fast ADA's p may move."""
    try:
        parse_ops(spec.ada_ops)
        parse_policy(spec.diffaugment)
    except ValueError as exc:
        raise MascotError(str(exc)) from None
    return _MODES[check_mode(mode)](spec, total_kimg)
