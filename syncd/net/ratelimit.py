"""A thread-safe, adaptive rate limiter that keeps syncd under an API's request quota.

One limiter is shared by every worker that calls the same provider or sink
(for AWS: one for writes, one for reads), so ``concurrency`` decides how many
requests may be in flight and the limiter decides how many may start per
second. Three rules together:

* a token bucket: ``rate`` starts per second on average, ``burst`` at once;
* a sliding one-second window: never more than ``max(rate, burst)`` starts
  in any one second, so a quota counted per second (AWS: 50 writes/s) holds
  in every window, not only on average;
* adaptation: an answer that says "throttled" (429, ``ThrottlingException``)
  halves the current rate and pauses for its ``Retry-After``; the rate then
  recovers linearly, by a twentieth of the configured rate per second. An API
  that announces its remaining budget (case.dev's ``x-ratelimit-*`` headers)
  can pause the limiter until the budget resets, before a 429 happens.

``rate=None`` means no steady limit: the limiter only counts, and starts to
limit (at half the rate it measured) once the API throttles.

A server decides how long a pause lasts, so a pause is bounded here whoever
asks for it: every value goes through :func:`syncd.net.retry.server_pause`
(finite, not negative, at most :data:`~syncd.net.retry.MAX_SERVER_PAUSE`). A wait
never starts when it cannot help, and fails at once with
:class:`~syncd.errors.RateLimited` ("rate limited by <name>; retry after N s")
instead:

* while a pause that reached the cap is in force: the server wants syncd gone
  for at least a minute, so every request through this limiter fails until
  the pause ends (the daemon retries the target after it), rather than every
  worker sleeping through it and every other target waiting for a worker;
* when the wait would end past the target's deadline (:mod:`syncd.core.timebox`).

Waits sleep in the target's time box, so SIGTERM and SIGINT end them at once
(:class:`~syncd.errors.Interrupted`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from syncd.core import timebox
from syncd.errors import RateLimited
from syncd.net.retry import MAX_SERVER_PAUSE, server_pause

#: How much of the configured rate comes back per second after a throttle.
RECOVERY_PER_S = 0.05
#: Added to the one-second window: a request started 1.0 s after another may
#: reach the server a little earlier relative to it (scheduling, connection reuse).
WINDOW_MARGIN = 0.05
#: The lowest rate adaptation goes to (requests per second).
MIN_RATE = 0.5


class TokenBucket:
    """Allow ``rate`` starts per second on average, bursts up to ``burst``; adapt to throttling.

    ``name`` says whose limit this is in errors ("case.dev provider main"). The
    default ``sleep`` waits in the current time box (:func:`syncd.core.timebox.sleep`).
    """

    def __init__(
        self,
        rate: float | None,
        burst: float | None = None,
        *,
        name: str = "the server",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = timebox.sleep,
    ) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive")
        if burst is not None and burst < 1:
            raise ValueError("burst must be at least 1")
        self.name = name
        self.ceiling = rate
        self.burst = burst if burst is not None else max(1.0, rate or 1.0)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._current = rate  # None: unlimited until throttled
        self._tokens = self.burst
        self._updated = clock()
        self._paused_until = 0.0
        # The end of a pause that reached MAX_SERVER_PAUSE: refused, not waited out.
        self._refused_until = 0.0
        self._throttled_at: float | None = None
        self._floor = rate or MIN_RATE
        # Start times within the last second (only kept when a window applies or
        # the rate must be measured).
        self._window = int(max(rate or 0.0, self.burst)) if rate is not None else 0
        self._starts: deque[float] = deque()

    @property
    def rate(self) -> float | None:
        """The rate in force now (the configured one unless throttling lowered it)."""
        with self._lock:
            return self._rate_now(self._clock())

    def acquire(self) -> float:
        """Wait for a start slot; returns the seconds waited.

        Raises:
            RateLimited: a pause at the cap is in force, or the wait would end
                past the target's deadline (raised instead of waiting).
            TargetTimedOut: the target's deadline has passed.
            Interrupted: syncd is stopping (only when there is something to wait for).

        """
        box = timebox.current()
        waited = 0.0
        while True:
            box.ensure_time()
            with self._lock:
                now = self._clock()
                wait = self._try_start(now)
                refused = None if wait is None else self._refusal(now, wait, box)
            if wait is None:
                return waited
            if refused is not None:
                raise refused
            self._sleep(wait)
            waited += wait

    def check(self) -> None:
        """Before a retry: raise now what its :meth:`acquire` would raise instead of waiting.

        For a retry loop, so it does not sleep its backoff first: raises
        :class:`~syncd.errors.Interrupted` while syncd is stopping, and
        :class:`~syncd.errors.RateLimited` while a pause is in force that
        :meth:`acquire` would refuse to wait out.
        """
        box = timebox.current()
        box.ensure_running()
        with self._lock:
            now = self._clock()
            left = self._paused_until - now
            refused = self._refusal(now, left, box) if left > 0 else None
        if refused is not None:
            raise refused

    def throttled(self, retry_after: float | None = None) -> None:
        """The API answered "too many requests": halve the rate, pause for ``retry_after``.

        ``retry_after`` is bounded by :func:`~syncd.net.retry.server_pause` (None,
        0, or a value that is not finite: no pause).
        """
        with self._lock:
            now = self._clock()
            current = self._rate_now(now)
            if current is None:
                # Unlimited so far: start from what was actually sent in the last second.
                current = max(float(len(self._starts)), 2 * MIN_RATE)
            self._floor = max(MIN_RATE, current / 2)
            self._current = self._floor
            self._throttled_at = now
            self._tokens = min(self._tokens, 0.0)
            self._pause(now, retry_after)

    def pause(self, seconds: float | None) -> None:
        """Start nothing for ``seconds`` (an API said so); bounded like ``retry_after``."""
        with self._lock:
            self._pause(self._clock(), seconds)

    def _pause(self, now: float, seconds: float | None) -> None:
        pause = server_pause(seconds)
        if not pause:
            return
        self._paused_until = max(self._paused_until, now + pause)
        if pause >= MAX_SERVER_PAUSE:
            self._refused_until = max(self._refused_until, now + pause)

    def _refusal(self, now: float, wait: float, box: timebox.TimeBox) -> RateLimited | None:
        """Why a wait of ``wait`` seconds must not start, or None."""
        if now < self._refused_until:
            return RateLimited(self.name, self._refused_until - now)
        if not box.fits(wait):
            return RateLimited(self.name, wait)
        return None

    def _rate_now(self, now: float) -> float | None:
        if self._throttled_at is None:
            return self._current
        reference = self.ceiling if self.ceiling is not None else 2 * self._floor
        recovered = self._floor + reference * RECOVERY_PER_S * (now - self._throttled_at)
        if recovered >= reference:
            if self.ceiling is None:
                return recovered  # keep climbing until the API throttles again
            self._throttled_at = None
            self._current = self.ceiling
            return self.ceiling
        return recovered

    def _try_start(self, now: float) -> float | None:
        """Take a slot and return None, or return how long to wait before trying again."""
        if now < self._paused_until:
            return self._paused_until - now
        rate = self._rate_now(now)
        starts = self._starts
        # A start leaves the window when its second (plus the margin) is over.
        while starts and starts[0] + 1.0 + WINDOW_MARGIN <= now:
            starts.popleft()
        if self._window and len(starts) >= self._window:
            return starts[0] + 1.0 + WINDOW_MARGIN - now
        if rate is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * rate)
            self._updated = now
            if self._tokens < 1:
                return max((1 - self._tokens) / rate, 1e-6)
            self._tokens -= 1
        self._updated = now
        starts.append(now)
        return None
