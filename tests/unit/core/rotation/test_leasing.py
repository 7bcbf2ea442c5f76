"""Unit tests for syncd.core.rotation.leasing: taking, holding, waiting for and letting go of a lease."""

from __future__ import annotations

from datetime import timedelta

import pytest

from syncd.core import lease
from syncd.core.lease import Lease, Record
from syncd.core.models import RotationMark
from syncd.core.rotation.job import Job, View
from syncd.core.rotation.leasing import Leases, who
from syncd.errors import ProviderUnavailable, SinkConflict
from syncd.testing.fakes import MemorySink
from tests.support.rotation import NOW, FakeRotator, target

INTENT = RotationMark(NOW, "app")


def _job(sink: MemorySink) -> tuple[Job, View]:
    t = target()
    assert t.rotation is not None
    job = Job(t, t.rotation, FakeRotator())
    job.views = [View(b, sink, sink.inspect(b.secret)) for b in t.sinks]
    return job, job.views[0]


def _leases(clock: list[float] | None = None) -> Leases:
    ticks = clock if clock is not None else [0.0]

    def sleep(seconds: float) -> None:
        ticks[0] += seconds

    return Leases(now=lambda: NOW, clock=lambda: ticks[0], sleep=sleep, ttl=timedelta(minutes=15))


def _elsewhere(sink: MemorySink, secret: str) -> Record:
    """Record a live lease of a holder on another machine (only expiry can end it)."""
    other = Lease("0123456789abcdef", NOW + timedelta(hours=1), INTENT, "other-host", "-")
    return sink.take_lease(secret, other, None)


def test_who_names_the_holder_or_says_it_is_unknown() -> None:
    """who() describes a record's lease, and says "unknown holder" without one."""
    record = Record("1", lease.new(NOW, INTENT))
    assert record.lease is not None
    assert who(record) == record.lease.describe()
    assert who(None) == "unknown holder"
    assert who(Record("1", None)) == "unknown holder"


def test_find_picks_the_first_binding_whose_sink_can_hold_a_lease() -> None:
    """The lease lives next to the target's first secret whose sink is a Leaser."""
    job, first = _job(MemorySink("mem"))
    assert Leases.find(job) is first
    job.views = []
    assert Leases.find(job) is None


def test_take_is_a_compare_and_set_over_the_record_seen() -> None:
    """Taking over a record that changed meanwhile raises SinkConflict and keeps the other lease."""
    sink = MemorySink("mem")
    _, view = _job(sink)
    leases = _leases()
    held = leases.take(view, INTENT, None)
    assert Leases.read(view) == held.record
    assert held.record.lease is not None and held.record.lease.intent == INTENT
    with pytest.raises(SinkConflict):
        leases.take(view, INTENT, None)
    assert Leases.read(view) == held.record


def test_a_lease_of_this_process_not_in_use_here_is_abandoned() -> None:
    """A lease this process holds is not taken over; once let go but kept, the next run may finish it."""
    sink = MemorySink("mem")
    _, view = _job(sink)
    leases = _leases()
    held = leases.take(view, INTENT, None)
    assert leases.abandoned(held.record)  # left by this process, not held: a failed rotation's
    leases.hold(held)
    assert not leases.abandoned(held.record)
    leases.let_go(held, keep=True)
    assert Leases.read(view) == held.record  # kept for the next run
    assert leases.abandoned(held.record)


def test_let_go_releases_unless_kept() -> None:
    """Held.let_go removes the record, and keep=True leaves it for the next run to finish."""
    sink = MemorySink("mem")
    _, view = _job(sink)
    held = _leases().take(view, INTENT, None)
    held.let_go(keep=True)
    assert sink.read_lease(view.binding.secret) == held.record
    held.let_go(keep=False)
    assert sink.read_lease(view.binding.secret) is None


def test_retake_records_a_new_intent_and_remembers_every_holder() -> None:
    """retake replaces our own record by compare-and-set; let_go then forgets both holder ids."""
    sink = MemorySink("mem")
    _, view = _job(sink)
    leases = _leases()
    held = leases.take(view, INTENT, None)
    first = held.holder
    later = RotationMark(NOW + timedelta(minutes=1), "app")
    leases.retake(held, later)
    assert held.holders == {first, held.holder} and held.holder != first
    stored = sink.read_lease(view.binding.secret)
    assert stored is not None and stored.lease is not None and stored.lease.intent == later
    leases.let_go(held, keep=True)
    assert leases.abandoned(held.record)


def test_outwait_gives_up_on_a_live_holder_at_the_deadline() -> None:
    """A lease still held by a live holder at ``until`` raises ProviderUnavailable naming it."""
    sink = MemorySink("mem")
    job, view = _job(sink)
    record = _elsewhere(sink, view.binding.secret)
    clock = [0.0]
    with pytest.raises(ProviderUnavailable, match="0123456789abcdef"):
        _leases(clock).outwait(job, view, record, until=5.0)
    assert clock[0] == 5.0


def test_outwait_returns_once_the_holder_releases() -> None:
    """When the holder lets go while we poll, outwait returns without an error."""
    sink = MemorySink("mem")
    job, view = _job(sink)
    record = _elsewhere(sink, view.binding.secret)
    clock = [0.0]
    leases = _leases(clock)
    sink.release_lease(view.binding.secret, record)
    leases.outwait(job, view, record, until=60.0)
    assert clock[0] == 1.0  # one poll noticed the release
