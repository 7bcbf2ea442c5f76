"""Unit tests for syncd.core.rotation.rotations: the order of a rotation, convergence, dry runs, presets."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import timedelta

import pytest

from syncd.core.models import (
    ConnectionInfo,
    RotationMark,
    RotationMode,
    SinkBinding,
    Target,
)
from syncd.testing.fakes import MemorySink
from tests.support.rotation import NOW, FakeRotator, password, rotations, target


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
