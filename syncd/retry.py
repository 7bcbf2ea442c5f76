"""Exponential backoff with full jitter for HTTP providers and sinks.

A :class:`Backoff` only computes delays; callers decide what is retryable,
because that depends on the provider (an HTTP status, a Retry-After header).
Without jitter it gives steady steps, for waiting out a state that ends on
its own (Neon's 423 Locked) rather than spreading a throttled fleet.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Delays for attempt 1, 2, ...: ``uniform(0, min(cap, base * 2**n))``.

    Full jitter (rather than equal jitter) spreads a fleet of daemons that all
    failed at the same moment, which is the case a throttling API creates.
    With ``jitter=False`` the delay is the bound itself, ``min(cap, base * 2**n)``:
    ``Backoff(5, base=3, cap=3, jitter=False)`` tries five times, 3 s apart.
    """

    attempts: int = 4
    base: float = 0.5
    cap: float = 30.0
    jitter: bool = True

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed ``attempt`` (1-based); honours ``retry_after``."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.cap)
        bound: float = min(self.cap, self.base * 2.0 ** (attempt - 1))
        if not self.jitter:
            return bound
        return random.uniform(0, bound)  # noqa: S311 - jitter, not crypto


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
