"""Unit tests for syncd.testing.neon: the Neon stand-in's API, resets and operations, over a real PostgreSQL."""

from __future__ import annotations

import threading
import time

from syncd.testing.neon import FakeNeon
from tests.support.neonfake import provider, target


def test_threads_do_not_leak(api: FakeNeon) -> None:
    """Closing the fake cancels pending operation timers."""
    api.operation_delay = 30
    provider(api).reset_password(target(), "app")
    before = threading.active_count()
    api.close()
    time.sleep(0.05)
    assert threading.active_count() < before
