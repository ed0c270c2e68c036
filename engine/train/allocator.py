"""glibc's allocator tuned for training on a CPU, set by the training command itself.

A training step on the CPU allocates and frees the same large activation buffers every step.
With glibc's defaults, buffers above the (dynamic) mmap threshold are mapped and unmapped
each time, and freed heap memory above the trim threshold is handed back to the kernel, so
every step page-faults its working set in again: at 128px a third of the CPU time went to the
kernel. Raising both thresholds keeps the memory in the process (``bench/train_speed.py
--allocator`` measures the difference in one run).

``mallopt`` changes the running process, so the user sets no environment variables; on a
system without glibc (macOS, musl) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
from dataclasses import dataclass

# mallopt's parameter numbers, from glibc's <malloc.h>.
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3


@dataclass(frozen=True)
class AllocatorSettings:
    mmap_threshold: int = 32 * 2**20  # glibc's largest allowed value on 64-bit systems
    trim_threshold: int = 2**30
    top_pad: int = 256 * 2**20


def _libc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") else None


def tune_allocator(settings: AllocatorSettings = AllocatorSettings()) -> bool:
    """Apply ``settings`` to this process's allocator; True when glibc took all three."""
    libc = _libc()
    if libc is None:
        return False
    taken = [
        libc.mallopt(M_MMAP_THRESHOLD, settings.mmap_threshold),
        libc.mallopt(M_TRIM_THRESHOLD, settings.trim_threshold),
        libc.mallopt(M_TOP_PAD, settings.top_pad),
    ]
    return all(result == 1 for result in taken)
