"""What the daemon does with each target's outcome: one place for the bookkeeping.

One outcome fans out to five places: the failure count and early-retry
decision, the Prometheus metrics, the health state behind ``/readyz``, the
``target_failed``/``target_recovered`` log events, and the systemd status
line. :class:`Recorder` does all of it, so :mod:`syncd.daemon.scheduler` only runs
jobs.

Retries (:class:`RetryPolicy`)
    A target that fails with a transient error (``SyncdError.transient``:
    timeouts, 429/5xx, throttling, write conflicts) is retried early, after 5s,
    10s, 20s ... each delay capped at 5 minutes and at half the interval, and
    only while that is sooner than its next regular run; never sooner than
    the pause a rate-limited server asked for (``RateLimited.retry_after``,
    at most a minute). A permanent error
    (auth, not found, not managed, bad answer) waits for the next regular run:
    retrying cannot fix a config and would only hammer the API. The first
    success afterwards logs ``target_recovered`` with the failed attempts.

State is bounded by the number of targets: no per-run history is kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import structlog

from syncd.core.models import Target, TargetOutcome
from syncd.daemon.health import Health
from syncd.daemon.metrics import Metrics
from syncd.daemon.sdnotify import Notifier
from syncd.errors import (
    Interrupted,
    ProviderCircuitOpen,
    RateLimited,
    SinkCircuitOpen,
    SyncdError,
)
from syncd.net.retry import exponential

log = structlog.get_logger("syncd.recorder")


@dataclass(frozen=True)
class RetryPolicy:
    """Early retries of a failing target: ``base * 2**(n-1)``, capped; see the module doc."""

    base: float = 5.0
    cap: float = 300.0

    def delay(self, failures: int, interval: float, *, transient: bool) -> float | None:
        """Seconds until retry after ``failures`` failed attempts, or None for no early retry."""
        if not transient or failures < 1:
            return None
        return min(exponential(failures, self.base, self.cap), interval / 2)


@dataclass
class _Failures:
    count: int = 0
    since: float = field(default_factory=time.monotonic)


class Recorder:
    """Accounts for each outcome; ``retry_in(name, delay)`` asks the scheduler for an early run.

    ``retry_in`` returns False when the target's regular run comes sooner (or
    it is gone), and the log then says no early retry is planned. Safe to call
    from the scheduler's worker threads.
    """

    def __init__(
        self,
        *,
        metrics: Metrics,
        health: Health,
        notifier: Notifier,
        retry: RetryPolicy,
        retry_in: Callable[[str, float], bool],
    ) -> None:
        self.metrics = metrics
        self.health = health
        self.notifier = notifier
        self.retry = retry
        self._retry_in = retry_in
        self._lock = threading.Lock()
        self._failures: dict[str, _Failures] = {}

    def track(self, targets: Iterable[Target]) -> None:
        """Expect outcomes for exactly ``targets`` (at start and after each reload)."""
        targets = tuple(targets)
        self.health.set_targets(
            {t.name: t.interval for t in targets},
            uses={t.name: (t.provider, tuple(b.sink for b in t.sinks)) for t in targets},
        )
        self.metrics.track(targets)

    def forget(self, target: Target) -> None:
        """Drop every trace of a target a reload removed."""
        with self._lock:
            self._failures.pop(target.name, None)
        self.metrics.forget(target)

    def failing(self) -> set[str]:
        """The names of the targets whose last run failed."""
        with self._lock:
            return set(self._failures)

    def record(self, target: Target, outcome: TargetOutcome, duration: float) -> None:
        """Account for one run of ``target`` that took ``duration`` seconds.

        A run the shutdown cut short (:class:`~syncd.errors.Interrupted`) says
        nothing about the target, so it is not counted at all.
        """
        if any(isinstance(e, Interrupted) for e in _errors(outcome)):
            return
        name = target.name
        self.metrics.record(target, outcome, now=time.time())
        self.metrics.observe_duration(name, duration)
        self.health.record(name, ok=outcome.ok)
        if outcome.ok:
            with self._lock:
                failed = self._failures.pop(name, None)
            self.metrics.set_failures(name, 0)
            if failed is not None:
                log.info(
                    "target_recovered",
                    target=name,
                    failed_attempts=failed.count,
                    down_s=round(time.monotonic() - failed.since, 3),
                )
        else:
            with self._lock:
                failed = self._failures.setdefault(name, _Failures())
                failed.count += 1
                count = failed.count
            self.metrics.set_failures(name, count)
            self._after_failure(target, outcome, count)
        self.notifier.status(self.health.status_line())

    def _after_failure(self, target: Target, outcome: TargetOutcome, failures: int) -> None:
        errors = _errors(outcome)
        transient = any(e.transient for e in errors)
        delay = self.retry.delay(failures, target.interval, transient=transient)
        if errors and all(isinstance(e, (ProviderCircuitOpen, SinkCircuitOpen)) for e in errors):
            # Retrying early would only fail fast again: the breaker's closing reruns it.
            delay = None
        asked = [e.retry_after for e in errors if isinstance(e, RateLimited)]
        if delay is not None and asked:
            delay = max(delay, *asked)  # an earlier retry would only be refused again
        if delay is not None and not self._retry_in(target.name, delay):
            delay = None  # the regular run comes first
        log.warning(
            "target_failed",
            target=target.name,
            failed_attempts=failures,
            transient=transient,
            retry_in_s=None if delay is None else round(delay, 3),
        )


def _errors(outcome: TargetOutcome) -> list[SyncdError]:
    """The target's error and its sinks' errors."""
    found = [outcome.error, *(s.error for s in outcome.sinks)]
    return [e for e in found if e is not None]
