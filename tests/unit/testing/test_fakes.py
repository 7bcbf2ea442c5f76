"""Tests for syncd.testing.fakes: the in-memory provider, and the sink's staging and lease rules.

The sink's basic behaviour is held to the shared contract in
tests/unit/sinks/test_file.py (``TestMemorySinkContract``); these tests pin down what
the contract does not cover.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from syncd.core.fingerprint import Fingerprint
from syncd.core.formats import render
from syncd.core.lease import Lease
from syncd.core.models import Action, ConnectionInfo, SecretState, Target
from syncd.errors import ProviderNotFound, SinkConflict
from syncd.sinks.base import WriteRequest
from syncd.testing.fakes import MemorySink, StaticProvider

EXPIRES = datetime(2030, 1, 1, tzinfo=UTC)
URI = "postgresql://app:pw-{n}-0123456789@db.example:5432/app?sslmode=require"


def request(sink: MemorySink, secret: str, n: int) -> WriteRequest:
    """A write of version ``n`` of ``secret``, against what ``sink`` holds now."""
    conn = ConnectionInfo.parse(URI.format(n=n), project="p", branch="main", pooled=False)
    document = render(conn, "uri", env_var="DATABASE_URL")
    state = sink.inspect(secret)
    action = Action.UPDATE if state.exists else Action.CREATE
    return WriteRequest("app", secret, document, Fingerprint.of(document.text), state, action)


def test_the_static_provider_answers_its_uris_and_counts_calls() -> None:
    """A configured (project, branch, pooled) is parsed like a real answer; others are not found."""
    provider = StaticProvider({("p", "main", False): URI.format(n=1)})
    conn = provider.fetch(Target("app", "cd", "p"))
    assert conn.host == "db.example"
    with pytest.raises(ProviderNotFound, match="project p branch main not found"):
        provider.fetch(Target("app", "cd", "p", pooled=True))
    assert provider.calls == 2


def test_a_staged_version_is_invisible_until_promoted() -> None:
    """Consumers keep reading the current version while a new one is pending; promote switches."""
    sink = MemorySink()
    sink.write(request(sink, "s", 1))
    staged = request(sink, "s", 2)
    version = sink.stage(staged)
    assert "pw-1-" in (sink.read("s") or "")
    assert sink.inspect("s").pending == version
    sink.promote(staged, version)
    assert "pw-2-" in (sink.read("s") or "")
    assert sink.inspect("s").pending is None


def test_staging_the_same_request_again_reuses_the_pending_version() -> None:
    """Staging is idempotent for the same document: a retried rotation finds its own version."""
    sink = MemorySink()
    sink.write(request(sink, "s", 1))
    staged = request(sink, "s", 2)
    assert sink.stage(staged) == sink.stage(staged)


def test_a_plain_write_leaves_a_pending_version_alone() -> None:
    """As with PutSecretValue, a write replaces the current version and keeps the pending one."""
    sink = MemorySink()
    sink.write(request(sink, "s", 1))
    version = sink.stage(request(sink, "s", 2))
    sink.write(request(sink, "s", 3))
    assert sink.inspect("s").pending == version


def test_a_write_against_a_stale_inspection_is_a_conflict() -> None:
    """Check-and-set: if the secret changed after inspect, the write is refused, not applied."""
    sink = MemorySink()
    sink.write(request(sink, "s", 1))
    stale = request(sink, "s", 2)
    sink.put_foreign("s", "someone else")
    with pytest.raises(SinkConflict):
        sink.write(stale)
    assert sink.read("s") == "someone else"


def test_a_foreign_write_makes_the_fingerprint_unknown() -> None:
    """A version syncd did not write reports no fingerprint, so the engine sees drift."""
    sink = MemorySink()
    sink.write(request(sink, "s", 1))
    assert sink.inspect("s").fingerprint is not None
    sink.put_foreign("s", "edited by hand")
    state = sink.inspect("s")
    assert state.exists and state.managed and state.fingerprint is None


def test_promoting_a_version_that_is_not_staged_is_a_conflict() -> None:
    """Promote refuses a version that was discarded or never staged."""
    sink = MemorySink()
    sink.write(request(sink, "s", 1))
    staged = request(sink, "s", 2)
    version = sink.stage(staged)
    sink.discard("s", version)
    with pytest.raises(SinkConflict):
        sink.promote(staged, version)


def test_a_lease_is_taken_only_over_what_is_recorded() -> None:
    """take_lease is compare-and-set on the recorded lease; release forgets only the holder's."""
    sink = MemorySink()
    lease = Lease("holder-a", EXPIRES)
    held = sink.take_lease("s", lease, None)
    assert sink.read_lease("s") == held
    with pytest.raises(SinkConflict):
        sink.take_lease("s", Lease("holder-b", EXPIRES), None)
    sink.release_lease("s", held)
    assert sink.read_lease("s") is None


def test_a_missing_secret_is_reported_missing() -> None:
    """inspect() of a name never written is the missing state, and read() finds nothing."""
    sink = MemorySink()
    assert sink.inspect("nope") == SecretState.missing()
    assert sink.read("nope") is None
