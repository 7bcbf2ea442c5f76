"""Tests for syncd.core.fanout: a bounded pool that a signal stops without waiting out any pause."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from syncd import exits
from syncd.core import timebox
from syncd.core.fanout import fan_out
from syncd.errors import Interrupted


def test_results_come_back_in_order_with_at_most_concurrency_at_once() -> None:
    """Items are processed by a bounded pool and their results keep the input order."""
    lock = threading.Lock()
    active, peak = 0, 0

    def work(n: int) -> int:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        timebox.sleep(0.01)
        with lock:
            active -= 1
        return n * n

    stop = threading.Event()
    assert fan_out(work, list(range(10)), concurrency=3, stop=stop) == [n * n for n in range(10)]
    assert 1 <= peak <= 3 and not stop.is_set()


@pytest.mark.timeout(60)
def test_sigterm_wakes_the_workers_sleeping_in_their_box() -> None:
    """SIGTERM to the process during a cycle: every worker sleeping an hour fails Interrupted."""
    stop = threading.Event()
    sleeping = threading.Barrier(3)
    ended: list[int] = []

    def work(n: int) -> str:
        with timebox.scope(None, stop=stop):
            sleeping.wait(10)
            try:
                timebox.sleep(3600)  # a limiter waiting out a server's pause
            except Interrupted:
                ended.append(n)
                raise
        return "slept"

    def terminate() -> None:
        # This thread must not take the signal itself: only syncd's threads are in the race.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        sleeping.wait(10)
        time.sleep(0.1)  # let the main thread get back to waiting for results
        os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=terminate)
    with exits.sigterm_interrupts(), pytest.raises(exits.Terminated):
        killer.start()
        fan_out(work, [0, 1], concurrency=2, stop=stop)
    killer.join()
    assert stop.is_set() and sorted(ended) == [0, 1]


def test_an_interruption_in_line_sets_stop_too() -> None:
    """With one item (no pool) an interruption still marks the work as stopping."""
    stop = threading.Event()

    def work(_n: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fan_out(work, [1], concurrency=8, stop=stop)
    assert stop.is_set()


def test_an_ordinary_error_does_not_stop_the_other_work() -> None:
    """A bug raising from one item is passed on, but does not mark the work as stopping."""
    stop = threading.Event()

    def work(n: int) -> int:
        if n == 1:
            raise ValueError("bug")
        return n

    with pytest.raises(ValueError, match="bug"):
        fan_out(work, [0, 1, 2], concurrency=2, stop=stop)
    assert not stop.is_set()
