"""A Neon-like rotator and a rotating target, for the rotation, lease and breaker tests.

:class:`FakeRotator` resets passwords the way Neon does (the new one works once
its operations are waited for) without a server, so rotation's order of steps
can be tested in milliseconds; the end-to-end tests use the real stand-in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from syncd.core.models import ConnectionInfo, Rotation, RotationMode, SinkBinding, Target
from syncd.core.rotation import Rotations
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
