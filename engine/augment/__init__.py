"""Augmentation of what a discriminator sees, the same for every generator family.

With a few hundred pictures a discriminator memorises the set and its feedback to G
stops meaning anything. Augmenting every image it sees, reals and fakes alike, keeps it
from memorising; the transforms are differentiable, so G learns through them and does
not learn to draw them. ``modes.py`` is the one seam every trainer uses; ``ada.py`` and
``diffaugment.py`` are the two pipelines behind it.
"""

from engine.augment.modes import AUGMENT_MODES, Augment, AugmentSpec, build_augment, check_mode

__all__ = ["AUGMENT_MODES", "Augment", "AugmentSpec", "build_augment", "check_mode"]
