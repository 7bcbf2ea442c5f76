"""Unit tests for syncd.core.rotation.publish: stage, prove, promote, and discarding what was staged."""

from __future__ import annotations

from datetime import timedelta

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
