"""The Neon-compatible API over HTTP, backed by the real PostgreSQL and PgBouncer of conftest."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from syncd.testing.casedev import RunningServer
from syncd.testing.neon import FakeNeon, alter_role_password
from tests.support.servers.pgbouncer import PgBouncer
from tests.support.servers.postgres import BranchCredentials, PostgresServer


@dataclass
class NeonWorld:
    """A FakeNeon on loopback whose URIs connect to the real cluster."""

    api: FakeNeon
    server: RunningServer
    postgres: PostgresServer

    @property
    def base_url(self) -> str:
        return self.server.base_url + "/api/v2"

    def add_branch(self, project: str, branch: str) -> BranchCredentials:
        """A real database and owner role, declared to the fake as a Neon branch."""
        creds = self.postgres.create_branch(project, branch)
        self.api.add_branch(
            project, branch, databases=[creds.database], roles={creds.role: creds.password}
        )
        return creds


@contextmanager
def neon_world(
    postgres: PostgresServer, pgbouncer: PgBouncer, operation_delay: float = 0.3
) -> Iterator[NeonWorld]:
    """Serve a fresh FakeNeon in front of ``postgres`` and ``pgbouncer``."""
    api = FakeNeon(
        f"napi_{secrets.token_urlsafe(24)}",
        set_password=alter_role_password(postgres.admin_dsn),
        direct=(postgres.host, postgres.port),
        pooled=(pgbouncer.host, pgbouncer.port),
        operation_delay=operation_delay,
    )
    with api.serve() as server:
        yield NeonWorld(api, server, postgres)
