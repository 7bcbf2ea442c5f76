"""Running one function over many targets on a bounded pool, and stopping it on a signal.

The engine (a cycle) and the checker (``syncd check``) fan out the same way:
at most ``concurrency`` targets at once, results in the order given. When the
main thread is interrupted (Ctrl-C, or SIGTERM through
:func:`syncd.exits.sigterm_interrupts`), :func:`fan_out` sets ``stop``: every
worker sleeping in a wait of its target's time box (:mod:`syncd.timebox`: a
rate limiter, a backoff, a poll) wakes at once and fails that target, a worker
in the middle of a request finishes it, and targets not started yet are not
started. The interruption is raised again once the workers are done, so the
pool's shutdown never waits out a pause a server asked for.

Workers block SIGINT and SIGTERM. The kernel may hand a signal sent to the
process to any thread that does not block it, and Python runs the handler in
the main thread only once that thread runs again: had a sleeping worker taken
the signal, the main thread, blocked on a result, would not notice it until
some target ended.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def fan_out(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    concurrency: int,
    stop: threading.Event,
    thread_name_prefix: str = "syncd",
) -> list[R]:
    """``fn`` over ``items``, at most ``concurrency`` at a time; see the module doc."""
    if len(items) <= 1 or concurrency == 1:
        try:
            return [fn(item) for item in items]
        except KeyboardInterrupt:
            stop.set()
            raise
    with ThreadPoolExecutor(
        concurrency, thread_name_prefix=thread_name_prefix, initializer=_leave_signals_to_main
    ) as pool:
        try:
            return list(pool.map(fn, items))
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):  # SIGINT, or SIGTERM as Terminated
                stop.set()
            # Targets in flight finish (each sink write is atomic); the rest never start.
            pool.shutdown(cancel_futures=True)
            raise


def _leave_signals_to_main() -> None:
    """In a worker: block SIGINT and SIGTERM, so the kernel hands them to the main thread."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
