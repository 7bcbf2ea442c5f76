"""Exponential backoff with full jitter, and the one reading of a server's "wait this long".

A :class:`Backoff` only computes delays; callers decide what is retryable,
because that depends on the provider (an HTTP status, a Retry-After header).
Without jitter it gives steady steps, for waiting out a state that ends on
its own (Neon's 423 Locked) rather than spreading a throttled fleet.
:func:`exponential` is its schedule, ``base * 2**(n-1)`` up to a cap, and
the one formula of every growing wait in syncd: a retry, the daemon's early
retries of a failing target, a poll of an operation.

A server can ask syncd to pause: ``Retry-After`` (seconds or an HTTP-date,
from any provider or sink) and case.dev's ``x-ratelimit-reset-requests``
(``1m30s``). Those values are hostile input, so they are read here and
nowhere else: :func:`parse_retry_after` and :func:`parse_reset` accept a
short header of plain digits (or an HTTP-date, or a duration), and every
number, parsed or handed over, goes through :func:`server_pause`, which
refuses what is not finite or is negative and caps the rest at
:data:`MAX_SERVER_PAUSE`. Without the cap, ``Retry-After: 99999999`` stalls
a run for years, and ``inf`` or ``1e20`` makes every later ``sleep`` raise
``OverflowError``.
"""

from __future__ import annotations

import email.utils
import math
import random
import re
import time
from dataclasses import dataclass
from datetime import UTC

from syncd.config.durations import Units, duration_seconds

#: The longest pause any server can impose on syncd, in seconds. Longer asks are
#: cut to it; a pause that reaches it is not waited out in line: the request
#: fails at once with :class:`~syncd.errors.RateLimited` (see syncd.net.ratelimit).
MAX_SERVER_PAUSE = 60.0
#: Longer header values are not read at all (an HTTP-date has 29 characters).
MAX_HEADER_CHARS = 64

_DIGITS = re.compile(r"[0-9]+")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
#: The units of case.dev's reset headers (``250ms``, ``1m30s``); no days.
_RESET_UNITS = Units({"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0})


def exponential(attempt: int, base: float, cap: float) -> float:
    """The wait after failed ``attempt`` (1-based): ``base * 2**(attempt-1)``, at most ``cap``."""
    return min(cap, base * 2.0 ** min(attempt - 1, 64))


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
        """Seconds to wait after failed ``attempt`` (1-based), or ``retry_after`` up to ``cap``."""
        pause = server_pause(retry_after)
        if pause is not None:
            return min(pause, self.cap)
        bound = exponential(attempt, self.base, self.cap)
        if not self.jitter:
            return bound
        return random.uniform(0, bound)  # noqa: S311 - jitter, not crypto


def server_pause(seconds: float | None) -> float | None:
    """``seconds`` as a pause syncd honours: None unless finite and >= 0, else at most the cap.

    Every pause a server asks for passes through here, parsed or not, so no
    caller can hand a limiter or a sleep an infinite, negative or absurd value.
    """
    if seconds is None or isinstance(seconds, bool):
        return None
    try:
        value = float(seconds)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond float
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return min(value, MAX_SERVER_PAUSE)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date), capped; else None.

    ``now`` is the wall-clock time an HTTP-date is measured from (default:
    ``time.time()``). A date in the past is 0; anything that is not plain
    ASCII digits or a valid HTTP-date (``inf``, ``1e20``, ``-5``, ``nan``) is None.
    """
    text = _header(value)
    if text is None:
        return None
    if _DIGITS.fullmatch(text):
        return server_pause(int(text))  # at most 64 digits: finite as a float
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, said without confidence
        when = when.replace(tzinfo=UTC)
    try:
        seconds = when.timestamp() - (time.time() if now is None else now)
    except (OverflowError, ValueError, OSError):
        return None
    return server_pause(max(0.0, seconds))


def parse_reset(value: str | None) -> float | None:
    """Seconds from an ``x-ratelimit-reset-*`` header, capped like :func:`server_pause`.

    ``2``, ``1.5s``, ``1m30s`` and ``250ms`` are read; an exponent, a sign,
    ``inf`` or ``nan`` makes the value None.
    """
    text = _header(value)
    if text is None:
        return None
    text = text.lower()
    if _NUMBER.fullmatch(text):
        return server_pause(float(text))
    return server_pause(duration_seconds(text, _RESET_UNITS, compound=True))


def _header(value: str | None) -> str | None:
    """The stripped header text, or None when empty or longer than :data:`MAX_HEADER_CHARS`."""
    if not value:
        return None
    text = value.strip()
    if not text or len(text) > MAX_HEADER_CHARS:
        return None
    return text
