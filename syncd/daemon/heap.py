"""Giving the memory a reload freed back to the operating system.

A reload replaces every provider and sink (their HTTP clients, TLS contexts,
connection pools) and the targets a new config no longer has. Python frees
those objects, but glibc's allocator keeps the freed pages of its arenas for
reuse, so without help a daemon that is reloaded often shows an RSS that only
grows (about 0.1 MB a reload of 20 targets), which looks like a leak to
whoever watches it. :func:`release` collects the cycles the old runtime left
and asks glibc to return free pages (``malloc_trim``). Where the C library
has no ``malloc_trim`` (musl, macOS) it only collects.
"""

from __future__ import annotations

import ctypes
import gc
from collections.abc import Callable
from functools import cache


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return None
    return trim


def release() -> None:
    """Collect garbage, then return the allocator's free pages to the OS (glibc only)."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
