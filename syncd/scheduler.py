"""Daemon mode (``syncd run``): every target on its own interval, until a signal says stop.

This is the only module that imports APScheduler (pinned ``>=3.11,<4``; 4.0 has
another API).

Scheduling
    One :class:`BackgroundScheduler` with an in-memory job store and one job per
    target: an :class:`IntervalTrigger` of the target's interval plus jitter
    (:func:`jitter_seconds`), first run at start, ``max_instances=1`` (a slow
    target never overlaps itself) and ``coalesce=True`` (runs missed while the
    host slept collapse into one). All targets share ONE thread pool of
    ``concurrency`` workers. A heartbeat job runs inline in the scheduler's own
    thread, so ``/healthz`` and the systemd watchdog notice a wedged scheduler.

Retries (:class:`RetryPolicy`)
    A target that fails with a transient error (``SyncdError.transient``:
    timeouts, 429/5xx, throttling, write conflicts) is retried early, after 5s,
    10s, 20s ... each delay capped at 5 minutes and at half the interval, and
    only while that is sooner than its next regular run. A permanent error
    (auth, not found, not managed, bad answer) waits for the next regular run:
    retrying cannot fix a config and would only hammer the API. The first
    success afterwards logs ``target_recovered`` with the failed attempts.
    Retries move the job's own next run time, so a target still never runs
    twice at once and never delays another target's slot.

Signals (the main thread only waits for them: no polling, no busy loop)
    SIGTERM/SIGINT: stop starting syncs, let running ones finish for up to
    ``shutdown_timeout``, exit 0 (1 if the timeout cut work off). SIGHUP:
    reload the config from the same path, validated first; an invalid one is
    logged as ``config_reload_failed`` and the old one keeps running. A valid
    one gets a new Runtime; jobs are added, removed and rescheduled in place,
    and the old Runtime is closed once its last in-flight sync is done.

State is bounded by the number of targets: no per-run history is kept.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

import structlog
from apscheduler.executors.debug import DebugExecutor  # type: ignore[import-untyped]
from apscheduler.executors.pool import ThreadPoolExecutor  # type: ignore[import-untyped]
from apscheduler.jobstores.base import JobLookupError  # type: ignore[import-untyped]
from apscheduler.schedulers.background import (  # type: ignore[import-untyped]
    BackgroundScheduler,
)
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

from syncd import config as config_mod
from syncd import exits
from syncd.engine import Engine
from syncd.errors import SyncdError
from syncd.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from syncd.health import Health, HttpListener, ListenError, text_answer
from syncd.metrics import Metrics
from syncd.models import Target, TargetOutcome
from syncd.observe import attach
from syncd.runtime import Runtime
from syncd.sdnotify import Notifier

log = structlog.get_logger(__name__)

_HEARTBEAT_ID = "__heartbeat__"
_STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})


def jitter_seconds(interval: float, amount: float, relative: bool) -> float:
    """The jitter bound in seconds: a fraction of ``interval`` or absolute, at most ``interval``.

    Each run is delayed by a random ``0..bound`` seconds, so a fleet of daemons
    started together drifts apart; the cap keeps the gap between two runs at
    most twice the interval.
    """
    seconds = amount * interval if relative else amount
    return max(0.0, min(seconds, interval))


@dataclass(frozen=True)
class RetryPolicy:
    """Early retries of a failing target: ``base * 2**(n-1)``, capped; see the module doc."""

    base: float = 5.0
    cap: float = 300.0

    def delay(self, failures: int, interval: float, *, transient: bool) -> float | None:
        """Seconds until retry after ``failures`` failed attempts, or None for no early retry."""
        if not transient or failures < 1:
            return None
        return min(self.base * 2.0 ** min(failures - 1, 32), self.cap, interval / 2)


@dataclass(frozen=True)
class ReloadPlan:
    """How the targets of two configs differ, by name."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]

    @classmethod
    def between(cls, old: config_mod.Config, new: config_mod.Config) -> ReloadPlan:
        """Compare targets, their jitter and the provider/sink sections they use."""
        before = {t.name: t for t in old.targets}
        after = {t.name: t for t in new.targets}

        def changed(name: str) -> bool:
            a, b = before[name], after[name]
            plugins_differ = old.providers.get(a.provider) != new.providers.get(b.provider) or any(
                old.sinks.get(s.sink) != new.sinks.get(s.sink) for s in (*a.sinks, *b.sinks)
            )
            return a != b or old.jitter_for(name) != new.jitter_for(name) or plugins_differ

        return cls(
            added=tuple(n for n in after if n not in before),
            removed=tuple(n for n in before if n not in after),
            changed=tuple(n for n in after if n in before and changed(n)),
        )


@dataclass(frozen=True)
class ScheduledJob:
    """What the scheduler holds for one target."""

    interval: float
    jitter: float
    next_run: datetime | None
    max_instances: int
    coalesce: bool


@dataclass
class _Generation:
    """One config's runtime; closed when retired and its last in-flight sync is done."""

    config: config_mod.Config
    runtime: Runtime
    engine: Engine
    targets: dict[str, Target]
    inflight: int = 0
    retired: bool = False


@dataclass
class _Failures:
    count: int = 0
    since: float = field(default_factory=time.monotonic)


_Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers


def _ignore(_signum: int, _frame: FrameType | None) -> None:
    """Does nothing: the wakeup fd already carries the signal to the main loop."""


class _Inbox:
    """Signals and requests for the main thread, through one socket pair.

    Signal handlers only get the C-level wakeup-fd write (``signal.set_wakeup_fd``),
    which is async-signal-safe; the main thread reads signal numbers from the
    socket. :meth:`post` lets other threads (tests, the soak benchmark) send the
    same requests without a real signal.
    """

    def __init__(self) -> None:
        self._recv, self._send = socket.socketpair()
        self._send.setblocking(False)
        self._saved: dict[int, _Handler] = {}
        self._saved_fd: int | None = None

    def install(self, signals: Iterable[int]) -> None:
        """Route ``signals`` here (main thread only); :meth:`uninstall` restores."""
        self._saved_fd = signal.set_wakeup_fd(self._send.fileno(), warn_on_full_buffer=False)
        for signum in signals:
            # A Python-level handler must exist for the wakeup fd to be written.
            previous = signal.signal(signum, _ignore)
            self._saved[signum] = signal.SIG_DFL if previous is None else previous

    def uninstall(self) -> None:
        """Restore the handlers and wakeup fd that were there before."""
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)
        self._saved.clear()
        if self._saved_fd is not None:
            signal.set_wakeup_fd(self._saved_fd)
            self._saved_fd = None

    def post(self, signum: int) -> None:
        """Queue ``signum`` as if it had been received (any thread)."""
        # The buffer holds thousands of bytes; when it is full the loop is awake anyway.
        with contextlib.suppress(BlockingIOError):
            self._send.send(bytes([signum]))

    def wait(self, timeout: float | None) -> bytes:
        """Block until something arrives or ``timeout`` passes; return the signal numbers."""
        self._recv.settimeout(timeout)
        try:
            return self._recv.recv(256)
        except TimeoutError:
            return b""

    def close(self) -> None:
        """Close the socket pair."""
        self._recv.close()
        self._send.close()


class Daemon:
    """The scheduler, its jobs and their runtime, driven by :meth:`serve` on the main thread.

    ``build_runtime`` and ``load_config`` default to the real ones; tests pass
    builders of fakes. Use :meth:`start` (may raise), then :meth:`serve`.
    """

    def __init__(
        self,
        cfg: config_mod.Config,
        *,
        build_runtime: Callable[[config_mod.Config], Runtime] = Runtime.build,
        load_config: Callable[[Path], config_mod.Config] = config_mod.load,
        notifier: Notifier | None = None,
        retry: RetryPolicy | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = cfg
        self._build_runtime = build_runtime
        self._load_config = load_config
        self.notifier = notifier if notifier is not None else Notifier()
        self.retry = retry or RetryPolicy()
        self.metrics = metrics if metrics is not None else Metrics(daemon=True)
        watchdog = self.notifier.watchdog_interval()
        self._tick = watchdog
        self.health = Health(beat_period=min(watchdog or 10.0, 10.0))
        self._inbox: _Inbox | None = None  # opened by start(), closed by shutdown()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._inflight = 0
        self._stopping = threading.Event()
        self._failures: dict[str, _Failures] = {}
        self._generation: _Generation | None = None
        self._listener: HttpListener | None = None
        self._scheduler: BackgroundScheduler | None = None

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Listen for probes, build the runtime, schedule every target, report READY=1.

        Raises ListenError when the metrics address cannot be bound, and ConfigError,
        PluginError or another SyncdError when the runtime cannot be built.
        """
        settings = self.config.settings
        if settings.metrics.enabled:
            self._listener = HttpListener(
                settings.metrics.listen,
                {
                    "/metrics": self._metrics_route,
                    "/healthz": lambda _accept: text_answer(*self.health.alive()),
                    "/readyz": lambda _accept: text_answer(*self.health.ready()),
                },
            )
        try:
            self._generation = self._new_generation(self.config, self._build_runtime(self.config))
        except BaseException:
            self._close_listener()
            raise
        self._scheduler = BackgroundScheduler(
            executors={
                "default": ThreadPoolExecutor(max_workers=settings.concurrency),
                "inline": DebugExecutor(),
            },
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
            timezone=UTC,
        )
        self._scheduler.add_job(
            self.health.beat,
            IntervalTrigger(seconds=self.health.beat_period, timezone=UTC),
            id=_HEARTBEAT_ID,
            executor="inline",
        )
        for target in self.config.targets:
            self._schedule(target, run_now=True)
        self.health.set_targets({t.name: t.interval for t in self.config.targets})
        self.metrics.track(self.config.targets)
        self._inbox = _Inbox()
        # Paused until READY=1 is sent, so no sync's STATUS= can reach systemd before it.
        self._scheduler.start(paused=True)
        self.health.set_running(True)
        self.notifier.ready()
        self.notifier.status(self.health.status_line())
        self._scheduler.resume()
        log.info(
            "daemon_started",
            targets=len(self.config.targets),
            concurrency=settings.concurrency,
            metrics_listen=settings.metrics.listen if self._listener else None,
            watchdog_s=self._tick,
        )

    def serve(self, *, install_signals: bool = True) -> int:
        """Wait for signals until asked to stop, then shut down; returns the exit code.

        ``install_signals`` needs the main thread; without it only :meth:`request_stop`
        and :meth:`request_reload` reach the loop.
        """
        inbox = self._inbox
        assert inbox is not None  # noqa: S101 - start() ran
        if install_signals:
            inbox.install([*_STOP_SIGNALS, signal.SIGHUP])
        next_ping = time.monotonic()
        try:
            while True:
                if self._tick is not None and time.monotonic() >= next_ping:
                    # Only a live scheduler earns a ping: a wedged one gets the service restarted.
                    if self.health.alive()[0]:
                        self.notifier.watchdog()
                    next_ping = time.monotonic() + self._tick
                timeout = None if self._tick is None else max(0.0, next_ping - time.monotonic())
                received = inbox.wait(timeout)
                stop = [s for s in received if s in _STOP_SIGNALS]
                if stop:
                    log.info("stop_requested", signal=signal.Signals(stop[0]).name)
                    break
                if signal.SIGHUP in received:
                    self.reload()
        finally:
            if install_signals:
                inbox.uninstall()
        return self.shutdown()

    @property
    def listen_port(self) -> int | None:
        """The port of the metrics and health listener (useful with ``metrics.listen: host:0``)."""
        return self._listener.port if self._listener is not None else None

    def request_stop(self) -> None:
        """Ask :meth:`serve` to shut down, like SIGTERM (any thread)."""
        if self._inbox is not None:
            self._inbox.post(signal.SIGTERM)

    def request_reload(self) -> None:
        """Ask :meth:`serve` to reload the config, like SIGHUP (any thread)."""
        if self._inbox is not None:
            self._inbox.post(signal.SIGHUP)

    def shutdown(self) -> int:
        """Stop new work, wait up to ``shutdown_timeout`` for running syncs, release everything."""
        timeout = self.config.settings.shutdown_timeout
        self.notifier.stopping()
        self._stopping.set()
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.pause()
        with self._lock:
            log.info("shutdown_started", in_flight=self._inflight, timeout_s=timeout)
            finished = self._idle.wait_for(lambda: self._inflight == 0, timeout)
        self.health.set_running(False)
        if self._scheduler is not None and self._scheduler.running:
            # Joining the pool is instant when idle; waiting on a stuck sync would hang.
            self._scheduler.shutdown(wait=finished)
        if finished and self._generation is not None:
            self._retire(self._generation)
        self._close_listener()
        if self._inbox is not None:
            self._inbox.close()
        if not finished:
            log.error("shutdown_timed_out", timeout_s=timeout, in_flight=self._inflight)
            return EXIT_FAILED
        log.info("shutdown_complete")
        return EXIT_OK

    # -- reload -------------------------------------------------------------------------------

    def reload(self) -> bool:
        """Re-read the config file and apply it in place; keep the old config if it is invalid."""
        old = self._generation
        assert old is not None  # noqa: S101 - start() ran
        self.notifier.reloading()
        generation = self._prepare(self.config.path)
        if isinstance(generation, str):
            log.error(
                "config_reload_failed",
                path=str(self.config.path),
                error=generation,
                kept="previous config",
            )
            self.metrics.reloads.labels("failed").inc()
            self.notifier.ready()
            return False
        new_cfg = generation.config
        plan = ReloadPlan.between(self.config, new_cfg)
        with self._lock:
            self._generation = generation
            self.config = new_cfg
        self._retire(old)
        self._apply(plan, old.targets, generation.targets)
        self._warn_restart_only(old.config.settings, new_cfg.settings)
        self.metrics.reloads.labels("ok").inc()
        log.info(
            "config_reloaded",
            path=str(new_cfg.path),
            added=len(plan.added),
            removed=len(plan.removed),
            changed=len(plan.changed),
            targets=len(new_cfg.targets),
        )
        self.notifier.ready()
        self.notifier.status(self.health.status_line())
        return True

    def _prepare(self, path: Path | None) -> _Generation | str:
        """Load and build the config at ``path``; the error text if that fails."""
        if path is None:
            return "the daemon was started without a config file to re-read"
        try:
            new_cfg = self._load_config(path)
            return self._new_generation(new_cfg, self._build_runtime(new_cfg))
        except SyncdError as exc:  # ConfigError, PluginError, a plugin that cannot start
            return str(exc)
        except Exception as exc:
            # A broken third-party plugin must not take the running daemon down.
            log.exception("plugin_crashed", error_type=type(exc).__name__)
            return f"unexpected {type(exc).__name__} while building the new configuration"

    def _apply(self, plan: ReloadPlan, old: dict[str, Target], new: dict[str, Target]) -> None:
        for name in plan.removed:
            with self._lock:
                self._failures.pop(name, None)
            self._unschedule(name)
            self.metrics.forget(old[name])
        for name in (*plan.added, *plan.changed):
            self._schedule(new[name], run_now=True)
        self.health.set_targets({t.name: t.interval for t in new.values()})
        self.metrics.track(new.values())

    def _warn_restart_only(self, old: config_mod.Settings, new: config_mod.Settings) -> None:
        # log is not compared: the CLI may override it, and a reload reads the file only.
        keys = [k for k in ("concurrency", "metrics") if getattr(old, k) != getattr(new, k)]
        if keys:
            log.warning("reload_needs_restart", settings=keys, applied="after a restart")

    # -- jobs ---------------------------------------------------------------------------------

    def jobs(self) -> dict[str, ScheduledJob]:
        """The scheduled targets by name, for tests and debugging."""
        assert self._scheduler is not None  # noqa: S101 - start() ran
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

    def _schedule(self, target: Target, *, run_now: bool) -> None:
        assert self._scheduler is not None  # noqa: S101
        amount, relative = self.config.jitter_for(target.name)
        jitter = jitter_seconds(target.interval, amount, relative)
        self._scheduler.add_job(
            self._run_target,
            IntervalTrigger(seconds=target.interval, jitter=jitter or None, timezone=UTC),
            args=[target.name],
            id=_job_id(target.name),
            name=target.name,
            replace_existing=True,
            next_run_time=datetime.now(UTC) if run_now else None,
        )

    def _unschedule(self, name: str) -> None:
        assert self._scheduler is not None  # noqa: S101
        with contextlib.suppress(JobLookupError):
            self._scheduler.remove_job(_job_id(name))

    def _run_target(self, name: str) -> None:
        """The job: sync one target with the current runtime, then account for the result."""
        if self._stopping.is_set():
            return  # queued before shutdown began: do not start new work
        with self._lock:
            generation = self._generation
            if generation is None or name not in generation.targets:
                return
            generation.inflight += 1
            self._inflight += 1
        try:
            target = generation.targets[name]
            started = time.monotonic()
            outcome = generation.engine.sync_target(target)
            self._account(target, outcome, time.monotonic() - started)
        finally:
            with self._lock:
                generation.inflight -= 1
                self._inflight -= 1
                close = generation.retired and generation.inflight == 0
                self._idle.notify_all()
            if close:
                _close(generation)

    def _account(self, target: Target, outcome: TargetOutcome, duration: float) -> None:
        name = target.name
        with self._lock:
            current = self._generation
            if current is None or name not in current.targets:
                return  # removed by a reload while it ran: keep no state for it
        self.metrics.record(target, outcome, now=time.time())
        self.metrics.target_duration.labels(name).observe(duration)
        self.health.record(name, ok=outcome.ok)
        if outcome.ok:
            with self._lock:
                failed = self._failures.pop(name, None)
            self.metrics.failures.labels(name).set(0)
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
            self.metrics.failures.labels(name).set(count)
            self._after_failure(target, outcome, count)
        self.notifier.status(self.health.status_line())

    def _after_failure(self, target: Target, outcome: TargetOutcome, failures: int) -> None:
        errors = [outcome.error, *(s.error for s in outcome.sinks)]
        transient = any(e is not None and e.transient for e in errors)
        delay = self.retry.delay(failures, target.interval, transient=transient)
        if delay is not None and not self._move_next_run(target.name, delay):
            delay = None  # the regular run comes first
        log.warning(
            "target_failed",
            target=target.name,
            failed_attempts=failures,
            transient=transient,
            retry_in_s=None if delay is None else round(delay, 3),
        )

    def _move_next_run(self, name: str, delay: float) -> bool:
        """Bring the job's next run forward to now + ``delay``, unless it is due sooner anyway."""
        assert self._scheduler is not None  # noqa: S101
        when = datetime.now(UTC) + timedelta(seconds=delay)
        try:
            job = self._scheduler.get_job(_job_id(name))
            if job is None or self._stopping.is_set():
                return False
            if job.next_run_time is not None and job.next_run_time <= when:
                return False
            self._scheduler.modify_job(_job_id(name), next_run_time=when)
        except JobLookupError:  # removed by a reload meanwhile
            return False
        return True

    # -- helpers ------------------------------------------------------------------------------

    def _new_generation(self, cfg: config_mod.Config, runtime: Runtime) -> _Generation:
        attach([*runtime.providers.values(), *runtime.sinks.values()], self.metrics)
        targets = {t.name: t for t in cfg.targets}
        return _Generation(cfg, runtime, runtime.engine(), targets)

    def _retire(self, generation: _Generation) -> None:
        with self._lock:
            generation.retired = True
            close = generation.inflight == 0
        if close:
            _close(generation)

    def _metrics_route(self, accept: str) -> tuple[int, str, bytes]:
        content_type, body = self.metrics.render(accept)
        return 200, content_type, body

    def _close_listener(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None


def _job_id(name: str) -> str:
    return f"target:{name}"


def _close(generation: _Generation) -> None:
    generation.runtime.close()
    log.debug("runtime_closed", targets=len(generation.targets))


def run_daemon(
    cfg: config_mod.Config,
    *,
    load_config: Callable[[Path], config_mod.Config] = config_mod.load,
) -> int:
    """Run ``syncd run`` until SIGTERM/SIGINT; the process exit code.

    2 when the metrics address is taken or the config cannot be built into
    plugins, 1 when a plugin cannot start or shutdown timed out, else 0.
    """
    daemon = Daemon(cfg, load_config=load_config)
    try:
        daemon.start()
    except ListenError as exc:
        print(f"syncd: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SyncdError as exc:
        return exits.report(exc)
    code = daemon.serve()
    if code != EXIT_OK:
        # A sync still hangs past shutdown_timeout: the interpreter would wait for its
        # worker thread at exit, so leave now. Sink writes are atomic; nothing is half-written.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
