"""A target's time box: the deadline its whole sync must end by, and the stop signal its waits obey.

Every wait of a sync (a rate limiter's, a retry's backoff, a poll) happens deep
inside a provider or a sink, often inside a vendor SDK's callback (botocore's
``before-send`` event, a ``requests`` transport adapter) that no argument can
reach. So the engine opens a :func:`scope` around each target; it is held in a
:mod:`contextvars` variable of the worker thread that runs the target, and
every wait asks :func:`current` what it may do:

* :meth:`TimeBox.left` is the time until the target's deadline (infinite
  outside a scope). A limiter does not start a wait that would end past it
  (:class:`~syncd.errors.RateLimited`), a retry loop gives up instead of
  sleeping, and once it is spent nothing more is sent
  (:class:`~syncd.errors.TargetTimedOut`).
* :meth:`TimeBox.sleep` waits on the scope's stop event rather than in
  ``time.sleep``. SIGTERM and SIGINT set that event (syncd.core.fanout for a
  one-shot run, syncd.daemon.scheduler for the daemon), so every sleeping worker
  wakes at once and fails with :class:`~syncd.errors.Interrupted`, while a
  worker in the middle of a request finishes it.

One clock per process: a nested scope is compared with the outer one's clock.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from syncd.errors import Interrupted, TargetTimedOut

_INTERRUPTED = "interrupted: syncd is stopping (SIGTERM or SIGINT)"


@dataclass(frozen=True)
class TimeBox:
    """A deadline (a ``clock()`` instant, None: none) and the event that says "stop now"."""

    deadline: float | None = None
    #: The length the box was opened with, and what it bounds, for messages.
    seconds: float | None = None
    name: str = "this sync"
    stop: threading.Event | None = None
    clock: Callable[[], float] = time.monotonic

    @property
    def stopping(self) -> bool:
        """Whether syncd is stopping (the stop event is set)."""
        return self.stop is not None and self.stop.is_set()

    def left(self) -> float:
        """Seconds until the deadline; ``inf`` without one, <= 0 once it passed."""
        if self.deadline is None:
            return math.inf
        return self.deadline - self.clock()

    def fits(self, seconds: float) -> bool:
        """Whether a wait of ``seconds`` would end before the deadline."""
        return seconds < self.left()

    def ensure_time(self) -> None:
        """Raise :class:`TargetTimedOut` once the deadline has passed."""
        if self.left() <= 0:
            raise TargetTimedOut(
                f"{self.name} ran out of its {self.seconds or 0:g} s deadline; "
                "nothing more was sent, retried next run"
            )

    def ensure_running(self) -> None:
        """Raise :class:`Interrupted` once syncd is stopping."""
        if self.stopping:
            raise Interrupted(_INTERRUPTED)

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``; raise :class:`Interrupted` if syncd is stopping, or starts to.

        ``seconds`` must be finite and not negative (callers bound it first).
        """
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"cannot sleep {seconds!r} seconds")
        if self.stop is None:
            time.sleep(seconds)
        elif self.stop.wait(seconds):
            raise Interrupted(_INTERRUPTED)


_CURRENT: ContextVar[TimeBox] = ContextVar("syncd_timebox", default=TimeBox())  # noqa: B039 - immutable


def current() -> TimeBox:
    """The time box of the code running now (one without deadline or stop event outside any)."""
    return _CURRENT.get()


def sleep(seconds: float) -> None:
    """Sleep in the current time box (see :meth:`TimeBox.sleep`); the default ``sleep`` of syncd."""
    _CURRENT.get().sleep(seconds)


@contextlib.contextmanager
def scope(
    seconds: float | None,
    *,
    name: str = "this sync",
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[TimeBox]:
    """Run the block in a time box of ``seconds`` (None: no deadline of its own).

    Inside another box the new one never ends later than the outer one, and
    keeps the outer stop event unless given its own.
    """
    outer = _CURRENT.get()
    deadline = None if seconds is None else clock() + seconds
    if outer.deadline is not None and (deadline is None or outer.deadline < deadline):
        deadline, seconds, name = outer.deadline, outer.seconds, outer.name
    box = TimeBox(deadline, seconds, name, stop if stop is not None else outer.stop, clock)
    token = _CURRENT.set(box)
    try:
        yield box
    finally:
        _CURRENT.reset(token)
