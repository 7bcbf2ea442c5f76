"""Tests for syncd.daemon.recorder: the bookkeeping of each target's outcome and early retries."""

from __future__ import annotations

from structlog.testing import capture_logs

from syncd.core.models import Target, TargetOutcome
from syncd.daemon.health import Health
from syncd.daemon.metrics import Metrics
from syncd.daemon.recorder import Recorder, RetryPolicy
from syncd.errors import (
    Interrupted,
    ProviderAuthError,
    ProviderCircuitOpen,
    ProviderUnavailable,
    RateLimited,
)
from tests.support.notify import RecordingNotifier

FAILURES = "syncd_target_consecutive_failures"


def test_retry_backoff_doubles_from_five_seconds_up_to_its_caps() -> None:
    """Transient failures retry after 5, 10, 20 ... seconds, capped at 5 min and half the interval."""
    policy = RetryPolicy()
    assert [policy.delay(n, 3600, transient=True) for n in range(1, 9)] == [
        5,
        10,
        20,
        40,
        80,
        160,
        300,
        300,
    ]
    assert [policy.delay(n, 30, transient=True) for n in range(1, 4)] == [5, 10, 15]
    assert policy.delay(10_000, 3600, transient=True) == 300


def test_permanent_errors_are_not_retried_early() -> None:
    """A permanent failure waits for the next regular run: retrying cannot fix a config."""
    assert RetryPolicy().delay(1, 900, transient=False) is None


def _recorder_of_one(asked: list[float]) -> tuple[Recorder, Target]:
    """A recorder tracking one target; the early retries it asks for go to ``asked``."""
    recorder = Recorder(
        metrics=Metrics(daemon=True),
        health=Health(beat_period=10.0),
        notifier=RecordingNotifier(),
        retry=RetryPolicy(),
        retry_in=lambda _name, delay: asked.append(delay) or True,
    )
    app = Target("app", "cd", "p-app", interval=3600.0)
    recorder.track([app])
    return recorder, app


def test_a_rate_limited_target_is_retried_after_the_pause_it_was_given() -> None:
    """The early retry of a rate-limited target waits at least the server's pause, not 5 s."""
    asked: list[float] = []
    recorder, app = _recorder_of_one(asked)
    limited = RateLimited("vault sink v", 60.0)
    recorder.record(app, TargetOutcome("app", error=limited), 0.1)
    recorder.record(app, TargetOutcome("app", error=ProviderUnavailable("503")), 0.1)
    assert asked == [60.0, 10.0]


def test_a_target_failed_fast_by_a_breaker_waits_for_the_breaker_not_an_early_retry() -> None:
    """An open circuit would fail the retry fast again: no early retry; the closing reruns it."""
    asked: list[float] = []
    recorder, app = _recorder_of_one(asked)
    open_circuit = ProviderCircuitOpen("provider cd unavailable (circuit open since ...)")
    recorder.record(app, TargetOutcome("app", error=open_circuit), 0.1)
    assert asked == []
    assert recorder.failing() == {"app"}
    recorder.record(app, TargetOutcome("app", error=ProviderUnavailable("503")), 0.1)
    assert asked == [10.0]


def _failures(recorder: Recorder, name: str) -> float | None:
    return recorder.metrics.registry.get_sample_value(FAILURES, {"target": name})


def test_failures_are_counted_until_a_success_resets_them() -> None:
    """Each failed run adds one to the target's count; the next success clears it and its gauge."""
    recorder, app = _recorder_of_one([])
    failed = TargetOutcome("app", error=ProviderUnavailable("503"))
    recorder.record(app, failed, 0.1)
    recorder.record(app, failed, 0.1)
    assert recorder.failing() == {"app"}
    assert _failures(recorder, "app") == 2
    recorder.record(app, TargetOutcome("app"), 0.1)
    assert recorder.failing() == set()
    assert _failures(recorder, "app") == 0


def test_failure_and_recovery_are_logged_with_the_failed_attempts() -> None:
    """target_failed carries the attempt count and the retry; target_recovered how many failed."""
    recorder, app = _recorder_of_one([])
    with capture_logs() as logs:
        recorder.record(app, TargetOutcome("app", error=ProviderUnavailable("503")), 0.1)
        recorder.record(app, TargetOutcome("app", error=ProviderUnavailable("503")), 0.1)
        recorder.record(app, TargetOutcome("app"), 0.1)
    failed = [e for e in logs if e["event"] == "target_failed"]
    assert [(e["failed_attempts"], e["transient"], e["retry_in_s"]) for e in failed] == [
        (1, True, 5.0),
        (2, True, 10.0),
    ]
    recovered = [e for e in logs if e["event"] == "target_recovered"]
    assert len(recovered) == 1 and recovered[0]["failed_attempts"] == 2


def test_a_success_without_earlier_failures_logs_no_recovery() -> None:
    """target_recovered follows only a failure: a healthy target's runs are not announced."""
    recorder, app = _recorder_of_one([])
    with capture_logs() as logs:
        recorder.record(app, TargetOutcome("app"), 0.1)
    assert [e["event"] for e in logs] == []


def test_a_permanent_failure_asks_for_no_early_retry() -> None:
    """An auth error is counted as a failure but no early run is requested: retrying cannot fix it."""
    asked: list[float] = []
    recorder, app = _recorder_of_one(asked)
    with capture_logs() as logs:
        recorder.record(app, TargetOutcome("app", error=ProviderAuthError("key refused")), 0.1)
    assert asked == []
    assert recorder.failing() == {"app"}
    (failed,) = [e for e in logs if e["event"] == "target_failed"]
    assert failed["transient"] is False and failed["retry_in_s"] is None


def test_a_retry_the_regular_run_beats_is_logged_as_none() -> None:
    """When the scheduler declines the early run (the regular one comes first), the log says so."""
    recorder = Recorder(
        metrics=Metrics(daemon=True),
        health=Health(beat_period=10.0),
        notifier=RecordingNotifier(),
        retry=RetryPolicy(),
        retry_in=lambda _name, _delay: False,
    )
    app = Target("app", "cd", "p-app", interval=3600.0)
    recorder.track([app])
    with capture_logs() as logs:
        recorder.record(app, TargetOutcome("app", error=ProviderUnavailable("503")), 0.1)
    (failed,) = [e for e in logs if e["event"] == "target_failed"]
    assert failed["retry_in_s"] is None


def test_a_run_cut_short_by_the_shutdown_is_not_counted() -> None:
    """An Interrupted outcome says nothing about the target: no failure, no metric, no status."""
    recorder, app = _recorder_of_one([])
    notifier = recorder.notifier
    assert isinstance(notifier, RecordingNotifier)
    recorder.record(app, TargetOutcome("app", error=Interrupted("stopping")), 0.1)
    assert recorder.failing() == set()
    assert _failures(recorder, "app") == 0
    assert notifier.sent == []


def test_every_counted_run_updates_the_status_line() -> None:
    """The systemd status line is republished after each recorded run, from the health state."""
    recorder, app = _recorder_of_one([])
    notifier = recorder.notifier
    assert isinstance(notifier, RecordingNotifier)
    recorder.record(app, TargetOutcome("app", error=ProviderUnavailable("503")), 0.1)
    recorder.record(app, TargetOutcome("app"), 0.1)
    statuses = [str(fields["STATUS"]) for fields in notifier.sent]
    assert len(statuses) == 2
    assert statuses[0].startswith("0 targets ok, 1 failed")
    assert statuses[1].startswith("1 targets ok, 0 failed")


def test_forget_drops_the_failures_of_a_removed_target() -> None:
    """A target a reload removed is no longer failing and leaves no failure gauge behind."""
    recorder, app = _recorder_of_one([])
    recorder.record(app, TargetOutcome("app", error=ProviderUnavailable("503")), 0.1)
    recorder.forget(app)
    assert recorder.failing() == set()
    assert _failures(recorder, "app") is None
