"""Tests for syncd.core.breaker, with fake calls and a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from syncd.core.breaker import FAILURES, PROBE_INTERVAL, Breaker, Breakers, Kind, OpenCircuit
from syncd.core.engine import Engine
from syncd.core.models import ConnectionInfo, SinkBinding, Target
from syncd.core.rotation import Rotations
from syncd.errors import (
    ProviderAuthError,
    ProviderCircuitOpen,
    ProviderError,
    ProviderNotFound,
    ProviderUnavailable,
    ProviderUnreachable,
    RateLimited,
    SinkCircuitOpen,
    SinkUnreachable,
)
from syncd.testing.fakes import MemorySink, StaticProvider
from tests.support.rotation import FakeRotator
from tests.support.rotation import target as rotating_target

#: 2026-01-02 03:04:05 UTC, in epoch seconds.
WALL = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Call:
    """A fake call: raises the queued error, else answers "ok"; counts its calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.error: BaseException | None = None

    def __call__(self) -> str:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return "ok"


def breaker(clock: Clock, kind: Kind = "provider") -> Breaker:
    return Breaker(kind, "cd", clock=clock, wall=lambda: WALL)


def fail(b: Breaker, call: Call, times: int) -> None:
    for _ in range(times):
        with pytest.raises(ProviderError):
            b.call(call)


def test_defaults_are_three_failures_and_thirty_seconds() -> None:
    """The documented defaults: open after 3 failures, probe every 30 s."""
    assert (FAILURES, PROBE_INTERVAL) == (3, 30.0)


def test_opens_after_n_unreachable_and_fails_fast() -> None:
    """Three calls without an answer open it; the next call fails at once, not called."""
    clock, call = Clock(), Call()
    b = breaker(clock)
    call.error = ProviderUnreachable("case.dev timed out")
    fail(b, call, FAILURES - 1)
    assert b.since is None
    fail(b, call, 1)
    assert b.since == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with pytest.raises(ProviderCircuitOpen) as caught:
        b.call(call)
    assert call.calls == FAILURES
    assert str(caught.value) == (
        "provider cd unavailable (circuit open since 2026-01-02 03:04:05 UTC)"
    )
    assert caught.value.transient
    assert isinstance(caught.value, ProviderUnavailable)


def test_sink_breaker_raises_sink_circuit_open() -> None:
    """A sink's open breaker fails with SinkCircuitOpen naming the sink."""
    clock, call = Clock(), Call()
    b = breaker(clock, "sink")
    call.error = SinkUnreachable("cannot reach Vault")
    for _ in range(FAILURES):
        with pytest.raises(SinkUnreachable):
            b.call(call)
    with pytest.raises(SinkCircuitOpen, match=r"^sink cd unavailable \(circuit open since"):
        b.call(call)


def test_probes_every_interval_and_closes_on_success() -> None:
    """While open one probe goes through per interval; a failed probe keeps it open, a success closes."""
    clock, call = Clock(), Call()
    b = breaker(clock)
    call.error = ProviderUnreachable("timed out")
    fail(b, call, FAILURES)
    clock.now += PROBE_INTERVAL - 1
    with pytest.raises(ProviderCircuitOpen):
        b.call(call)
    clock.now += 1
    with pytest.raises(ProviderUnreachable):  # the probe, sent and failed
        b.call(call)
    assert call.calls == FAILURES + 1
    with pytest.raises(ProviderCircuitOpen):  # the next probe is an interval away
        b.call(call)
    since = b.since
    clock.now += PROBE_INTERVAL
    call.error = None
    assert b.call(call) == "ok"
    assert b.since is None
    assert since is not None
    assert b.call(call) == "ok"
    assert call.calls == FAILURES + 3


def test_answers_do_not_count_and_reset_the_count() -> None:
    """A 4xx or auth answer is not counted, and ends a run of failures."""
    clock, call = Clock(), Call()
    b = breaker(clock)
    for answer in (ProviderAuthError("401"), ProviderNotFound("404")):
        call.error = answer
        fail(b, call, FAILURES + 1)
        assert b.since is None
    call.error = ProviderUnreachable("timed out")
    fail(b, call, FAILURES - 1)
    call.error = ProviderNotFound("404")
    fail(b, call, 1)
    call.error = ProviderUnreachable("timed out")
    fail(b, call, FAILURES - 1)
    assert b.since is None


def test_throttling_and_5xx_neither_count_nor_reset() -> None:
    """A 429, a 5xx or a limiter's refusal says nothing about reachability: no change."""
    clock, call = Clock(), Call()
    b = breaker(clock)
    call.error = ProviderUnreachable("timed out")
    fail(b, call, FAILURES - 1)
    for neutral in (ProviderUnavailable("503"), RateLimited("cd", 5.0)):
        call.error = neutral
        for _ in range(FAILURES):
            with pytest.raises(type(neutral)):
                b.call(call)
    assert b.since is None
    call.error = ProviderUnreachable("timed out")
    fail(b, call, 1)
    assert b.since is not None


def test_a_neutral_probe_frees_the_probe_slot() -> None:
    """A probe refused by a rate limiter leaves the breaker open and lets a later probe go."""
    clock, call = Clock(), Call()
    b = breaker(clock)
    call.error = ProviderUnreachable("timed out")
    fail(b, call, FAILURES)
    clock.now += PROBE_INTERVAL
    call.error = RateLimited("cd", 1.0)
    with pytest.raises(RateLimited):
        b.call(call)
    assert b.since is not None
    clock.now += PROBE_INTERVAL
    call.error = None
    assert b.call(call) == "ok"


def test_breakers_report_the_open_ones() -> None:
    """Breakers are kept by kind and name; open() lists the open ones with their time."""
    clock, call = Clock(), Call()
    breakers = Breakers(clock=clock, wall=lambda: WALL)
    assert breakers.provider("cd") is breakers.provider("cd")
    assert breakers.sink("cd") is not breakers.provider("cd")
    call.error = SinkUnreachable("cannot reach Vault")
    for _ in range(FAILURES):
        with pytest.raises(SinkUnreachable):
            breakers.sink("vault").call(call)
    since = datetime.fromtimestamp(WALL, UTC)
    assert breakers.open() == [OpenCircuit("sink", "vault", since)]


class HungProvider(StaticProvider):
    """A provider whose every fetch ends without an answer."""

    def fetch(self, target: Target) -> ConnectionInfo:
        """Count the call and fail as a timeout does."""
        self.calls += 1
        raise ProviderUnreachable("case.dev timed out fetching project p1")


def test_engine_fails_fast_for_a_hung_provider_only() -> None:
    """Once the hung provider's breaker is open its targets fail fast; the other one's sync."""
    uri = "postgresql://u:pw-one-111@h.example/db?sslmode=require"
    healthy, hung = StaticProvider({("p1", "main", False): uri}), HungProvider()
    sink = MemorySink("mem")
    engine = Engine({"ok": healthy, "hung": hung}, {"mem": sink}, concurrency=1)
    targets = [
        Target(f"{p}{i}", p, "p1", sinks=(SinkBinding("mem", f"{p}{i}/db", "uri"),))
        for i in range(5)
        for p in ("ok", "hung")
    ]
    report = engine.run_cycle(targets)
    assert hung.calls == FAILURES
    assert healthy.calls == 5
    errors = [o.error for o in report.outcomes if o.error is not None]
    assert len(errors) == 5
    assert sum(isinstance(e, ProviderCircuitOpen) for e in errors) == 5 - FAILURES
    assert [c.name for c in engine.breakers.open()] == ["hung"]


def test_engine_sink_breaker_guards_inspect() -> None:
    """A sink that never answers is skipped fast after N failures; the fetch still runs."""

    class HungSink(MemorySink):
        def inspect(self, secret: str):  # type: ignore[no-untyped-def]
            self.writes += 1
            raise SinkUnreachable("cannot reach Vault")

    uri = "postgresql://u:pw-one-111@h.example/db?sslmode=require"
    sink = HungSink("mem")
    engine = Engine(
        {"ok": StaticProvider({("p1", "main", False): uri})}, {"mem": sink}, concurrency=1
    )
    targets = [
        Target(f"t{i}", "ok", "p1", sinks=(SinkBinding("mem", f"t{i}/db", "uri"),))
        for i in range(5)
    ]
    report = engine.run_cycle(targets)
    assert sink.writes == FAILURES
    assert (
        sum(isinstance(o.sinks[0].error, SinkCircuitOpen) for o in report.outcomes) == 5 - FAILURES
    )


def test_rotation_fetches_go_through_the_provider_breaker() -> None:
    """A rotating target's connection fetches count toward, and are stopped by, the provider breaker."""
    class HungRotator(FakeRotator):
        calls = 0

        def connection(self, target: Target, *, role: str) -> ConnectionInfo:
            HungRotator.calls += 1
            raise ProviderUnreachable("neon timed out")

    rotator = HungRotator()
    breakers = Breakers()
    rotations = Rotations(
        {"neon": rotator}, {"mem": MemorySink("mem")}, prove=rotator.prove, breakers=breakers
    )
    errors = [rotations(rotating_target()).error for _ in range(FAILURES + 2)]
    assert HungRotator.calls == FAILURES
    assert all(isinstance(e, ProviderUnreachable) for e in errors[:FAILURES])
    assert all(isinstance(e, ProviderCircuitOpen) for e in errors[FAILURES:])
    assert [c.name for c in breakers.open()] == ["neon"]
