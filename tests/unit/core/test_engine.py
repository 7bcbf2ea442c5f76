"""Tests for syncd.core.engine with in-memory fakes."""

from __future__ import annotations

import math
import threading
import time

import pytest

from syncd.core import timebox
from syncd.core.engine import Engine
from syncd.core.models import (
    Action,
    Owner,
    Rotation,
    RotationMode,
    SecretState,
    SinkBinding,
    Target,
    TargetOutcome,
)
from syncd.errors import (
    RateLimited,
    SecretOwnedElsewhere,
    SinkUnavailable,
    TargetTimedOut,
)
from syncd.net.ratelimit import TokenBucket
from syncd.sinks.base import WriteRequest
from syncd.testing.fakes import MemorySink, StaticProvider


def uri(pw: str) -> str:
    return f"postgresql://u:{pw}@h.example/db?sslmode=require"


def target(name: str = "t", *sinks: SinkBinding, project: str = "p1") -> Target:
    return Target(name, "prov", project, sinks=sinks or (SinkBinding("mem", f"{name}/db", "uri"),))


@pytest.fixture
def provider() -> StaticProvider:
    return StaticProvider({("p1", "main", False): uri("pw-one-111")})


@pytest.mark.parametrize(
    ("text", "legacy", "owner"),
    [
        ("prod/app", None, Owner("prod", "app")),
        ("prod/app", "ignored", Owner("prod", "app")),
        (None, "app", Owner(None, "app")),
        (None, None, None),
        ("garbage", None, Owner("garbage", "?")),
    ],
)
def test_owner_decoding(text: str | None, legacy: str | None, owner: Owner | None) -> None:
    """Recorded owners parse; a target-only record is legacy; garbage never matches a real target."""
    assert Owner.decode(text, legacy_target=legacy) == owner


def test_engine_records_its_instance(provider: StaticProvider) -> None:
    """The engine's instance and the target name become the owner the sink records."""
    sink = MemorySink("mem")
    Engine({"prov": provider}, {"mem": sink}, instance="prod").sync_target(target())
    assert sink.inspect("t/db").owner == Owner("prod", "t")
    other = Engine({"prov": provider}, {"mem": sink}, instance="staging").sync_target(target())
    assert isinstance(other.sinks[0].error, SecretOwnedElsewhere)


def test_one_fetch_feeds_every_sink(provider: StaticProvider) -> None:
    """A target with several sinks fetches once and writes each sink."""
    a, b = MemorySink("a"), MemorySink("b")
    t = target("t", SinkBinding("a", "x", "json"), SinkBinding("b", "y", "env"))
    outcome = Engine({"prov": provider}, {"a": a, "b": b}).sync_target(t)
    assert outcome.ok and provider.calls == 1
    assert a.secrets["x"].text.startswith("{") and b.secrets["y"].text.startswith("DATABASE_URL=")


class BrokenSink(MemorySink):
    def write(self, request: WriteRequest) -> str | None:
        raise SinkUnavailable("vault sink v: sealed")


def test_one_sink_failing_does_not_stop_the_others(provider: StaticProvider) -> None:
    """A failing sink is reported while the other sink of the same target is written."""
    good = MemorySink("good")
    t = target("t", SinkBinding("bad", "x", "uri"), SinkBinding("good", "y", "uri"))
    outcome = Engine({"prov": provider}, {"bad": BrokenSink("bad"), "good": good}).sync_target(t)
    assert not outcome.ok
    bad_result, good_result = outcome.sinks
    assert isinstance(bad_result.error, SinkUnavailable) and bad_result.action is Action.CREATE
    assert good_result.written and "y" in good.secrets


class CrashingSink(MemorySink):
    def inspect(self, secret: str) -> SecretState:
        raise RuntimeError("bug")


def test_a_sink_bug_is_contained(provider: StaticProvider) -> None:
    """An unexpected exception in a plugin fails that binding only."""
    outcome = Engine({"prov": provider}, {"mem": CrashingSink()}).sync_target(target())
    assert outcome.sinks[0].error is not None and "unexpected RuntimeError" in str(
        outcome.sinks[0].error
    )


def test_fetch_failure_fails_the_target_and_writes_nothing() -> None:
    """A provider error fails the target before any sink is touched."""
    sink = MemorySink("mem")
    outcome = Engine({"prov": StaticProvider()}, {"mem": sink}).sync_target(target())
    assert outcome.error is not None and not outcome.sinks and sink.writes == 0


def test_dry_run_writes_nothing(provider: StaticProvider) -> None:
    """A dry run reports the action it would take and writes nothing."""
    sink = MemorySink("mem")
    report = Engine({"prov": provider}, {"mem": sink}, dry_run=True).run_cycle([target()])
    assert report.outcomes[0].sinks[0].action is Action.CREATE
    assert sink.writes == 0 and report.counts["create"] == 1


def test_cycle_counts(provider: StaticProvider) -> None:
    """The cycle report counts targets and actions."""
    provider.uris[("p2", "main", False)] = uri("pw-two-222")
    sink = MemorySink("mem")
    engine = Engine({"prov": provider}, {"mem": sink})
    targets = [target("a"), target("b", project="p2"), target("c", project="missing")]
    first = engine.run_cycle(targets)
    assert (first.counts["targets_ok"], first.counts["targets_failed"], first.counts["create"]) == (
        2,
        1,
        2,
    )
    assert not first.ok
    second = engine.run_cycle(targets[:2])
    assert second.ok and second.counts["unchanged"] == 2


class SlowProvider(StaticProvider):
    def __init__(self) -> None:
        super().__init__({("p1", "main", False): uri("pw-slow-333")})
        self.active = 0
        self.peak = 0
        self._lock = threading.Lock()

    def fetch(self, target: Target):  # type: ignore[no-untyped-def]
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(0.02)
        with self._lock:
            self.active -= 1
        return super().fetch(Target(target.name, "prov", "p1"))


def test_concurrency_is_bounded() -> None:
    """No more than `concurrency` targets are in flight at once."""
    provider = SlowProvider()
    targets = [target(f"t{i}") for i in range(12)]
    Engine({"prov": provider}, {"mem": MemorySink()}, concurrency=3).run_cycle(targets)
    assert 1 < provider.peak <= 3


def test_unrenderable_binding_fails_alone(provider: StaticProvider) -> None:
    """A document the format refuses fails that binding only; the target's other bindings sync."""
    sink = MemorySink("mem")
    bad = SinkBinding("mem", "t/bad", "env", env_var="1-not-a-name")
    good = SinkBinding("mem", "t/good", "uri")
    outcome = Engine({"prov": provider}, {"mem": sink}).sync_target(target("t", bad, good))
    assert [(o.secret, o.ok) for o in outcome.sinks] == [("t/bad", False), ("t/good", True)]
    assert "nothing was written" in str(outcome.sinks[0].error)
    assert "t/bad" not in sink.secrets


# -- the target's time box ----------------------------------------------------------------------


class Clock:
    """A fake monotonic clock that only moves when a test moves it."""

    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


class PacedProvider(StaticProvider):
    """A provider whose every fetch takes a slot from ``bucket``, then lets ``takes`` pass."""

    def __init__(self, bucket: TokenBucket, clock: Clock, takes: float = 0.0) -> None:
        super().__init__({("p1", "main", False): uri("pw-paced-444")})
        self.bucket = bucket
        self.clock = clock
        self.takes = takes

    def fetch(self, target: Target):  # type: ignore[no-untyped-def]
        self.bucket.acquire()
        self.clock.now += self.takes
        return super().fetch(target)


class PacedSink(MemorySink):
    """A MemorySink whose inspect takes a slot from ``bucket`` first."""

    def __init__(self, bucket: TokenBucket) -> None:
        super().__init__("mem")
        self.bucket = bucket

    def inspect(self, secret: str) -> SecretState:
        self.bucket.acquire()
        return super().inspect(secret)


def test_a_pause_past_the_target_deadline_fails_the_target_without_waiting() -> None:
    """A 30 s server pause with a 10 s deadline fails the fetch at once, naming the limiter."""
    clock = Clock()
    bucket = TokenBucket(None, name="case.dev provider prov", clock=clock, sleep=_never)
    bucket.pause(30)
    engine = Engine(
        {"prov": PacedProvider(bucket, clock)},
        {"mem": MemorySink()},
        target_deadline=10,
        clock=clock,
    )
    outcome = engine.sync_target(target())
    assert isinstance(outcome.error, RateLimited) and outcome.error.transient
    assert str(outcome.error) == "rate limited by case.dev provider prov; retry after 30 s"
    assert clock.now == 500.0


def test_nothing_more_is_sent_once_the_target_deadline_passed() -> None:
    """A fetch that used up the deadline leaves every sink call refused, as timed out."""
    clock = Clock()
    bucket = TokenBucket(None, clock=clock, sleep=_never)
    sink = PacedSink(TokenBucket(None, clock=clock, sleep=_never))
    engine = Engine({"prov": PacedProvider(bucket, clock, takes=121)}, {"mem": sink}, clock=clock)
    outcome = engine.sync_target(target("late"))
    (binding,) = outcome.sinks
    assert isinstance(binding.error, TargetTimedOut)
    assert "target late ran out of its 120 s deadline" in str(binding.error)
    assert sink.secrets == {}


def test_the_default_deadline_leaves_a_healthy_sync_alone() -> None:
    """Within the deadline the limiter waits as it always did, and the target succeeds."""
    clock = Clock()
    bucket = TokenBucket(None, clock=clock, sleep=lambda s: setattr(clock, "now", clock.now + s))
    bucket.pause(30)
    engine = Engine({"prov": PacedProvider(bucket, clock)}, {"mem": MemorySink()}, clock=clock)
    assert engine.sync_target(target()).ok
    assert clock.now == pytest.approx(530.0)


def test_a_rotating_target_is_not_held_to_the_sync_deadline() -> None:
    """The rotate hook runs without the engine's box, so the rotation's own is not cut short."""
    seen: list[float] = []

    def rotate(t: Target) -> TargetOutcome:
        seen.append(timebox.current().left())
        return TargetOutcome(t.name)

    rotating = Target(
        "r",
        "prov",
        "p1",
        sinks=(SinkBinding("mem", "r/db", "uri"),),
        rotation=Rotation(mode=RotationMode.RESET, role="app"),
    )
    Engine({}, {}, rotate=rotate, target_deadline=1).sync_target(rotating)
    assert seen == [math.inf]


def _never(seconds: float) -> None:
    raise AssertionError(f"slept {seconds} s")
