"""Tests for syncd.core.timebox: a target's deadline and the stop event its waits obey."""

from __future__ import annotations

import math
import threading

import pytest

from syncd.core import timebox
from syncd.errors import Interrupted, TargetTimedOut


class Clock:
    """A fake monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_outside_any_scope_there_is_no_deadline_and_no_stop() -> None:
    """Code run outside an engine has all the time it asks for and cannot be stopped."""
    box = timebox.current()
    assert box.left() == math.inf and box.fits(1e9) and not box.stopping
    box.ensure_time()
    box.ensure_running()


def test_a_scope_counts_down_on_its_clock_and_then_refuses() -> None:
    """Time left shrinks with the clock; at the deadline ensure_time raises, naming the box."""
    clock = Clock()
    with timebox.scope(120, name="target app", clock=clock) as box:
        assert timebox.current() is box
        clock.now += 100
        assert box.left() == pytest.approx(20)
        assert box.fits(19) and not box.fits(20)
        clock.now += 20
        with pytest.raises(
            TargetTimedOut, match="target app ran out of its 120 s deadline"
        ) as info:
            box.ensure_time()
    assert info.value.transient
    assert timebox.current().deadline is None  # the scope is gone


def test_a_nested_scope_never_outlives_the_outer_one() -> None:
    """An inner box ends with the outer one at the latest, and inherits its stop event."""
    clock = Clock()
    stop = threading.Event()
    with timebox.scope(10, name="target a", stop=stop, clock=clock):
        with timebox.scope(600, name="rotation", clock=clock) as inner:
            assert inner.left() == pytest.approx(10) and inner.name == "target a"
            assert inner.stop is stop
        with timebox.scope(5, clock=clock) as shorter:
            assert shorter.left() == pytest.approx(5)
        with timebox.scope(None, clock=clock) as unbounded:
            assert unbounded.left() == pytest.approx(10)


def test_sleep_refuses_what_is_not_a_finite_duration() -> None:
    """No sleep of an infinite, not-a-number or negative length is even attempted."""
    for seconds in (math.inf, math.nan, -1.0):
        with pytest.raises(ValueError, match="cannot sleep"):
            timebox.sleep(seconds)


def test_a_set_stop_event_ends_a_sleep_at_once() -> None:
    """A sleep in a box whose stop event is set raises Interrupted instead of sleeping."""
    stop = threading.Event()
    stop.set()
    with timebox.scope(None, stop=stop), pytest.raises(Interrupted, match="syncd is stopping"):
        timebox.sleep(3600)


@pytest.mark.timeout(30)
def test_setting_the_stop_event_wakes_a_sleeping_worker() -> None:
    """A worker sleeping an hour in its box wakes with Interrupted when another thread stops it."""
    stop = threading.Event()
    started = threading.Event()
    raised: list[BaseException] = []

    def worker() -> None:
        with timebox.scope(None, stop=stop):
            started.set()
            try:
                timebox.sleep(3600)
            except Interrupted as exc:
                raised.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    started.wait(10)
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive() and len(raised) == 1


def test_each_thread_has_its_own_box() -> None:
    """A box opened in one worker is not the box of another (contextvars per thread)."""
    seen: list[float | None] = []
    with timebox.scope(10):
        thread = threading.Thread(target=lambda: seen.append(timebox.current().deadline))
        thread.start()
        thread.join()
    assert seen == [None]
