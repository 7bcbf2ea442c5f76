"""Shared fixtures: the Neon stand-in (provider and stand-in tests), a case.dev config (command tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.testing.casedev import FakeCaseDev, RunningServer
from syncd.testing.neon import FakeNeon
from tests.support.cli import KEY as CASEDEV_KEY
from tests.support.cli import URI, write_config
from tests.support.neonfake import KEY, MAIN_ID, PROJECT, Passwords
from tests.support.neonworld import NeonWorld, neon_world
from tests.support.servers.pgbouncer import PgBouncer
from tests.support.servers.postgres import PostgresServer


@pytest.fixture
def cluster() -> Passwords:
    """What the Neon stand-in's finished resets set, in place of a real cluster."""
    return Passwords()


@pytest.fixture
def neon_api(cluster: Passwords) -> Iterator[FakeNeon]:
    """The Neon stand-in with PROJECT's branches main and dev, for MockTransport."""
    fake = FakeNeon(
        KEY,
        set_password=cluster,
        direct=("ep-a.example.test", 5432),
        pooled=("ep-a-pooler.example.test", 5432),
        operation_delay=0.1,
    )
    fake.add_branch(
        PROJECT,
        "main",
        databases=["neondb"],
        roles={"app": "oldpw123", "app_b": "b"},
        branch_id=MAIN_ID,
    )
    fake.add_branch(PROJECT, "dev", databases=["neondb"], roles={"app": "devpw123"})
    yield fake
    fake.close()


@pytest.fixture
def neon(postgres: PostgresServer, pgbouncer: PgBouncer) -> Iterator[NeonWorld]:
    """The Neon stand-in on loopback over the real PostgreSQL and PgBouncer."""
    with neon_world(postgres, pgbouncer, operation_delay=1.0) as world:
        yield world


@pytest.fixture
def casedev_api() -> Iterator[RunningServer]:
    """A case.dev stand-in on loopback serving proj_1's main branch, direct and pooled."""
    fake = FakeCaseDev(CASEDEV_KEY)
    fake.set_branch("proj_1", "main", direct=URI, pooled=URI.replace("db.", "db-pooler."))
    with fake.serve() as server:
        yield server


@pytest.fixture
def config_path(
    tmp_path: Path, casedev_api: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A valid config against the fake API, with the API key in the environment."""
    monkeypatch.setenv("CASEDEV_API_KEY", CASEDEV_KEY)
    return write_config(tmp_path, casedev_api)
