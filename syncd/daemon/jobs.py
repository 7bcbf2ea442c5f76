"""The daemon's job scheduler: the only module that imports APScheduler.

APScheduler is pinned ``>=3.11,<4`` (4.0 has another API).

One :class:`BackgroundScheduler` with an in-memory job store and one job per
target: an :class:`IntervalTrigger` of the target's interval plus jitter
(:meth:`~syncd.config.durations.JitterRule.seconds`), first run at start,
``max_instances=1`` (a slow target never overlaps itself) and
``coalesce=True`` (runs missed while the host slept collapse into one). All
targets share ONE thread pool of ``concurrency`` workers. A heartbeat job runs
inline in the scheduler's own thread, so ``/healthz`` and the systemd watchdog
notice a wedged scheduler.

When a run of a target is due while its previous run still goes on (a hung
provider, a sink that times out), APScheduler skips it and says so in a
warning whose text changes every time; the same for a run it starts too late.
In an outage that is several lines a second. Instead syncd listens for
APScheduler's events (``EVENT_JOB_MAX_INSTANCES``, ``EVENT_JOB_MISSED``),
logs them as ``cycle_skipped`` and ``cycle_misfired`` at most once per job per
minute (:class:`~syncd.daemon.logthrottle.LogThrottle`, with ``suppressed``), and
drops APScheduler's own warnings for these two cases (:class:`_Replaced`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, cast

import structlog
from apscheduler.events import (  # type: ignore[import-untyped]
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
)
from apscheduler.executors.debug import DebugExecutor  # type: ignore[import-untyped]
from apscheduler.executors.pool import ThreadPoolExecutor  # type: ignore[import-untyped]
from apscheduler.jobstores.base import JobLookupError  # type: ignore[import-untyped]
from apscheduler.schedulers.background import (  # type: ignore[import-untyped]
    BackgroundScheduler,
)
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

from syncd.core.models import Target
from syncd.daemon.logthrottle import LogThrottle

log = structlog.get_logger("syncd.jobs")

_HEARTBEAT_ID = "__heartbeat__"
_TARGET_PREFIX = "target:"


@dataclass(frozen=True)
class ScheduledJob:
    """What the scheduler holds for one target."""

    interval: float
    jitter: float
    next_run: datetime | None
    max_instances: int
    coalesce: bool


class Jobs:
    """One job per target calling ``run(target_name)``, and the heartbeat; starts paused."""

    def __init__(
        self,
        run: Callable[[str], None],
        *,
        concurrency: int,
        heartbeat: Callable[[], None],
        beat_period: float,
        notices: Notices | None = None,
    ) -> None:
        self._run = run
        self.notices = notices if notices is not None else Notices()
        self._scheduler = BackgroundScheduler(
            executors={
                "default": ThreadPoolExecutor(max_workers=concurrency),
                "inline": DebugExecutor(),
            },
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
            timezone=UTC,
        )
        self._scheduler.add_job(
            heartbeat,
            IntervalTrigger(seconds=beat_period, timezone=UTC),
            id=_HEARTBEAT_ID,
            executor="inline",
        )
        self._scheduler.add_listener(self.notices, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        for name in REPLACED_LOGGERS:
            logging.getLogger(name).addFilter(_REPLACED)  # the same filter is added once only

    def start_paused(self) -> None:
        """Start the scheduler's thread without running any job yet (see :meth:`resume`)."""
        self._scheduler.start(paused=True)

    def resume(self) -> None:
        """Let due jobs run."""
        self._scheduler.resume()

    def pause(self) -> None:
        """Start no more jobs (running ones go on)."""
        if self._scheduler.running:
            self._scheduler.pause()

    def shutdown(self, *, wait: bool) -> None:
        """Stop the scheduler; ``wait`` joins the worker pool (instant when idle)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)

    def schedule(self, target: Target, *, run_now: bool) -> None:
        """Add or replace the job of ``target``; ``run_now`` makes its first run immediate."""
        jitter = target.jitter.seconds(target.interval)
        self._scheduler.add_job(
            self._run_job,
            IntervalTrigger(seconds=target.interval, jitter=jitter or None, timezone=UTC),
            args=[target.name],
            id=_job_id(target.name),
            name=target.name,
            replace_existing=True,
            next_run_time=datetime.now(UTC) if run_now else None,
        )

    def _run_job(self, name: str) -> None:
        job_id = _job_id(name)
        self.notices.started(job_id)
        try:
            self._run(name)
        finally:
            self.notices.finished(job_id)

    def unschedule(self, name: str) -> None:
        """Remove the job of target ``name``, if there is one."""
        with contextlib.suppress(JobLookupError):
            self._scheduler.remove_job(_job_id(name))
        self.notices.forget(_job_id(name))

    def move_next_run(self, name: str, delay: float) -> bool:
        """Bring the job's next run forward to now + ``delay``, unless it is due sooner anyway."""
        when = datetime.now(UTC) + timedelta(seconds=delay)
        try:
            job = self._scheduler.get_job(_job_id(name))
            if job is None:
                return False
            if job.next_run_time is not None and job.next_run_time <= when:
                return False
            self._scheduler.modify_job(_job_id(name), next_run_time=when)
        except JobLookupError:  # removed by a reload meanwhile
            return False
        return True

    def jobs(self) -> dict[str, ScheduledJob]:
        """The scheduled targets by name, for tests and debugging."""
        return {
            job.name: ScheduledJob(
                interval=job.trigger.interval.total_seconds(),
                jitter=float(job.trigger.jitter or 0.0),
                next_run=job.next_run_time,
                max_instances=job.max_instances,
                coalesce=job.coalesce,
            )
            for job in self._scheduler.get_jobs()
            if job.id != _HEARTBEAT_ID
        }


def _job_id(name: str) -> str:
    return f"{_TARGET_PREFIX}{name}"


def _job_fields(job_id: str) -> dict[str, str]:
    if job_id.startswith(_TARGET_PREFIX):
        return {"target": job_id.removeprefix(_TARGET_PREFIX)}
    return {"job": job_id}


class JobEvent(Protocol):
    """The part of an APScheduler 3.x ``JobEvent`` that :class:`Notices` reads."""

    code: int
    job_id: str


class MissedJobEvent(JobEvent, Protocol):
    """An ``EVENT_JOB_MISSED`` event (a ``JobExecutionEvent``): it has the missed run time."""

    scheduled_run_time: datetime


class Notices:
    """Turn APScheduler's skip and misfire events into throttled ``cycle_*`` log events.

    ``started``/``finished`` bracket each run, so a skip can say how long the
    run in its way has been going (``running_s``; null while that run still
    waits for a free worker). Call it with an APScheduler event: it is a
    listener, called from the scheduler's thread and from workers.
    """

    def __init__(self, throttle: LogThrottle | None = None) -> None:
        self.throttle = throttle if throttle is not None else LogThrottle()
        self._started: dict[str, float] = {}
        self._lock = threading.Lock()

    def started(self, job_id: str) -> None:
        """A run of ``job_id`` begins."""
        with self._lock:
            self._started[job_id] = self.throttle.clock()

    def finished(self, job_id: str) -> None:
        """The run of ``job_id`` has ended."""
        with self._lock:
            self._started.pop(job_id, None)

    def forget(self, job_id: str) -> None:
        """``job_id`` is gone: a job added under its name later starts with a clean slate."""
        for name in ("cycle_skipped", "cycle_misfired"):
            self.throttle.forget((name, job_id))

    def __call__(self, event: JobEvent) -> None:
        """Log ``event`` (an APScheduler ``JobEvent``) unless one like it was logged this minute."""
        if event.code == EVENT_JOB_MAX_INSTANCES:
            name = "cycle_skipped"
            with self._lock:
                since = self._started.get(event.job_id)
            running = None if since is None else round(self.throttle.clock() - since, 3)
            fields: dict[str, Any] = {"running_s": running}
        elif event.code == EVENT_JOB_MISSED:
            name = "cycle_misfired"
            late = datetime.now(UTC) - cast("MissedJobEvent", event).scheduled_run_time
            fields = {"late_s": round(late.total_seconds(), 3)}
        else:
            return
        suppressed = self.throttle.admit((name, event.job_id))
        if suppressed is None:
            return
        log.warning(name, **_job_fields(event.job_id), **fields, suppressed=suppressed)


class _Replaced(logging.Filter):
    """Drops APScheduler's warnings for the cases :class:`Notices` logs itself.

    Matched on the message's format string, not its text: if a release words
    them differently, they show up again rather than vanish with the events.
    """

    FORMATS = (
        'Execution of job "%s" skipped: maximum number of running instances reached',
        'Run time of job "%s" was missed by',
    )

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith(self.FORMATS))


_REPLACED = _Replaced()
#: Where APScheduler 3.x logs a skipped run (the scheduler) and a missed one (the executor).
REPLACED_LOGGERS = ("apscheduler.scheduler", "apscheduler.executors.default")
