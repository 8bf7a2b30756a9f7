"""Handing memory the process freed back to the operating system.

CPython returns its small-object arenas when they empty, but glibc's malloc keeps
what larger blocks (fetched record batches, encoded state, dict and list storage)
freed inside its heaps, so a worker that read a backlog stays at its peak. glibc's
`malloc_trim(0)` gives those free pages back (madvise). Elsewhere (musl, macOS) it
does not exist and nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time
from collections.abc import Callable
from typing import Final


def _find_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_TRIM: Final = _find_trim()


def can_release() -> bool:
    """Whether this C library can hand free memory back (glibc)."""
    return _TRIM is not None


def release_free_memory() -> float | None:
    """Hand the C allocator's free memory back to the OS; the seconds it took, or None
    where this C library cannot."""
    if _TRIM is None:
        return None
    started = time.perf_counter()
    _TRIM(0)
    return time.perf_counter() - started

