"""The daemon's job scheduler: the only module that imports APScheduler.

APScheduler is pinned ``>=3.11,<4`` (4.0 has another API).

One :class:`BackgroundScheduler` with an in-memory job store and one job per
target: an :class:`IntervalTrigger` of the target's interval plus jitter
(:meth:`~syncd.durations.JitterRule.seconds`), first run at start,
``max_instances=1`` (a slow target never overlaps itself) and
``coalesce=True`` (runs missed while the host slept collapse into one). All
targets share ONE thread pool of ``concurrency`` workers. A heartbeat job runs
inline in the scheduler's own thread, so ``/healthz`` and the systemd watchdog
notice a wedged scheduler.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.executors.debug import DebugExecutor  # type: ignore[import-untyped]
from apscheduler.executors.pool import ThreadPoolExecutor  # type: ignore[import-untyped]
from apscheduler.jobstores.base import JobLookupError  # type: ignore[import-untyped]
from apscheduler.schedulers.background import (  # type: ignore[import-untyped]
    BackgroundScheduler,
)
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

from syncd.models import Target

_HEARTBEAT_ID = "__heartbeat__"


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
    ) -> None:
        self._run = run
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
            self._run,
            IntervalTrigger(seconds=target.interval, jitter=jitter or None, timezone=UTC),
            args=[target.name],
            id=_job_id(target.name),
            name=target.name,
            replace_existing=True,
            next_run_time=datetime.now(UTC) if run_now else None,
        )

    def unschedule(self, name: str) -> None:
        """Remove the job of target ``name``, if there is one."""
        with contextlib.suppress(JobLookupError):
            self._scheduler.remove_job(_job_id(name))

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
    return f"target:{name}"
