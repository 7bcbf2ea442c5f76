"""A fake ``time.monotonic`` for code that takes ``clock`` and ``sleep`` by injection."""

from __future__ import annotations


class Clock:
    """Reads ``now``; sleeping advances it at once, and each sleep is recorded."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
