"""Tests for syncd.daemon.heap: what a reload frees is collected and handed back to the OS."""

from __future__ import annotations

import gc
import platform
import weakref

import pytest

from syncd.daemon import heap


class Node:
    """An object that can be part of a reference cycle."""

    def __init__(self) -> None:
        self.other: Node | None = None


def test_release_collects_the_cycles_an_old_runtime_left() -> None:
    """Objects kept alive only by a reference cycle are gone after release()."""
    enabled = gc.isenabled()
    gc.disable()  # so that only release() can collect the cycle
    try:
        a, b = Node(), Node()
        a.other, b.other = b, a
        alive = weakref.ref(a)
        del a, b
        assert alive() is not None
        heap.release()
        assert alive() is None
    finally:
        if enabled:
            gc.enable()


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_on_glibc_the_free_pages_are_trimmed() -> None:
    """Where the C library is glibc, release() finds its malloc_trim and calls it without error."""
    trim = heap._malloc_trim()
    assert trim is not None
    heap.release()
