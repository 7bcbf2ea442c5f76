"""Daemon mode (``syncd run``): every target on its own interval, until a signal says stop.

The jobs run on APScheduler (:mod:`syncd.daemon.jobs`), one per target, sharing one
pool of ``concurrency`` workers. Each outcome goes to the
:class:`~syncd.daemon.recorder.Recorder` (metrics, health, failure counts, early
retries of transient failures). An early retry moves the
job's own next run time, so a target still never runs twice at once and never
delays another target's slot.

Signals (:mod:`syncd.daemon.signals`): SIGTERM/SIGINT stop starting syncs, let running
ones finish for up to ``shutdown_timeout`` and exit 0 (1 if the timeout cut
work off). A running sync that sleeps (a rate limiter's pause, a backoff, a
poll) does not make shutdown wait: the shutdown sets the stop event of every
engine (:mod:`syncd.core.timebox`), so those waits end at once and their targets
fail as interrupted; a request in flight still finishes. SIGHUP reloads the
config in place (:mod:`syncd.daemon.reload`).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import structlog

from syncd import exits, redaction
from syncd.config import settings as config_mod
from syncd.core import bulkhead
from syncd.core.breaker import Breakers, Kind
from syncd.core.models import Target
from syncd.core.runtime import Runtime
from syncd.daemon import heap
from syncd.daemon.health import Health, HttpListener, probe_listener
from syncd.daemon.jobs import Jobs, Notices, ScheduledJob
from syncd.daemon.logthrottle import LogThrottle
from syncd.daemon.metrics import Metrics
from syncd.daemon.recorder import Recorder, RetryPolicy
from syncd.daemon.reload import Generation, ReloadPlan, prepare, warn_restart_only
from syncd.daemon.sdnotify import Notifier
from syncd.daemon.signals import Inbox
from syncd.errors import SyncdError
from syncd.exits import EXIT_FAILED, EXIT_OK

log = structlog.get_logger("syncd.scheduler")

#: Seconds over which the failed targets of a recovered provider or sink are run again.
RECOVERY_SPREAD = 1.0


class Daemon:
    """The scheduler, its jobs and their runtime, driven by :meth:`serve` on the main thread.

    ``build_runtime`` and ``load_config`` default to the real ones; tests pass
    builders of fakes, and ``notices`` with a fake clock. Use :meth:`start` (may
    raise), then :meth:`serve`.
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
        notices: Notices | None = None,
    ) -> None:
        self.config = cfg
        self._notices = notices
        self._build_runtime = build_runtime
        self._load_config = load_config
        self.notifier = notifier if notifier is not None else Notifier()
        self.metrics = metrics if metrics is not None else Metrics(daemon=True)
        watchdog = self.notifier.watchdog_interval()
        self._tick = watchdog
        self.health = Health(beat_period=min(watchdog or 10.0, 10.0))
        # The breakers of whichever runtime is current: a reload brings new ones.
        self.health.watch_breakers(lambda: self.breakers().open())
        self.metrics.watch_breakers(lambda: self.breakers().all())
        self._inbox: Inbox | None = None  # opened by start(), closed by shutdown()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._inflight = 0
        self._stopping = threading.Event()
        self.recorder = Recorder(
            metrics=self.metrics,
            health=self.health,
            notifier=self.notifier,
            retry=retry or RetryPolicy(),
            retry_in=self._move_next_run,
        )
        self._generation: Generation | None = None
        #: ``target_deferred`` lines, one per provider per minute.
        self._deferrals = LogThrottle()
        self._listener: HttpListener | None = None
        self._jobs: Jobs | None = None

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Listen for probes, build the runtime, schedule every target, report READY=1.

        Raises ListenError when the metrics address cannot be bound, and ConfigError,
        PluginError or another SyncdError when the runtime cannot be built.
        """
        settings = self.config.settings
        if settings.metrics.enabled:
            listen = settings.metrics.listen
            self._listener = probe_listener(listen, self.health, self.metrics.render)
        try:
            runtime = self._build_runtime(self.config)
            self._generation = Generation.build(
                self.config, runtime, self.metrics, stop=self._stopping
            )
            runtime.breakers.listen(self._dependency_back)
        except BaseException:
            self._close_listener()
            raise
        self._jobs = jobs = Jobs(
            self._run_target,
            concurrency=settings.concurrency,
            heartbeat=self.health.beat,
            beat_period=self.health.beat_period,
            notices=self._notices,
        )
        for target in self.config.targets:
            jobs.schedule(target, run_now=True)
        self.recorder.track(self.config.targets)
        self._inbox = Inbox()
        # Paused until READY=1 is sent, so no sync's STATUS= can reach systemd before it.
        jobs.start_paused()
        self.health.set_running(True)
        self.notifier.ready()
        self.notifier.status(self.health.status_line())
        jobs.resume()
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
        assert self._inbox is not None  # noqa: S101 - start() ran
        self._inbox.serve(
            tick=self._tick, on_tick=self._watchdog, on_reload=self.reload, install=install_signals
        )
        return self.shutdown()

    def _watchdog(self) -> None:
        # Only a live scheduler earns a ping: a wedged one gets the service restarted.
        if self.health.alive()[0]:
            self.notifier.watchdog()

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
        self._stopping.set()  # new jobs return at once, and sleeping syncs wake and end
        if self._jobs is not None:
            self._jobs.pause()
        with self._lock:
            log.info("shutdown_started", in_flight=self._inflight, timeout_s=timeout)
            finished = self._idle.wait_for(lambda: self._inflight == 0, timeout)
        self.health.set_running(False)
        if self._jobs is not None:
            # Joining the pool is instant when idle; waiting on a stuck sync would hang.
            self._jobs.shutdown(wait=finished)
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
        generation = prepare(
            self.config.path,
            load_config=self._load_config,
            build_runtime=self._build_runtime,
            metrics=self.metrics,
            stop=self._stopping,
        )
        if generation is None:
            self.metrics.reloads.labels("failed").inc()
            self.notifier.ready()
            return False
        generation.runtime.breakers.listen(self._dependency_back)
        new_cfg = generation.config
        plan = ReloadPlan.between(self.config, new_cfg)
        with self._lock:
            self._generation = generation
            self.config = new_cfg
        self._retire(old)
        self._apply(plan, old.targets, generation.targets)
        warn_restart_only(old.config.settings, new_cfg.settings)
        self.metrics.reloads.labels("ok").inc()
        plan.log(new_cfg)
        self.notifier.ready()
        self.notifier.status(self.health.status_line())
        del old  # closed, or closes when its last sync ends: its memory can go back
        heap.release()
        return True

    def _apply(self, plan: ReloadPlan, old: dict[str, Target], new: dict[str, Target]) -> None:
        jobs = self._jobs
        assert jobs is not None  # noqa: S101 - start() ran
        for name in plan.removed:
            jobs.unschedule(name)
            self.recorder.forget(old[name])
            redaction.forget_target(old[name].provider, name)
        for name in plan.changed:
            if old[name].provider != new[name].provider:
                redaction.forget_target(old[name].provider, name)
        for name in (*plan.added, *plan.changed):
            jobs.schedule(new[name], run_now=True)
        self.recorder.track(new.values())

    def breakers(self) -> Breakers:
        """The circuit breakers of the current runtime (none before :meth:`start`)."""
        with self._lock:
            generation = self._generation
        return generation.runtime.breakers if generation is not None else Breakers()

    # -- jobs ---------------------------------------------------------------------------------

    def jobs(self) -> dict[str, ScheduledJob]:
        """The scheduled targets by name, for tests and debugging."""
        assert self._jobs is not None  # noqa: S101 - start() ran
        return self._jobs.jobs()

    def _run_target(self, name: str) -> None:
        """The job: sync one target with the current runtime, then account for the result."""
        if self._stopping.is_set():
            return  # queued before shutdown began: do not start new work
        with self._lock:
            generation = self._generation
            if generation is None or name not in generation.targets:
                return
        target = generation.targets[name]
        release = generation.engine.admit(target.provider)
        if release is None:
            self._defer(generation, target)
            return
        with self._lock:
            generation.inflight += 1
            self._inflight += 1
        try:
            started = time.monotonic()
            outcome = generation.engine.sync_target(target)
            with self._lock:
                current = self._generation
                # Removed by a reload while it ran: keep no state for it.
                gone = current is None or name not in current.targets
            if not gone:
                self.recorder.record(target, outcome, time.monotonic() - started)
        finally:
            release()
            with self._lock:
                generation.inflight -= 1
                self._inflight -= 1
                close = generation.retired and generation.inflight == 0
                self._idle.notify_all()
            if close:
                generation.close()

    def _dependency_back(self, kind: Kind, name: str) -> None:
        """A breaker closed: run the failed targets that use it now, not at their next retry.

        Spread over :data:`RECOVERY_SPREAD` seconds, so the recovered server
        does not get them all at once.
        """
        with self._lock:
            generation = self._generation
        if generation is None:
            return
        failing = self.recorder.failing()
        names = [
            t.name
            for t in generation.targets.values()
            if t.name in failing
            and (t.provider == name if kind == "provider" else any(b.sink == name for b in t.sinks))
        ]
        for i, target in enumerate(names):
            self._move_next_run(target, RECOVERY_SPREAD * i / max(1, len(names)))
        log.info("dependency_recovered", kind=kind, name=name, rerun=len(names))

    def _defer(self, generation: Generation, target: Target) -> None:
        """Run ``target`` a moment later: its provider holds its whole share of the workers.

        Logged once per provider per minute (``suppressed`` counts the rest).
        """
        if not self._move_next_run(target.name, bulkhead.DEFER):
            return
        suppressed = self._deferrals.admit(target.provider)
        if suppressed is not None:
            log.warning(
                "target_deferred",
                provider=target.provider,
                slots=generation.engine.bulkheads.provider(target.provider).capacity,
                defer_s=bulkhead.DEFER,
                suppressed=suppressed,
            )

    def _move_next_run(self, name: str, delay: float) -> bool:
        """Retry ``name`` early (the Recorder's ``retry_in``); never once shutdown began."""
        if self._jobs is None or self._stopping.is_set():
            return False
        return self._jobs.move_next_run(name, delay)

    # -- helpers ------------------------------------------------------------------------------

    def _retire(self, generation: Generation) -> None:
        with self._lock:
            generation.retired = True
            close = generation.inflight == 0
        if close:
            generation.close()

    def _close_listener(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None


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
