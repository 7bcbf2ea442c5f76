"""Fixtures of the Neon stand-in, shared by the Neon provider's tests and the stand-in's own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from syncd.testing.neon import FakeNeon
from tests.support.neonfake import KEY, MAIN_ID, PROJECT, Passwords
from tests.support.neonworld import NeonWorld, neon_world
from tests.support.servers.pgbouncer import PgBouncer
from tests.support.servers.postgres import PostgresServer


@pytest.fixture
def cluster() -> Passwords:
    """What the Neon stand-in's finished resets set, in place of a real cluster."""
    return Passwords()


@pytest.fixture
def api(cluster: Passwords) -> Iterator[FakeNeon]:
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
