"""Node.js >= 18 and npm build the DiceBear and emoji data sets (README, "Set up"). A
machine without them skips the tests that build such data, saying why, instead of erroring."""

import re
import shutil
import subprocess

import pytest

MIN_NODE = 18
REASON = (
    f"needs Node.js >= {MIN_NODE} and npm on PATH: `mascot-engine data dicebear` and `data emoji` "
    "build their data with them (README, Set up)"
)


def node_major() -> int | None:
    """The major version of the ``node`` on PATH, or None when there is none that answers."""
    node = shutil.which("node")
    if node is None:
        return None
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.match(r"v(\d+)\.", out.strip())
    return int(found.group(1)) if found else None


def have_node() -> bool:
    major = node_major()
    return major is not None and major >= MIN_NODE and shutil.which("npm") is not None


HAVE_NODE = have_node()
needs_node = pytest.mark.skipif(not HAVE_NODE, reason=REASON)


def require_node() -> None:
    """Skip the calling test or fixture when Node.js >= 18 and npm are missing."""
    if not HAVE_NODE:
        pytest.skip(REASON)
