"""Keep a repeating log event to one line per key per period, counting what it held back.

During an outage the same condition repeats many times a second (every job
the scheduler cannot start, every run it is late for). One line per job per
minute says as much, as long as it also says how many were left out: an
admitted event carries ``suppressed``, the number of occurrences dropped for
its key since the previous admitted one.

This only decides; it never sleeps, so it is not a rate limiter for requests
(that is :mod:`syncd.net.ratelimit`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

#: The default period: one line per key per minute.
DEFAULT_PERIOD = 60.0


@dataclass
class _Slot:
    admitted_at: float
    suppressed: int = 0


class LogThrottle:
    """Admit one occurrence per key every ``period`` seconds; thread-safe.

    ``clock`` returns seconds on a monotonic scale (tests pass a fake).
    """

    def __init__(
        self, period: float = DEFAULT_PERIOD, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not period > 0:
            raise ValueError("period must be positive")
        self.period = period
        self.clock = clock
        self._slots: dict[Hashable, _Slot] = {}
        self._lock = threading.Lock()

    def admit(self, key: Hashable) -> int | None:
        """None when this occurrence of ``key`` is to be dropped.

        Otherwise log it, with the returned number of occurrences dropped
        since the previous admitted one (0 for the first).
        """
        now = self.clock()
        with self._lock:
            slot = self._slots.get(key)
            if slot is None:
                self._slots[key] = _Slot(now)
                return 0
            if now - slot.admitted_at < self.period:
                slot.suppressed += 1
                return None
            suppressed = slot.suppressed
            self._slots[key] = _Slot(now)
            return suppressed

    def forget(self, key: Hashable) -> None:
        """Drop what is known about ``key``; its next occurrence is admitted."""
        with self._lock:
            self._slots.pop(key, None)
