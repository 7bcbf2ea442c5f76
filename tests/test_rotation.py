"""Unit tests for syncd.core.rotation: due-ness, the reset and alternate orders, convergence, proofs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from syncd.core.models import (
    ConnectionInfo,
    Rotation,
    RotationMark,
    RotationMode,
    SecretState,
    SinkBinding,
    Target,
)
from syncd.core.rotation import Rotations, is_due, published_role
from syncd.errors import ConnectionProofFailed
from syncd.testing.fakes import MemorySink

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
DAY = 86400.0


@dataclass
class FakeRotator:
    """A provider whose resets apply when waited for; ``working`` is what the database accepts."""

    passwords: dict[str, str] = field(default_factory=lambda: {"app": "pw-app-0", "app_b": "pw-b-0"})
    working: dict[str, str] = field(default_factory=dict)
    resets: list[str] = field(default_factory=list)
    pending: dict[str, str] = field(default_factory=dict)
    break_next: bool = False

    def __post_init__(self) -> None:
        self.working = dict(self.passwords)

    def fetch(self, target: Target) -> ConnectionInfo:
        assert target.rotation is not None and target.rotation.role
        return self.connection(target, role=target.rotation.role)

    def close(self) -> None:
        pass

    def connection(self, target: Target, *, role: str) -> ConnectionInfo:
        return ConnectionInfo.parse(
            f"postgresql://{role}:{self.passwords[role]}@db.example.test:5432/neondb?sslmode=require",
            project=target.project,
            branch=target.branch,
            pooled=target.pooled,
        )

    @dataclass(frozen=True)
    class Started:
        operation_ids: tuple[str, ...]

    def reset_password(
        self, target: Target, role: str, *, deadline: float | None = None
    ) -> FakeRotator.Started:
        self.resets.append(role)
        self.passwords[role] = f"pw-{role}-{len(self.resets)}"
        if not self.break_next:
            self.pending[role] = self.passwords[role]
        self.break_next = False
        return FakeRotator.Started((f"op-{len(self.resets)}",))

    def wait_for_operations(self, project: str, operation_ids: object, deadline: float) -> None:
        self.working.update(self.pending)
        self.pending.clear()

    def role_exists(self, target: Target, role: str) -> bool:
        return role in self.passwords

    def prove(self, conn: ConnectionInfo) -> None:
        if self.working.get(conn.username) != conn.password.get_secret_value():
            raise ConnectionProofFailed(f"test connection as role {conn.username} failed")


def target(mode: RotationMode = RotationMode.RESET, **kw: object) -> Target:
    return Target(
        name="billing",
        provider="neon",
        project="proj",
        rotation=Rotation(
            mode, 30 * DAY, "app_b" if mode is RotationMode.ALTERNATE else None, role="app"
        ),
        sinks=(SinkBinding("mem", "billing/a"), SinkBinding("mem", "billing/b")),
        **kw,  # type: ignore[arg-type]
    )


def rotations(
    neon: FakeRotator, sink: MemorySink, *, now: datetime = NOW, force: bool = False
) -> Rotations:
    return Rotations(
        {"neon": neon},
        {"mem": sink},
        force=frozenset({"billing"}) if force else frozenset(),
        prove=neon.prove,
        now=lambda: now,
        sleep=lambda _s: None,
    )


def password(sink: MemorySink, secret: str) -> str:
    text = sink.read(secret)
    assert text is not None
    return str(json.loads(text)["password"])


def test_due_when_a_mark_is_missing_old_or_far_in_the_future() -> None:
    """A target is due with no mark, a mark older than every, or one more than a day ahead."""
    fresh = SecretState(True, rotation=RotationMark(NOW - timedelta(days=1), "app"))
    old = SecretState(True, rotation=RotationMark(NOW - timedelta(days=31), "app"))
    future = SecretState(True, rotation=RotationMark(NOW + timedelta(days=2), "app"))
    assert not is_due([fresh, fresh], 30 * DAY, NOW)
    assert is_due([fresh, SecretState(True)], 30 * DAY, NOW)
    assert is_due([fresh, old], 30 * DAY, NOW)
    assert is_due([future], 30 * DAY, NOW)


def test_published_role_is_the_newest_marks() -> None:
    """The published role is the newest mark's, or the target's role without marks."""
    t = target(RotationMode.ALTERNATE)
    a = SecretState(True, rotation=RotationMark(NOW - timedelta(days=2), "app"))
    b = SecretState(True, rotation=RotationMark(NOW - timedelta(days=1), "app_b"))
    assert published_role(t, [a, b]) == "app_b"
    assert published_role(t, [SecretState(True)]) == "app"


def test_first_run_resets_and_publishes_a_proven_password_with_the_mark() -> None:
    """Never rotated: reset, then both secrets hold the new password and the mark."""
    neon, sink = FakeRotator(), MemorySink("mem")
    outcome = rotations(neon, sink)(target())
    assert outcome.ok, outcome
    assert neon.resets == ["app"]
    for secret in ("billing/a", "billing/b"):
        assert password(sink, secret) == neon.working["app"] == "pw-app-1"
        assert sink.inspect(secret).rotation == RotationMark(NOW, "app")


def test_not_due_does_not_reset_and_due_does() -> None:
    """A second run within every resets nothing; one after every resets again."""
    neon, sink = FakeRotator(), MemorySink("mem")
    rotations(neon, sink)(target())
    assert rotations(neon, sink, now=NOW + timedelta(days=29))(target()).ok
    assert neon.resets == ["app"]
    assert rotations(neon, sink, now=NOW + timedelta(days=30))(target()).ok
    assert neon.resets == ["app", "app"]
    assert password(sink, "billing/a") == neon.working["app"]


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


def test_alternate_switches_roles_and_keeps_the_published_one_working() -> None:
    """Alternate mode resets the role not published, then publishes it; the old role keeps working."""
    neon, sink = FakeRotator(), MemorySink("mem")
    t = target(RotationMode.ALTERNATE)
    assert rotations(neon, sink)(t).ok
    assert neon.resets == ["app_b"]
    first = sink.read("billing/a")
    assert json.loads(first or "")["username"] == "app_b"
    assert rotations(neon, sink, force=True)(t).ok
    assert neon.resets == ["app_b", "app"]
    assert json.loads(sink.read("billing/a") or "")["username"] == "app"
    assert neon.working["app_b"] == json.loads(first or "")["password"]  # still valid


def test_alternate_without_the_second_role_says_how_to_create_it() -> None:
    """A missing second role fails with CREATE ROLE and GRANT in the message, and resets nothing."""
    neon, sink = FakeRotator(passwords={"app": "pw-app-0"}), MemorySink("mem")
    outcome = rotations(neon, sink)(target(RotationMode.ALTERNATE))
    assert outcome.error is not None and not outcome.ok
    assert "CREATE ROLE app_b" in str(outcome.error) and "GRANT app TO app_b" in str(outcome.error)
    assert neon.resets == []


def test_every_run_converges_on_the_providers_current_credential() -> None:
    """A reset that was never published (a crash) is picked up by the next run, proved first."""
    neon, sink = FakeRotator(), MemorySink("mem")
    t = target()
    rotations(neon, sink)(t)
    neon.reset_password(t, "app")  # a crash right after this reset
    neon.wait_for_operations("proj", (), 0)
    assert rotations(neon, sink, now=NOW + timedelta(days=1))(t).ok
    assert neon.resets == ["app", "app"]  # not due: no further reset
    assert password(sink, "billing/a") == password(sink, "billing/b") == neon.working["app"]


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


def test_dry_run_changes_nothing() -> None:
    """A dry run of a due target reports updates but resets and writes nothing."""
    neon, sink = FakeRotator(), MemorySink("mem")
    rotations(neon, sink)(target())
    writes = sink.writes
    dry = rotations(neon, sink, force=True)
    dry.dry_run = True
    outcome = dry(target())
    assert outcome.ok and [o.action.value for o in outcome.sinks if o.action] == ["rotate", "rotate"]
    assert neon.resets == ["app"] and sink.writes == writes


@pytest.mark.parametrize("mode", [RotationMode.RESET, RotationMode.ALTERNATE])
def test_a_sink_that_cannot_be_inspected_blocks_the_reset(mode: RotationMode) -> None:
    """No reset happens unless every sink can be inspected (it could not be given the new password)."""
    neon, sink = FakeRotator(), MemorySink("mem")

    class Broken(MemorySink):
        def inspect(self, secret: str) -> SecretState:
            from syncd.errors import SinkUnavailable

            raise SinkUnavailable("memory sink down")

    t = replace(target(mode), sinks=(SinkBinding("mem", "a"), SinkBinding("down", "b")))
    r = Rotations({"neon": neon}, {"mem": sink, "down": Broken("down")}, prove=neon.prove)
    outcome = r(t)
    assert not outcome.ok and neon.resets == []


@dataclass
class PoolingRotator(FakeRotator):
    """FakeRotator with a pooler host for pooled connections; records who asked for which."""

    asked: list[tuple[str, bool]] = field(default_factory=list)

    def connection(self, target: Target, *, role: str) -> ConnectionInfo:
        self.asked.append((role, target.pooled))
        host = "db-pooler.example.test" if target.pooled else "db.example.test"
        return ConnectionInfo.parse(
            f"postgresql://{role}:{self.passwords[role]}@{host}:5432/neondb?sslmode=require",
            project=target.project,
            branch=target.branch,
            pooled=target.pooled,
        )


PRESET_BINDINGS = (
    SinkBinding("mem", "billing/prisma.env", "env", preset="prisma"),
    SinkBinding("mem", "billing/libpq.env", "env", preset="libpq"),
    SinkBinding("mem", "billing/spring.json", "json", preset="spring"),
)


@pytest.mark.parametrize("mode", [RotationMode.RESET, RotationMode.ALTERNATE])
def test_presets_are_rendered_from_the_rotated_credential_on_both_connections(
    mode: RotationMode,
) -> None:
    """A rotation publishes every preset from the new role and password, pooled and direct alike."""
    neon, sink = PoolingRotator(), MemorySink("mem")
    t = replace(target(mode), sinks=PRESET_BINDINGS)
    assert rotations(neon, sink)(t).ok  # first run: publishes a rotated credential
    neon.asked.clear()
    outcome = rotations(neon, sink, force=True)(t)
    assert outcome.ok, outcome
    assert outcome.rotation is not None
    role = outcome.rotation.role
    new = neon.passwords[role]
    # Every fetch of a role's connection came with the other one, for that same role.
    for asked in {r for r, _ in neon.asked}:
        assert neon.asked.count((asked, False)) == neon.asked.count((asked, True)) > 0
    assert (role, True) in neon.asked
    prisma = sink.read("billing/prisma.env")
    assert prisma == (
        f"DATABASE_URL=postgresql://{role}:{new}@db-pooler.example.test:5432/neondb?sslmode=require\n"
        f"DIRECT_URL=postgresql://{role}:{new}@db.example.test:5432/neondb?sslmode=require\n"
    )
    libpq = sink.read("billing/libpq.env") or ""
    assert f"PGUSER={role}\n" in libpq and f"PGPASSWORD={new}\n" in libpq
    spring = json.loads(sink.read("billing/spring.json") or "{}")
    assert (spring["SPRING_DATASOURCE_USERNAME"], spring["SPRING_DATASOURCE_PASSWORD"]) == (role, new)
