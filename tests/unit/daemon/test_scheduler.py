"""Tests for syncd.daemon.scheduler and syncd.daemon.health: the daemon loop driven with in-memory fakes.

The scheduler is the real APScheduler; providers and sinks are fakes, so the
timing under test (retries, reloads, shutdown) runs in well under a second.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from syncd import logs as logs_mod
from syncd.config import settings as config_mod
from syncd.core import timebox
from syncd.core.models import ConnectionInfo, Target
from syncd.core.runtime import Runtime
from syncd.daemon.health import Health
from syncd.daemon.jobs import JobEvent, Notices
from syncd.daemon.logthrottle import LogThrottle
from syncd.daemon.metrics import Metrics
from syncd.daemon.scheduler import Daemon, RetryPolicy
from syncd.daemon.signals import _ignore
from syncd.errors import Interrupted, ProviderUnavailable
from syncd.testing.fakes import MemorySink, StaticProvider
from tests.support.configs import offline_config
from tests.support.notify import RecordingNotifier

URI = "postgresql://app:pw-{n}-0123456789@db.example:5432/app?sslmode=require"


class ScriptedProvider(StaticProvider):
    """A StaticProvider that fails on cue, or holds a project's fetch until released."""

    def __init__(self, uris: dict[tuple[str, str, bool], str]) -> None:
        super().__init__(uris)
        self.failures: deque[Exception] = deque()
        self.holds: dict[str, threading.Event] = {}
        self.pauses: dict[str, float] = {}
        self.entered: set[str] = set()
        self.interrupted: list[str] = []
        self.closed = False

    def fetch(self, target: Target) -> ConnectionInfo:
        self.entered.add(target.project)
        pause = self.pauses.get(target.project)
        if pause is not None:
            try:
                timebox.sleep(pause)  # as a limiter waits out a server's Retry-After
            except Interrupted:
                self.interrupted.append(target.project)
                raise
        hold = self.holds.get(target.project)
        if hold is not None:
            hold.wait(10)
        if self.failures:
            raise self.failures.popleft()
        return super().fetch(target)

    def close(self) -> None:
        self.closed = True


class World:
    """The config file, the fakes behind it and the daemons built from it."""

    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "syncd.yaml"
        self.uris: dict[tuple[str, str, bool], str] = {}
        self.sink = MemorySink("mem")
        self.providers: list[ScriptedProvider] = []
        self.daemons: list[Daemon] = []
        self.holds: dict[str, threading.Event] = {}
        self.pauses: dict[str, float] = {}
        self.failures: deque[Exception] = deque()

    def write(self, targets: list[dict[str, Any]], **settings: Any) -> None:
        for t in targets:
            self.uris.setdefault((t["project"], "main", False), URI.format(n=t["name"]))
        offline_config(self.path, targets, **settings)

    def build(self, cfg: config_mod.Config) -> Runtime:
        provider = ScriptedProvider(self.uris)
        provider.holds = self.holds
        provider.pauses = self.pauses
        provider.failures = self.failures
        self.providers.append(provider)
        return Runtime(cfg, {"cd": provider}, {"mem": self.sink})

    @property
    def provider(self) -> ScriptedProvider:
        return self.providers[-1]

    def hold(self, name: str) -> threading.Event:
        """Make the fetch of target ``name`` wait until the returned event is set."""
        return self.holds.setdefault(f"p-{name}", threading.Event())

    def daemon(
        self,
        *,
        retry: RetryPolicy | None = None,
        watchdog_usec: str = "",
        notices: Notices | None = None,
    ) -> Daemon:
        env = {"WATCHDOG_USEC": watchdog_usec} if watchdog_usec else {}
        daemon = Daemon(
            config_mod.load(self.path),
            build_runtime=self.build,
            notifier=RecordingNotifier(env),
            retry=retry,
            metrics=Metrics(daemon=True),
            notices=notices,
        )
        self.daemons.append(daemon)
        return daemon


def target(name: str, **kw: Any) -> dict[str, Any]:
    return {
        "name": name,
        "provider": "cd",
        "project": f"p-{name}",
        "sinks": [{"sink": "mem", "secret": name}],
        **kw,
    }


def eventually(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def sample(daemon: Daemon, name: str, **labels: str) -> float | None:
    return daemon.metrics.registry.get_sample_value(name, labels)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    for hold in w.holds.values():
        hold.set()
    for daemon in w.daemons:
        if not daemon._stopping.is_set():
            daemon.shutdown()


# -- the running daemon ------------------------------------------------------------------------


def test_every_target_syncs_at_start_with_its_own_job(world: World) -> None:
    """Each target gets one job (max_instances=1, coalesce) that first runs at start, then READY=1."""
    world.write([target("a", interval="15m", jitter="10%"), target("b", jitter="30s")])
    daemon = world.daemon()
    daemon.start()
    eventually(lambda: {"a", "b"} <= set(world.sink.secrets))
    jobs = daemon.jobs()
    assert set(jobs) == {"a", "b"}
    assert (jobs["a"].interval, jobs["a"].jitter) == (900, 90)
    assert (jobs["b"].interval, jobs["b"].jitter) == (600, 30)
    assert all(j.max_instances == 1 and j.coalesce for j in jobs.values())
    notifier = daemon.notifier
    assert isinstance(notifier, RecordingNotifier)
    assert notifier.names()[0] == "READY"
    eventually(
        lambda: str(notifier.sent[-1].get("STATUS", "")).startswith(
            "2 targets ok, 0 failed; last sync "
        )
    )


def test_concurrency_bounds_the_shared_worker_pool(world: World) -> None:
    """With concurrency 1, a target stuck in its sync keeps the other one waiting: one pool for all."""
    world.write([target("a"), target("b")], concurrency=1)
    holds = [world.hold("a"), world.hold("b")]
    world.daemon().start()
    eventually(lambda: world.provider.entered)
    time.sleep(0.2)
    assert len(world.provider.entered) == 1
    for hold in holds:
        hold.set()
    eventually(lambda: {"a", "b"} <= set(world.sink.secrets))


def test_a_stuck_target_does_not_stall_the_others(world: World) -> None:
    """While one target hangs in its fetch, the others are synced by the other workers."""
    world.write([target("stuck"), target("fine")], concurrency=2)
    hold = world.hold("stuck")
    world.daemon().start()
    eventually(lambda: "fine" in world.sink.secrets)
    assert "stuck" not in world.sink.secrets
    hold.set()
    eventually(lambda: "stuck" in world.sink.secrets)


def test_transient_failures_are_retried_with_backoff_and_recovery_is_logged(world: World) -> None:
    """Two 503s are retried after 0.2s and 0.4s; the success logs target_recovered with 2 attempts."""
    world.write([target("a")])
    daemon = world.daemon(retry=RetryPolicy(base=0.2))
    world.failures.extend([ProviderUnavailable("case.dev answered 503")] * 2)
    with capture_logs() as logs:
        daemon.start()
        eventually(lambda: any(e["event"] == "target_recovered" for e in logs))
    failed = [e for e in logs if e["event"] == "target_failed"]
    assert [e["retry_in_s"] for e in failed] == [0.2, 0.4]
    assert all(e["transient"] for e in failed)
    recovered = next(e for e in logs if e["event"] == "target_recovered")
    assert recovered["target"] == "a"
    assert recovered["failed_attempts"] == 2
    assert sample(daemon, "syncd_target_consecutive_failures", target="a") == 0
    assert sample(daemon, "syncd_sync_total", target="a", sink="mem", result="fetch_error") == 2


def test_permanent_failure_waits_for_the_next_interval(world: World) -> None:
    """A 404-like failure is logged without an early retry and not attempted again meanwhile."""
    world.write([target("a")])
    world.uris.clear()  # every fetch now fails with ProviderNotFound
    daemon = world.daemon(retry=RetryPolicy(base=0.05))
    with capture_logs() as logs:
        daemon.start()
        eventually(lambda: any(e["event"] == "target_failed" for e in logs))
        time.sleep(0.3)
    failed = [e for e in logs if e["event"] == "target_failed"]
    assert len(failed) == 1
    assert failed[0]["transient"] is False
    assert failed[0]["retry_in_s"] is None
    assert world.provider.calls == 1


def test_reload_adds_removes_and_reschedules_without_restart(world: World) -> None:
    """SIGHUP's reload adds new targets (synced at once), drops removed ones and reschedules changed ones."""
    world.write([target("a"), target("b")])
    daemon = world.daemon()
    daemon.start()
    eventually(lambda: {"a", "b"} <= set(world.sink.secrets))
    first = world.provider
    world.write([target("a", interval="20m"), target("c")])
    with capture_logs() as logs:
        assert daemon.reload() is True
    assert set(daemon.jobs()) == {"a", "c"}
    assert daemon.jobs()["a"].interval == 1200
    eventually(lambda: "c" in world.sink.secrets)
    reloaded = next(e for e in logs if e["event"] == "config_reloaded")
    assert (reloaded["added"], reloaded["removed"], reloaded["changed"]) == (1, 1, 1)
    eventually(lambda: first.closed)
    assert not world.provider.closed
    assert sample(daemon, "syncd_config_reloads_total", result="ok") == 1
    assert "b" not in daemon.health.ready()[1]


def test_invalid_config_on_reload_is_rejected_and_the_old_one_keeps_running(world: World) -> None:
    """A broken file logs one config_reload_failed event and changes nothing."""
    world.write([target("a")])
    daemon = world.daemon()
    daemon.start()
    eventually(lambda: "a" in world.sink.secrets)
    world.path.write_text("targets: [{name: a, provider: nowhere}]\nbogus_key: 1\n")
    with capture_logs() as logs:
        assert daemon.reload() is False
    failures = [e for e in logs if e["event"] == "config_reload_failed"]
    assert len(failures) == 1
    assert str(world.path) in failures[0]["error"]
    assert "bogus_key" in failures[0]["error"]
    assert set(daemon.jobs()) == {"a"}
    assert not world.provider.closed
    assert sample(daemon, "syncd_config_reloads_total", result="failed") == 1


def test_old_runtime_is_closed_only_after_its_inflight_sync(world: World) -> None:
    """A reload while a sync runs keeps the old plugins open until that sync returns."""
    world.write([target("a")])
    hold = world.hold("a")
    daemon = world.daemon()
    daemon.start()
    first = world.provider
    eventually(lambda: "p-a" in first.entered)
    world.write([target("a"), target("b")])
    assert daemon.reload() is True
    eventually(lambda: "b" in world.sink.secrets)
    assert not first.closed
    hold.set()
    eventually(lambda: first.closed)


def test_shutdown_lets_the_inflight_write_finish(world: World) -> None:
    """Stopping waits for a running sync, writes it completely, then closes the plugins (exit 0)."""
    world.write([target("a")], shutdown_timeout="5s")
    hold = world.hold("a")
    daemon = world.daemon()
    daemon.start()
    eventually(lambda: "p-a" in world.provider.entered)
    timer = threading.Timer(0.2, hold.set)
    timer.start()
    assert daemon.shutdown() == 0
    timer.join()
    assert "a" in world.sink.secrets
    assert world.provider.closed
    assert isinstance(daemon.notifier, RecordingNotifier)
    assert "STOPPING" in daemon.notifier.names()


def test_shutdown_gives_up_after_the_timeout(world: World) -> None:
    """A sync stuck past shutdown_timeout makes shutdown return 1 instead of hanging."""
    world.write([target("a")], shutdown_timeout="0.2s")
    hold = world.hold("a")
    daemon = world.daemon()
    daemon.start()
    eventually(lambda: "p-a" in world.provider.entered)
    with capture_logs() as logs:
        started = time.monotonic()
        assert daemon.shutdown() == 1
    assert time.monotonic() - started < 2
    assert any(e["event"] == "shutdown_timed_out" for e in logs)
    hold.set()
    eventually(lambda: "a" in world.sink.secrets)  # the abandoned sync still completes whole


@pytest.mark.timeout(60)
def test_shutdown_wakes_a_sync_sleeping_in_a_pause(world: World) -> None:
    """A sync sleeping out a long pause does not hold shutdown: it ends unrecorded, exit 0."""
    world.write([target("a")], shutdown_timeout="50s")
    world.pauses["p-a"] = 3600.0
    daemon = world.daemon()
    daemon.start()
    eventually(lambda: "p-a" in world.provider.entered)
    with capture_logs() as logs:
        assert daemon.shutdown() == 0
    assert world.provider.interrupted == ["p-a"]
    assert "a" not in world.sink.secrets
    events = [e["event"] for e in logs]
    assert "shutdown_timed_out" not in events
    assert "target_failed" not in events  # cut short by the shutdown: not a failure


def test_signals_reload_and_stop_the_serving_loop(world: World) -> None:
    """Real SIGHUP reloads and real SIGTERM stops serve() with 0; the old handlers come back."""
    world.write([target("a")])
    daemon = world.daemon()
    daemon.start()
    before = signal.getsignal(signal.SIGTERM)

    def poke() -> None:
        try:
            eventually(lambda: signal.getsignal(signal.SIGHUP) is _ignore)
            os.kill(os.getpid(), signal.SIGHUP)
            eventually(lambda: sample(daemon, "syncd_config_reloads_total", result="ok") == 1)
        finally:
            if signal.getsignal(signal.SIGTERM) is _ignore:
                os.kill(os.getpid(), signal.SIGTERM)
            else:
                daemon.request_stop()

    helper = threading.Thread(target=poke)
    helper.start()
    assert daemon.serve() == 0
    helper.join()
    assert signal.getsignal(signal.SIGTERM) is before
    assert sample(daemon, "syncd_config_reloads_total", result="ok") == 1


def test_watchdog_pings_come_from_a_healthy_loop(world: World) -> None:
    """With WATCHDOG_USEC set, the main loop sends WATCHDOG=1 every half period while the scheduler beats."""
    world.write([target("a")])
    daemon = world.daemon(watchdog_usec="100000")
    daemon.start()
    loop = threading.Thread(target=daemon.serve, kwargs={"install_signals": False})
    loop.start()
    notifier = daemon.notifier
    assert isinstance(notifier, RecordingNotifier)
    eventually(lambda: notifier.names().count("WATCHDOG") >= 3)
    daemon.request_stop()
    loop.join(5)
    assert notifier.names()[-1] == "STOPPING"


# -- health ------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingNotices(Notices):
    """Notices that count the scheduler events they were given, so a test can wait for them."""

    def __init__(self, throttle: LogThrottle) -> None:
        super().__init__(throttle)
        self.seen = 0

    def __call__(self, event: JobEvent) -> None:
        super().__call__(event)
        self.seen += 1  # one listener thread at a time in this test: the scheduler's


def test_a_hung_target_logs_one_cycle_skipped_per_minute_with_the_suppressed_count(
    world: World,
) -> None:
    """A sync hanging past its interval logs cycle_skipped once a minute, never APScheduler's text."""
    stream = io.StringIO()
    logs_mod.configure("info", "json", stream)
    clock = FakeClock()
    notices = CountingNotices(LogThrottle(60.0, clock=clock))
    world.write([target("stuck"), target("fine")], concurrency=2)
    world.hold("stuck")
    daemon = world.daemon(notices=notices)
    daemon.start()
    eventually(lambda: "p-stuck" in world.provider.entered and "fine" in world.sink.secrets)

    def skip_times(n: int) -> None:
        # Each interval that passes while the run hangs is one skip; bring the next one forward.
        for _ in range(n):
            seen = notices.seen
            assert daemon._move_next_run("stuck", 0)
            eventually(lambda: notices.seen == seen + 1)  # noqa: B023 - called within the loop

    skip_times(5)  # minute 1: the first is logged, 4 held back
    clock.now += 60
    skip_times(7)  # minute 2: the first is logged with suppressed=4, 6 held back
    clock.now += 61
    skip_times(1)  # minute 3
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    skipped = [line for line in lines if line["event"] == "cycle_skipped"]
    assert [(e["target"], e["suppressed"], e["running_s"]) for e in skipped] == [
        ("stuck", 0, 0.0),
        ("stuck", 4, 60.0),
        ("stuck", 6, 121.0),
    ]
    assert all(e["level"] == "warning" for e in skipped)
    # Every line has a stable snake_case event; APScheduler's sentences are gone.
    assert all(re.fullmatch(r"[a-z_]+", line["event"]) for line in lines), lines
    assert "maximum number of running instances" not in stream.getvalue()


def test_readiness_needs_a_recent_success_of_every_target() -> None:
    """/readyz is 503 before the first success and again once a success is older than 2x the interval."""
    clock = FakeClock()
    health = Health(clock=clock)
    health.set_targets({"a": 10.0, "b": 60.0})
    ok, body = health.ready()
    assert not ok
    assert "a: no successful sync yet" in body
    assert "b: no successful sync yet" in body
    health.record("a", ok=True)
    health.record("b", ok=True)
    assert health.ready() == (True, "ready: 2 target(s) fresh")
    clock.now += 20
    assert health.ready()[0]
    clock.now += 1
    health.record("a", ok=False)
    ok, body = health.ready()
    assert not ok
    assert body.splitlines() == [
        "not ready: 1 of 2 target(s) stale",
        "a: last success 21s ago (bound 20s)",
    ]


def test_readiness_forgets_removed_targets_and_ignores_late_results() -> None:
    """After a reload, a removed target neither blocks readiness nor comes back with a late result."""
    health = Health(clock=FakeClock())
    health.set_targets({"a": 10.0, "gone": 10.0})
    health.record("a", ok=True)
    health.set_targets({"a": 10.0})
    health.record("gone", ok=True)
    assert health.ready() == (True, "ready: 1 target(s) fresh")


def test_liveness_follows_the_scheduler_heartbeat() -> None:
    """/healthz is 503 until the scheduler runs and again when its heartbeat stops for 3 periods."""
    clock = FakeClock()
    health = Health(beat_period=10.0, clock=clock)
    assert health.alive() == (False, "scheduler not running")
    health.set_running(True)
    assert health.alive() == (True, "ok")
    clock.now += 29
    health.beat()
    clock.now += 30
    assert health.alive()[0]
    clock.now += 1
    assert health.alive() == (False, "scheduler stalled: last heartbeat 31s ago")


def test_status_line_summarises_the_latest_results() -> None:
    """STATUS= reads like '3 targets ok, 0 failed; last sync 12:00:01Z'."""
    health = Health(clock=FakeClock(), wall=lambda: 1_700_000_401.0)
    health.set_targets({"a": 10.0, "b": 10.0, "c": 10.0})
    assert health.status_line() == "0 targets ok, 0 failed, 3 pending"
    for name in ("a", "b"):
        health.record(name, ok=True)
    health.record("c", ok=False)
    assert health.status_line() == "2 targets ok, 1 failed; last sync 22:20:01Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n"
                for p, c in zip("abcdefg", "bcdefgh", strict=True)
            )
            + "targets: []\n",
            "expand this file beyond",
        ),
        ("log: {level: info}\nlog: {level: debug}\n", "duplicate key 'log'"),
        ("", "the config file is empty"),
    ],
)
def test_reload_refuses_bombs_duplicates_and_empty_files(
    world: World, text: str, expected: str
) -> None:
    """A SIGHUP reload of an alias bomb, duplicate keys or an empty file keeps the old config."""
    world.write([target("a")])
    daemon = world.daemon()
    daemon.start()
    eventually(lambda: "a" in world.sink.secrets)
    world.path.write_text(text)
    with capture_logs() as logs:
        assert daemon.reload() is False
    failures = [e for e in logs if e["event"] == "config_reload_failed"]
    assert len(failures) == 1 and expected in failures[0]["error"]
    assert set(daemon.jobs()) == {"a"}
