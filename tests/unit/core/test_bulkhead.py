"""Tests for syncd.core.bulkhead, the gated fan-out and how the engine uses both."""

from __future__ import annotations

import threading
import time

import pytest

from syncd.core import breaker as breaker_mod
from syncd.core.breaker import FAILURES, Breaker
from syncd.core.bulkhead import Bulkheads, Compartment, slots
from syncd.core.engine import Engine
from syncd.core.fanout import Release, fan_out
from syncd.core.models import SecretState, SinkBinding, Target
from syncd.errors import ProviderUnreachable, SinkBusy, SinkUnreachable
from syncd.sinks.base import WriteRequest
from syncd.testing.fakes import MemorySink, StaticProvider

URI = "postgresql://u:pw-bulkhead-111@h.example/db?sslmode=require"


@pytest.mark.parametrize(
    ("concurrency", "share", "configured", "expected"),
    [
        (8, None, 2, 4),  # the default: half when more than one is configured
        (8, None, 1, 8),  # all when there is one
        (7, None, 3, 3),
        (1, None, 2, 1),  # never less than one slot
        (8, 0.25, 2, 2),
        (8, 1.0, 5, 8),
        (10, 0.3, 2, 3),
    ],
)
def test_slots(concurrency: int, share: float | None, configured: int, expected: int) -> None:
    """A compartment holds ``share`` of the workers, rounded down, at least one."""
    assert slots(concurrency, share, configured) == expected


def test_bulkheads_size_each_kind_by_how_many_are_configured() -> None:
    """Two providers share 8 workers half each; the one sink may use all."""
    heads = Bulkheads(8, providers=["a", "b"], sinks=["files"])
    assert heads.provider("a").capacity == 4
    assert heads.sink("files").capacity == 8
    assert heads.provider("a") is heads.provider("a")


def test_a_compartment_admits_up_to_its_capacity() -> None:
    """try_enter never waits; leave frees a slot."""
    room = Compartment("provider", "a", 2)
    assert room.try_enter() and room.try_enter()
    assert room.full and not room.try_enter()
    room.leave()
    assert room.held == 1 and room.try_enter()


def test_enter_waits_while_slots_turn_over() -> None:
    """A full compartment whose holders finish lets the waiter in."""
    room = Compartment("sink", "vault", 1)
    room.enter()
    threading.Timer(0.1, room.leave).start()
    started = time.monotonic()
    with room.holding():
        assert time.monotonic() - started < 2
    assert room.held == 0


def test_enter_fails_fast_once_the_compartment_is_stalled() -> None:
    """No slot freed for ``stall`` seconds: SinkBusy, naming the sink, without taking a slot."""
    room = Compartment("sink", "vault", 1, stall=0.2)
    room.enter()
    started = time.monotonic()
    with pytest.raises(SinkBusy, match=r"^sink vault is stalled: all 1 of its workers"):
        room.enter()
    assert 0.1 < time.monotonic() - started < 2
    started = time.monotonic()
    with pytest.raises(SinkBusy):  # still stalled: at once
        room.enter()
    assert time.monotonic() - started < 0.1
    assert room.held == 1


class _Keyed:
    """A gate with one compartment per key."""

    def __init__(self, capacity: int) -> None:
        self.rooms: dict[str, Compartment] = {}
        self.capacity = capacity

    def key(self, item: str) -> str:
        return item[0]

    def admit(self, key: object) -> Release | None:
        room = self.rooms.setdefault(str(key), Compartment("provider", str(key), self.capacity))
        return room.leave if room.try_enter() else None


@pytest.mark.timeout(30)
def test_a_gated_fan_out_keeps_a_hung_key_from_taking_every_worker() -> None:
    """Four workers, two per key: the "b" items all run while every "a" item hangs."""
    release_a = threading.Event()
    b_done = threading.Event()
    finished: list[str] = []
    lock = threading.Lock()

    def work(item: str) -> str:
        if item.startswith("a"):
            assert release_a.wait(20)
        with lock:
            finished.append(item)
            if sum(i.startswith("b") for i in finished) == 6:
                b_done.set()
        return item.upper()

    items = [f"a{i}" for i in range(6)] + [f"b{i}" for i in range(6)]
    result: list[str] = []
    runner = threading.Thread(
        target=lambda: result.extend(
            fan_out(work, items, concurrency=4, stop=threading.Event(), gate=_Keyed(2))
        )
    )
    runner.start()
    assert b_done.wait(10), finished  # every "b" item ran while "a" hung
    assert not any(i.startswith("a") for i in finished)
    release_a.set()
    runner.join(20)
    assert result == [i.upper() for i in items]


def test_a_gate_that_admits_nothing_still_makes_progress() -> None:
    """Slots held elsewhere: one item at a time goes through anyway."""
    gate = _Keyed(1)
    gate.rooms["a"] = Compartment("provider", "a", 1)
    gate.rooms["a"].enter()
    assert fan_out(str.upper, ["a1", "a2"], concurrency=2, stop=threading.Event(), gate=gate) == [
        "A1",
        "A2",
    ]


class _RecordingSink(MemorySink):
    """Records the order sinks are inspected in."""

    def __init__(self, name: str, order: list[str]) -> None:
        super().__init__(name)
        self.order = order

    def inspect(self, secret: str) -> SecretState:
        self.order.append(self.name)
        return super().inspect(secret)


def _target(*sinks: str) -> Target:
    return Target("t", "p", "p1", sinks=tuple(SinkBinding(s, f"{s}/db", "uri") for s in sinks))


def test_the_engine_writes_to_a_suspect_sink_last_and_reports_in_config_order() -> None:
    """A sink whose breaker counted a timeout waits for the target's other sinks."""
    order: list[str] = []
    sinks = {name: _RecordingSink(name, order) for name in ("vault", "aws", "files")}
    engine = Engine({"p": StaticProvider({("p1", "main", False): URI})}, sinks)
    with pytest.raises(SinkUnreachable):
        engine.breakers.sink("vault").call(_raise(SinkUnreachable("no answer")))
    outcome = engine.sync_target(_target("vault", "aws", "files"))
    assert order == ["aws", "files", "vault"]
    assert [o.sink for o in outcome.sinks] == ["vault", "aws", "files"]
    assert outcome.ok


class _StuckSink(MemorySink):
    """Its write blocks until released: a frozen store."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.entered = threading.Event()
        self.release = threading.Event()

    def write(self, request: WriteRequest) -> str:
        self.entered.set()
        assert self.release.wait(20)
        return super().write(request)


@pytest.mark.timeout(30)
def test_a_stalled_sink_fails_its_binding_fast_and_the_others_are_written() -> None:
    """The one Vault slot is stuck: the next target writes its file and fails Vault with SinkBusy."""
    stuck, files = _StuckSink("vault"), MemorySink("files")
    provider = StaticProvider({("p1", "main", False): URI, ("p2", "main", False): URI})
    engine = Engine(
        {"p": provider},
        {"vault": stuck, "files": files},
        bulkheads=Bulkheads(2, share=0.5, sinks=["vault", "files"], stall=0.3),
    )
    first = threading.Thread(target=engine.sync_target, args=(_target("vault"),))
    first.start()
    assert stuck.entered.wait(10)
    second = Target(
        "u",
        "p",
        "p2",
        sinks=(SinkBinding("vault", "u/vault", "uri"), SinkBinding("files", "u/file", "uri")),
    )
    started = time.monotonic()
    outcome = engine.sync_target(second)
    took = time.monotonic() - started
    stuck.release.set()
    first.join(20)
    assert [o.sink for o in outcome.sinks] == ["vault", "files"]
    assert isinstance(outcome.sinks[0].error, SinkBusy)
    assert outcome.sinks[1].written and "u/file" in files.secrets
    assert took < 10


def _raise(error: Exception):  # type: ignore[no-untyped-def]
    def call() -> None:
        raise error

    return call


def test_unanswered_attempts_open_the_breaker_and_stop_the_retries() -> None:
    """Attempts count as they fail; the call that opens the breaker stops retrying."""
    b = Breaker("provider", "cd")
    attempts = 0

    def fetch() -> None:
        nonlocal attempts
        while True:
            attempts += 1
            if not breaker_mod.keep_trying():
                raise ProviderUnreachable("timed out")

    with pytest.raises(ProviderUnreachable):
        b.call(fetch)
    assert attempts == FAILURES
    assert b.since is not None and b.rejecting()


def test_a_call_that_counted_its_attempts_is_not_counted_again() -> None:
    """Two unanswered attempts, then the call fails: the count is two, the breaker closed."""
    b = Breaker("provider", "cd")

    def fetch() -> None:
        assert breaker_mod.keep_trying()
        assert breaker_mod.keep_trying()
        raise ProviderUnreachable("timed out")

    with pytest.raises(ProviderUnreachable):
        b.call(fetch)
    assert b.since is None and b.suspect
    b.call(lambda: None)
    assert not b.suspect


def test_keep_trying_outside_a_breaker_call_says_yes() -> None:
    """Retry loops run without a breaker too (check, tests): nothing is counted."""
    assert breaker_mod.keep_trying()


def test_the_probe_of_an_open_breaker_gives_up_after_one_unanswered_attempt() -> None:
    """An open breaker's probe learns what it needs from its first attempt."""
    now = [0.0]
    b = Breaker("provider", "cd", clock=lambda: now[0])
    for _ in range(FAILURES):
        with pytest.raises(ProviderUnreachable):
            b.call(_raise(ProviderUnreachable("timed out")))
    now[0] += 31
    attempts = 0

    def fetch() -> None:
        nonlocal attempts
        attempts += 1
        if not breaker_mod.keep_trying():
            raise ProviderUnreachable("timed out")

    with pytest.raises(ProviderUnreachable):
        b.call(fetch)
    assert attempts == 1


def test_engine_admit_needs_no_slot_for_a_provider_that_fails_fast() -> None:
    """A full provider admits nothing, unless its breaker is open: then every target goes."""
    engine = Engine(
        {"a": StaticProvider(), "b": StaticProvider()},
        {},
        concurrency=2,
    )
    first = engine.admit("a")
    assert first is not None and engine.admit("a") is None
    for _ in range(FAILURES):
        with pytest.raises(ProviderUnreachable):
            engine.breakers.provider("a").call(_raise(ProviderUnreachable("timed out")))
    assert engine.admit("a") is not None
    first()
