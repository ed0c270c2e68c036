"""Generator families, one file each, over the shared blocks in layers.py."""

from __future__ import annotations

import importlib

from engine.errors import MascotError
from engine.models.base import Family

FAMILY_NAMES = ("dcgan", "acgan", "yurugan", "stylegan2", "projected")


def get_family(name: str) -> Family:
    """The family registered as ``name``; a clear error lists the known ones."""
    if name not in FAMILY_NAMES:
        raise MascotError(f"unknown model family '{name}'; known families: {', '.join(FAMILY_NAMES)}")
    return importlib.import_module(f"engine.models.{name}").FAMILY
