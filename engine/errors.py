"""The one error type a user sees: a sentence saying what was wrong and what is allowed.

Commands catch it at the top and print its message (no traceback, exit 2); the HTTP
service turns it into a 4xx. Anything else escaping is a bug.
"""

from __future__ import annotations

import json
from typing import Any


class MascotError(Exception):
    """A problem with the user's input or environment, worded for the user."""


def shown(value: Any, limit: int = 80) -> str:
    """What a user sent, short and printable, for a message; never raises (a 5,000-digit int or
    a structure nested thousands deep cannot be printed, and a NUL byte shows as \\u0000)."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"
