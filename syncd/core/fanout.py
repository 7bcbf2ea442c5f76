"""Running one function over many targets on a bounded pool, and stopping it on a signal.

The engine (a cycle) and the checker (``syncd check``) fan out the same way:
at most ``concurrency`` targets at once, results in the order given. When the
main thread is interrupted (Ctrl-C, or SIGTERM through
:func:`syncd.exits.sigterm_interrupts`), :func:`fan_out` sets ``stop``: every
worker sleeping in a wait of its target's time box (:mod:`syncd.core.timebox`: a
rate limiter, a backoff, a poll) wakes at once and fails that target, a worker
in the middle of a request finishes it, and targets not started yet are not
started. The interruption is raised again once the workers are done, so the
pool's shutdown never waits out a pause a server asked for.

With a :class:`Gate` (the engine's bulkheads, :mod:`syncd.core.bulkhead`), items
are queued by the gate's key (a target's provider) and an item starts only
once the gate admits its key; the items not admitted yet wait in their queue,
not in a worker, and the earliest admitted item starts in their place. They
are asked for again each time a worker comes free. A gate admits by returning
the callable that gives the slot back when the item is done.

Workers block SIGINT and SIGTERM. The kernel may hand a signal sent to the
process to any thread that does not block it, and Python runs the handler in
the main thread only once that thread runs again: had a sleeping worker taken
the signal, the main thread, blocked on a result, would not notice it until
some target ended.
"""

from __future__ import annotations

import signal
import threading
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Protocol, TypeVar

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)
R = TypeVar("R")

#: What a gate returns for an item it admits: the callable that frees its slot.
Release = Callable[[], None]


class Gate(Protocol[T_contra]):
    """Admits items by key (say, a target's provider) while the key has a free slot."""

    def key(self, item: T_contra, /) -> Hashable:
        """The key ``item`` is admitted by."""
        ...

    def admit(self, key: Hashable, /) -> Release | None:
        """A slot's release when ``key`` may start one more item now, else None."""
        ...


def fan_out(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    concurrency: int,
    stop: threading.Event,
    thread_name_prefix: str = "syncd",
    gate: Gate[T] | None = None,
) -> list[R]:
    """``fn`` over ``items``, at most ``concurrency`` at a time; see the module doc."""
    if gate is not None and len(items) > 1 and concurrency > 1:
        return _gated(
            fn,
            items,
            concurrency=concurrency,
            stop=stop,
            thread_name_prefix=thread_name_prefix,
            gate=gate,
        )
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


def _gated(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    concurrency: int,
    stop: threading.Event,
    thread_name_prefix: str,
    gate: Gate[T],
) -> list[R]:
    """:func:`fan_out` through a gate: start, in order, whatever the gate admits."""
    queues: dict[Hashable, deque[int]] = {}
    for index, item in enumerate(items):
        queues.setdefault(gate.key(item), deque()).append(index)
    results: dict[int, R] = {}
    running: dict[Future[R], tuple[int, Release]] = {}

    def pick() -> tuple[int, Release] | None:
        # The queue heads in item order: the earliest admitted one starts next.
        heads = sorted((queue[0], key) for key, queue in queues.items() if queue)
        for index, key in heads:
            release = gate.admit(key)
            if release is not None:
                queues[key].popleft()
                return index, release
        if heads and not running:  # nothing admitted and nothing runs: one goes anyway
            index, key = heads[0]
            queues[key].popleft()
            return index, _nothing
        return None

    def start(pool: ThreadPoolExecutor) -> None:
        while len(running) < concurrency and (picked := pick()) is not None:
            index, release = picked
            running[pool.submit(fn, items[index])] = (index, release)

    with ThreadPoolExecutor(
        concurrency, thread_name_prefix=thread_name_prefix, initializer=_leave_signals_to_main
    ) as pool:
        try:
            start(pool)
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    index, release = running.pop(future)
                    release()
                    results[index] = future.result()
                start(pool)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                stop.set()
            for _index, release in running.values():
                release()
            pool.shutdown(cancel_futures=True)
            raise
    return [results[index] for index in range(len(items))]


def _nothing() -> None:
    """The release of an item started without a slot."""


def _leave_signals_to_main() -> None:
    """In a worker: block SIGINT and SIGTERM, so the kernel hands them to the main thread."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
