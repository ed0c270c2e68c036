"""The settings file (config.toml): found, parsed and handed out by section.

Command-line flags override it; it overrides the dataclass defaults. Only the engine's
sections are read here; the bot reads its own sections with its own reader.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from engine.errors import MascotError

DEFAULT_PATH = Path("config.toml")


def load_config(path: str | Path | None = None) -> dict[str, Any]:
    """Parse ``path`` (or $MASCOT_CONFIG, or ./config.toml if present; else empty)."""
    explicit = path or os.environ.get("MASCOT_CONFIG")
    candidate = Path(explicit) if explicit else DEFAULT_PATH
    if not candidate.is_file():
        if explicit:
            raise MascotError(f"config file '{candidate}' does not exist")
        return {}
    try:
        return tomllib.loads(candidate.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise MascotError(f"config file '{candidate}' is not valid TOML: {exc}") from None


def section(config: dict[str, Any], name: str) -> dict[str, Any]:
    value = config.get(name, {})
    if not isinstance(value, dict):
        raise MascotError(f"[{name}] in the config file must be a table of settings")
    return value
