"""The rotation's guards, its lease and resuming after a crash, with fakes (no servers).

The end-to-end proofs (real processes killed at protocol points, two writers
against moto, OpenBao and files) are in tests/integration/test_rotation_safety.py.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import timedelta

import pytest

from syncd.core import lease
from syncd.core.lease import Lease
from syncd.core.models import RotationMark, RotationMode
from syncd.core.rotation import Rotations
from syncd.errors import ConfigError
from syncd.testing.fakes import MemorySink
from tests.support.rotation import NOW, FakeRotator, password, rotations, target


def seeded(mode: RotationMode = RotationMode.RESET) -> tuple[FakeRotator, MemorySink]:
    """A target rotated once, so that it is not due now."""
    neon, sink = FakeRotator(), MemorySink("mem")
    assert rotations(neon, sink)(target(mode)).ok
    return neon, sink


def resets_since(neon: FakeRotator, before: int) -> list[str]:
    return neon.resets[before:]


def held_by_another(sink: MemorySink, intent: RotationMark | None, *, alive: bool) -> None:
    """Record a lease of another run: alive (a live process), or abandoned (its process gone)."""
    other = lease.new(NOW, intent)
    # alive: a process on another machine (only expiry tells); else one gone from here
    process = "f" * 32 + ":1:1:1" if alive else "0" * 32 + ":1:999999:1"
    if not alive:
        other = replace(other, expires=NOW - timedelta(hours=1))
    sink.leases["billing/a"] = lease.Record("t0", replace(other, process=process))


def test_a_live_lease_elsewhere_means_no_reset_here_but_convergence() -> None:
    """The loser of the lease never resets, even forced: it waits, then converges."""
    neon, sink = seeded()
    before = len(neon.resets)
    held_by_another(sink, RotationMark(NOW, "app"), alive=True)
    waited: list[float] = []

    def released(seconds: float) -> None:  # the holder finishes while we wait
        waited.append(seconds)
        sink.leases.pop("billing/a", None)

    rotator = Rotations(
        {"neon": neon},
        {"mem": sink},
        force=frozenset({"billing"}),
        prove=neon.prove,
        now=lambda: NOW,
        sleep=released,
    )
    outcome = rotator(target())
    assert outcome.ok, outcome
    assert resets_since(neon, before) == [] and waited
    assert outcome.rotation is None


def test_a_lease_held_past_the_deadline_fails_without_resetting() -> None:
    neon, sink = seeded()
    before = len(neon.resets)
    held_by_another(sink, RotationMark(NOW, "app"), alive=True)
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    rotator = Rotations(
        {"neon": neon},
        {"mem": sink},
        force=frozenset({"billing"}),
        prove=neon.prove,
        now=lambda: NOW,
        sleep=sleep,
        clock=lambda: clock[0],
        deadline=30.0,
    )
    outcome = rotator(target())
    assert not outcome.ok and "holds the rotation lease" in str(outcome.error)
    assert outcome.error is not None and outcome.error.transient
    assert resets_since(neon, before) == []


def test_a_dead_holders_reset_is_finished_not_repeated() -> None:
    """Killed after its reset: the next run publishes the provider's credential, no reset."""
    neon, sink = seeded()
    intent = RotationMark(NOW - timedelta(minutes=5), "app")
    neon.reset_password(target(), "app")  # the dead holder's reset, applied at Neon
    neon.wait_for_operations("proj", (), 0)
    before = len(neon.resets)
    held_by_another(sink, intent, alive=False)
    outcome = rotations(neon, sink)(target())
    assert outcome.ok, outcome
    assert resets_since(neon, before) == []
    assert password(sink, "billing/a") == neon.passwords["app"]
    assert all(sink.inspect(s).rotation == intent for s in ("billing/a", "billing/b"))
    assert outcome.rotation is not None and outcome.rotation.resumed
    assert [o.action.value for o in outcome.sinks if o.action] == ["rotate", "rotate"]


def test_a_dead_holder_that_never_reset_leaves_the_reset_to_this_run() -> None:
    """Killed between taking the lease and resetting: a due run resets exactly once."""
    neon, sink = seeded()
    before = len(neon.resets)
    held_by_another(sink, RotationMark(NOW, "app"), alive=False)
    outcome = rotations(neon, sink, force=True)(target())
    assert outcome.ok, outcome
    assert resets_since(neon, before) == ["app"]
    assert outcome.rotation is not None and outcome.rotation.reset_role == "app"


def test_alternate_resume_publishes_the_intended_role_without_a_reset() -> None:
    neon, sink = seeded(RotationMode.ALTERNATE)
    published = sink.inspect("billing/a").rotation
    assert published is not None and published.role == "app_b"
    intent = RotationMark(NOW + timedelta(minutes=1), "app")  # after the last rotation
    neon.reset_password(target(RotationMode.ALTERNATE), "app")
    neon.wait_for_operations("proj", (), 0)
    before = len(neon.resets)
    held_by_another(sink, intent, alive=False)
    later = NOW + timedelta(minutes=2)
    outcome = rotations(neon, sink, now=later)(target(RotationMode.ALTERNATE))  # not due
    assert outcome.ok, outcome
    assert resets_since(neon, before) == []
    assert password(sink, "billing/a") == neon.passwords["app"]
    assert outcome.rotation is not None and outcome.rotation.role == "app"


def test_another_instances_secret_resets_nothing_and_names_the_owner() -> None:
    neon, sink = seeded()
    before = len(neon.resets)
    other = Rotations(
        {"neon": neon},
        {"mem": sink},
        instance="other-team",
        force=frozenset({"billing"}),
        prove=neon.prove,
        now=lambda: NOW,
        sleep=lambda _s: None,
    )
    outcome = other(target())
    assert not outcome.ok
    assert resets_since(neon, before) == []
    assert "default/billing" in str(outcome.error)


def test_another_rotator_resets_nothing_and_is_left_alone() -> None:
    neon, sink = seeded()
    before = len(neon.resets)
    sink.foreign["billing/b"] = "AWS-managed rotation is enabled on it (RotationEnabled)"
    before = sink.writes
    outcome = rotations(neon, sink, force=True)(target())
    assert not outcome.ok and "AWS-managed rotation" in str(outcome.error)
    assert resets_since(neon, before) == []
    failed = [o for o in outcome.sinks if o.error is not None]
    assert [o.secret for o in failed] == ["billing/b"]
    assert sink.writes == before


def test_without_psycopg_nothing_is_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    neon, sink = FakeRotator(), MemorySink("mem")
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg raises ImportError
    outcome = Rotations({"neon": neon}, {"mem": sink}, now=lambda: NOW)(target())
    assert isinstance(outcome.error, ConfigError)
    assert "syncd[rotation]" in str(outcome.error)
    assert neon.resets == [] and sink.writes == 0


def test_a_lease_decodes_only_its_own_shape() -> None:
    made = lease.new(NOW, RotationMark(NOW, "app"))
    assert Lease.decode(made.encode()) == made
    assert len(made.encode()) <= lease.MAX_ENCODED
    for bad in (
        "",
        "v1",
        made.encode() + " x",
        made.encode().replace("v1", "v2"),
        made.encode().replace("app", "a p"),
        "v1 " + "z" * 16 + " 2026-01-01T00:00:00Z - - - -",
    ):
        assert Lease.decode(bad) is None, bad


def test_a_lease_of_a_process_that_still_runs_here_is_not_abandoned() -> None:
    made = lease.new(NOW, None)
    assert not made.abandoned(NOW)
    assert made.abandoned(NOW + lease.TTL + lease.CLOCK_SKEW + timedelta(seconds=1))
    gone = replace(made, process=made.process.rsplit(":", 2)[0] + ":4194303:1")
    assert gone.abandoned(NOW)
    elsewhere = replace(made, process="f" * 32 + ":1:1:1")
    assert not elsewhere.abandoned(NOW), "another machine: only expiry tells"


def test_a_reset_whose_answer_is_lost_is_finished_by_the_next_cycle_not_repeated() -> None:
    """The reset happened but its answer failed: the lease keeps the intent, and the same
    process's next cycle (a daemon) publishes the new password without a second reset."""
    from syncd.errors import ProviderResponseError

    neon, sink = seeded()
    before = len(neon.resets)
    real = neon.reset_password

    def lost(*args: object, **kwargs: object) -> object:
        real(*args, **kwargs)  # type: ignore[arg-type]
        neon.wait_for_operations("proj", (), 0)
        raise ProviderResponseError("Neon reset_password answer lists too many operations")

    rotator = rotations(neon, sink, now=NOW + timedelta(hours=1), force=True)
    neon.reset_password = lost  # type: ignore[method-assign]
    failed = rotator(target())
    assert not failed.ok and resets_since(neon, before) == ["app"]
    assert password(sink, "billing/a") != neon.passwords["app"], "nothing published yet"
    record = sink.leases["billing/a"]
    assert record.lease is not None and record.lease.intent is not None, "the intent was kept"
    neon.reset_password = real  # type: ignore[method-assign]
    rotator.force = frozenset()
    again = rotator(target())  # the daemon's next cycle: not due, finishes the rotation
    assert again.ok, again
    assert resets_since(neon, before) == ["app"], "a second reset"
    assert password(sink, "billing/a") == neon.passwords["app"]
    assert again.rotation is not None and again.rotation.resumed
