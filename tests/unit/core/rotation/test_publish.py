"""Unit tests for syncd.core.rotation.publish: stage, prove, promote, and discarding what was staged."""

from __future__ import annotations

from datetime import timedelta

import pytest

from syncd.core.models import ConnectionInfo
from syncd.core.rotation.publish import PROOF_ATTEMPTS, Publisher
from syncd.errors import ConnectionProofFailed
from syncd.testing.fakes import MemorySink
from tests.support.rotation import NOW, FakeRotator, password, rotations, target


def test_stagers_are_staged_then_promoted() -> None:
    """An existing secret in a Stager sink gets the new credential staged, then promoted."""
    neon, sink = FakeRotator(), MemorySink("mem")
    rotations(neon, sink)(target())
    writes = sink.writes
    rotations(neon, sink, force=True)(target())
    state = sink.inspect("billing/a")
    assert state.pending is None and password(sink, "billing/a") == "pw-app-2"
    assert sink.writes == writes + 2  # two promotions, no plain writes in between


def test_a_failed_proof_publishes_nothing_and_the_next_run_retries() -> None:
    """When the new password does not connect, the sinks keep the old one and nothing stays staged."""
    neon, sink = FakeRotator(), MemorySink("mem")
    rotations(neon, sink)(target())
    neon.break_next = True
    outcome = rotations(neon, sink, force=True)(target())
    assert not outcome.ok and isinstance(outcome.error, ConnectionProofFailed)
    assert password(sink, "billing/a") == "pw-app-1"
    assert sink.inspect("billing/a").pending is None
    later = NOW + timedelta(days=31)
    assert rotations(neon, sink, now=later)(target()).ok
    assert password(sink, "billing/a") == neon.working["app"] == "pw-app-3"


def test_a_stale_pending_version_is_discarded() -> None:
    """A version staged by a crashed run is discarded by the next one."""
    neon, sink = FakeRotator(), MemorySink("mem")
    t = target()
    rotations(neon, sink)(t)
    from syncd.core.fingerprint import Fingerprint
    from syncd.core.models import Action, Document
    from syncd.sinks.base import WriteRequest

    document = Document("json", "stale", {})
    sink.stage(
        WriteRequest(
            "billing", "billing/a", document, Fingerprint.of("stale"),
            sink.inspect("billing/a"), Action.UPDATE,
        )
    )
    assert sink.inspect("billing/a").pending is not None
    assert rotations(neon, sink, now=NOW + timedelta(days=1))(t).ok
    assert sink.inspect("billing/a").pending is None


class _Proofs:
    """A prove() that fails ``failures`` times, on a fake clock its sleeps advance."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts = 0
        self.now = 0.0
        self.sleeps: list[float] = []

    def prove(self, conn: ConnectionInfo) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise ConnectionProofFailed(f"test connection as role {conn.username} failed")

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def publisher(self) -> Publisher:
        return Publisher(
            {}, instance="test", prove=self.prove, clock=lambda: self.now, sleep=self.sleep
        )


def _conn() -> ConnectionInfo:
    return FakeRotator().connection(target(), role="app")


def test_a_proof_is_retried_with_doubling_waits_then_fails() -> None:
    """Without a deadline a proof makes PROOF_ATTEMPTS attempts, 0.5 s then 1 s apart, then raises."""
    proofs = _Proofs(failures=10)
    with pytest.raises(ConnectionProofFailed):
        proofs.publisher().proof(_conn())
    assert proofs.attempts == PROOF_ATTEMPTS == 3
    assert proofs.sleeps == [0.5, 1.0]


def test_a_proof_that_succeeds_on_a_retry_passes() -> None:
    """A password that applies after one failed attempt is proved after one wait."""
    proofs = _Proofs(failures=1)
    proofs.publisher().proof(_conn())
    assert (proofs.attempts, proofs.sleeps) == (2, [0.5])


def test_a_proof_with_a_deadline_keeps_trying_until_the_next_wait_would_pass_it() -> None:
    """With ``until`` the attempts are bounded by the clock, not PROOF_ATTEMPTS."""
    proofs = _Proofs(failures=100)
    with pytest.raises(ConnectionProofFailed):
        proofs.publisher().proof(_conn(), until=10.0)
    assert proofs.sleeps == [0.5, 1.0, 2.0, 4.0]  # a further 8 s wait would end past 10 s
