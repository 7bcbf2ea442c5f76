"""Tests for syncd.daemon.jobs: APScheduler's skip and misfire events become throttled syncd events."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from apscheduler.events import (  # type: ignore[import-untyped]
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from structlog.testing import capture_logs

from syncd.daemon.jobs import REPLACED_LOGGERS, Jobs, Notices
from syncd.daemon.logthrottle import LogThrottle


class FakeClock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def skipped(job_id: str) -> JobSubmissionEvent:
    return JobSubmissionEvent(EVENT_JOB_MAX_INSTANCES, job_id, "default", [datetime.now(UTC)])


def missed(job_id: str, late: float) -> JobExecutionEvent:
    when = datetime.now(UTC) - timedelta(seconds=late)
    return JobExecutionEvent(EVENT_JOB_MISSED, job_id, "default", when)


def test_a_skip_becomes_cycle_skipped_with_the_target_and_how_long_its_run_has_gone() -> None:
    """EVENT_JOB_MAX_INSTANCES logs cycle_skipped: the target, running_s of the run in the way."""
    clock = FakeClock()
    notices = Notices(LogThrottle(60, clock=clock))
    notices.started("target:a")
    clock.now += 42.5
    with capture_logs() as logs:
        notices(skipped("target:a"))
    assert logs == [
        {
            "event": "cycle_skipped",
            "log_level": "warning",
            "target": "a",
            "running_s": 42.5,
            "suppressed": 0,
        }
    ]


def test_a_skip_behind_a_run_still_waiting_for_a_worker_has_no_running_time() -> None:
    """When the run in the way has not started yet (no free worker), running_s is None."""
    notices = Notices(LogThrottle(60, clock=FakeClock()))
    with capture_logs() as logs:
        notices(skipped("target:a"))
    assert logs[0]["running_s"] is None


def test_a_missed_run_becomes_cycle_misfired_with_how_late_it_was() -> None:
    """EVENT_JOB_MISSED logs cycle_misfired with the target and late_s."""
    notices = Notices(LogThrottle(60, clock=FakeClock()))
    with capture_logs() as logs:
        notices(missed("target:b", late=30))
    [event] = logs
    assert event["event"] == "cycle_misfired"
    assert event["target"] == "b"
    assert 30 <= event["late_s"] < 35
    assert event["suppressed"] == 0


def test_jobs_that_are_not_targets_are_named_as_jobs() -> None:
    """A job other than a target's (the heartbeat) is named in a job field."""
    notices = Notices(LogThrottle(60, clock=FakeClock()))
    with capture_logs() as logs:
        notices(skipped("__heartbeat__"))
    assert logs[0]["job"] == "__heartbeat__"
    assert "target" not in logs[0]


def test_one_event_per_job_and_kind_per_minute_then_the_count_of_the_rest() -> None:
    """Repeats within the minute are dropped per job and kind; the next one reports suppressed."""
    clock = FakeClock()
    notices = Notices(LogThrottle(60, clock=clock))
    with capture_logs() as logs:
        for _ in range(12):  # 0 s, 5 s, ... 55 s
            notices(skipped("target:a"))
            notices(skipped("target:b"))
            notices(missed("target:a", late=1))
            clock.now += 5
        notices(skipped("target:a"))
    assert [(e["event"], e.get("target"), e["suppressed"]) for e in logs] == [
        ("cycle_skipped", "a", 0),
        ("cycle_skipped", "b", 0),
        ("cycle_misfired", "a", 0),
        ("cycle_skipped", "a", 11),
    ]


def test_other_scheduler_events_are_ignored() -> None:
    """Events other than skips and misfires log nothing."""
    notices = Notices(LogThrottle(60, clock=FakeClock()))
    with capture_logs() as logs:
        notices(JobExecutionEvent(EVENT_JOB_ERROR, "target:a", "default", datetime.now(UTC)))
    assert logs == []


def test_forgetting_a_job_logs_its_next_skip_at_once() -> None:
    """An unscheduled target's throttle is reset: re-added, its first skip is logged."""
    notices = Notices(LogThrottle(60, clock=FakeClock()))
    with capture_logs() as logs:
        notices(skipped("target:a"))
        notices.forget("target:a")
        notices(skipped("target:a"))
    assert len(logs) == 2


def test_apscheduler_warnings_for_skips_and_misfires_are_dropped_and_others_kept() -> None:
    """Once Jobs exists, APScheduler's own skip/misfire warnings are filtered out, nothing else."""
    Jobs(lambda _name: None, concurrency=1, heartbeat=lambda: None, beat_period=1.0)
    scheduler, executor = (logging.getLogger(name) for name in REPLACED_LOGGERS)
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        scheduler.warning(
            'Execution of job "%s" skipped: maximum number of running instances reached (%d)',
            "a (trigger: interval[0:00:10], next run at: 2026-01-01 00:00:10 UTC)",
            1,
        )
        executor.warning('Run time of job "%s" was missed by %s', "a", timedelta(seconds=3))
        scheduler.warning("Error getting due jobs from job store %r: %s", "default", "boom")
    finally:
        root.removeHandler(handler)
    assert [r.getMessage() for r in records] == [
        "Error getting due jobs from job store 'default': boom"
    ]
