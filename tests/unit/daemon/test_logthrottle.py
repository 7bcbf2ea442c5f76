"""Tests for syncd.daemon.logthrottle: one line per key per period, on a fake clock."""

from __future__ import annotations

import threading

import pytest

from syncd.daemon.logthrottle import LogThrottle


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_first_occurrence_is_admitted_and_repeats_within_the_period_are_counted() -> None:
    """The first occurrence passes with 0 suppressed; the next ones within the period are dropped."""
    clock = FakeClock()
    throttle = LogThrottle(60.0, clock=clock)
    assert throttle.admit("a") == 0
    clock.now += 59.9
    assert [throttle.admit("a") for _ in range(3)] == [None, None, None]


def test_after_the_period_the_next_occurrence_carries_the_suppressed_count() -> None:
    """Once the period has passed, the next occurrence is admitted with the count dropped meanwhile."""
    clock = FakeClock()
    throttle = LogThrottle(60.0, clock=clock)
    throttle.admit("a")
    for _ in range(5):
        clock.now += 10
        throttle.admit("a")
    clock.now += 10  # 60 s after the admitted one
    assert throttle.admit("a") == 5
    clock.now += 1
    assert throttle.admit("a") is None
    clock.now += 60
    assert throttle.admit("a") == 1


def test_keys_are_throttled_independently() -> None:
    """Each key has its own period and its own count."""
    clock = FakeClock()
    throttle = LogThrottle(60.0, clock=clock)
    assert throttle.admit("a") == 0
    assert throttle.admit("b") == 0
    assert throttle.admit("a") is None
    clock.now += 60
    assert throttle.admit("b") == 0
    assert throttle.admit("a") == 1


def test_forget_admits_the_next_occurrence_at_once() -> None:
    """A forgotten key starts afresh: admitted at once, with nothing suppressed."""
    clock = FakeClock()
    throttle = LogThrottle(60.0, clock=clock)
    throttle.admit("a")
    throttle.admit("a")
    throttle.forget("a")
    assert throttle.admit("a") == 0


def test_period_must_be_positive() -> None:
    """A period of zero or less is refused."""
    with pytest.raises(ValueError, match="positive"):
        LogThrottle(0)


def test_concurrent_callers_admit_exactly_one_per_period() -> None:
    """Many threads hitting one key in one period: one is admitted, every other one is counted."""
    clock = FakeClock()
    throttle = LogThrottle(60.0, clock=clock)
    results: list[int | None] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def hammer() -> None:
        start.wait()
        for _ in range(500):
            got = throttle.admit("a")
            with lock:
                results.append(got)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(0) == 1
    assert results.count(None) == 8 * 500 - 1
    clock.now += 60
    assert throttle.admit("a") == 8 * 500 - 1
