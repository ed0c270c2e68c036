"""The bot's settings: config.toml's [bot] and [store] sections as one frozen dataclass.

Secrets never live here: the Discord token is read from the DISCORD_TOKEN environment
variable by the Discord front-end alone.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

IMAGE_FORMATS = ("png", "jpeg")  # what every chat shows and the engine encodes
RATE_LIMIT_FIELDS = (
    "rate_limit_burst",
    "rate_limit_per_minute",
    "web_rate_limit_burst",
    "web_rate_limit_per_minute",
)


def rate_limit_value(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"[bot] {name} must be a number, 0 or more (0: no limit), got {value!r}")
    return int(value) if name.endswith("burst") else float(value)


@dataclass(frozen=True)
class BotConfig:
    engine_url: str = "http://127.0.0.1:8700"
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    rate_limit_burst: int = 10  # image commands a user may send in a row (0: no limit) ...
    rate_limit_per_minute: float = 4.0  # ... and how fast that allowance refills
    web_rate_limit_burst: int = 30  # the same for the local web chat
    web_rate_limit_per_minute: float = 20.0
    admins: tuple[str, ...] = ()
    shards: int = 0
    engine_timeout_s: float = 60.0
    web_admin: bool = True
    sync_commands: bool = True
    image_size: int = 512  # side of the posted pictures: the largest size the model offers up to this
    image_format: str = "png"  # png (lossless) or jpeg (a twentieth of the encode time at 512 px)
    store_path: str = "mascotbot.db"
    store_synchronous: str = "FULL"

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides: Any) -> BotConfig:
        """Read ``path`` (default ./config.toml, skipped when absent), then apply ``overrides``."""
        file = Path(path or "config.toml")
        data: dict[str, Any] = {}
        if file.exists():
            with file.open("rb") as fh:
                raw = tomllib.load(fh)
            data.update(raw.get("bot", {}))
            store = raw.get("store", {})
            if "path" in store:
                data["store_path"] = store["path"]
            if "synchronous" in store:
                data["store_synchronous"] = store["synchronous"]
        elif path is not None:
            raise FileNotFoundError(f"no settings file at {file}")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "admins" in values:
            values["admins"] = tuple(str(a) for a in values["admins"])
        if "image_size" in values:
            values["image_size"] = int(values["image_size"])
        image_format = values.get("image_format", "png")
        if image_format not in IMAGE_FORMATS:
            raise ValueError(
                f"[bot] image_format must be one of {', '.join(IMAGE_FORMATS)}, got {image_format!r}"
            )
        for name in RATE_LIMIT_FIELDS:
            if name in values:
                values[name] = rate_limit_value(name, values[name])
        return replace(cls(**values), **{k: v for k, v in overrides.items() if v is not None})
