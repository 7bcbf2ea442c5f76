"""Shared fixtures: clean logging/redaction state, and the real local servers.

Servers are session-scoped and started only when a test asks for them:
moto's server (AWS over real HTTP), PostgreSQL and PgBouncer (real processes
from Debian's packages), and the case.dev-compatible API over HTTP.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog
from psycopg import sql

from syncd import logs, redaction
from syncd.testing.casedev import FakeCaseDev, RunningServer
from tests.support.configs import ConfigBuilder
from tests.support.servers.moto import MotoServer
from tests.support.servers.pgbouncer import PgBouncer
from tests.support.servers.postgres import BranchCredentials, PostgresServer
from tests.support.servers.vault import VaultDevServer, available_binaries
from tests.support.vaultutil import POLICY, RecordingProxy

AWS_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE")


@pytest.fixture(autouse=True)
def _clean_state(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Reset global logging and redaction state; keep the user's AWS/case.dev env out."""
    for var in (
        *AWS_ENV,
        "CASEDEV_API_KEY",
        "CASEDEV_BASE_URL",
        "SYNCD_CONFIG",
        "CREDENTIALS_DIRECTORY",
    ):
        monkeypatch.delenv(var, raising=False)
    empty = tmp_path_factory.mktemp("aws") / "none"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    yield
    logs.reset()
    structlog.contextvars.clear_contextvars()
    redaction.forget_all()


@pytest.fixture
def config_builder(tmp_path: Path) -> ConfigBuilder:
    """A syncd config to fill in, written as YAML into the test's ``tmp_path``."""
    return ConfigBuilder(tmp_path)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """moto's server as a subprocess (IAM enforcement available on demand)."""
    with MotoServer(enforce_iam=False) as server:
        yield server


@pytest.fixture
def aws(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """A clean moto server, with the env boto3 needs to reach it."""
    moto_server.reset()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", moto_server.region)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto_server.endpoint_url)
    return moto_server


@pytest.fixture
def sm_client(aws: MotoServer) -> Iterator[Any]:
    """A boto3 Secrets Manager client for the test's own reads and foreign writes."""
    import boto3

    client = boto3.client("secretsmanager", **aws.client_kwargs())
    yield client
    client.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster with TLS."""
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def pgbouncer(postgres: PostgresServer) -> Iterator[PgBouncer]:
    """PgBouncer with TLS in front of :func:`postgres`, passwords looked up live."""
    with PgBouncer(postgres) as bouncer:
        yield bouncer


@pytest.fixture(scope="session", params=available_binaries())
def vault(request: pytest.FixtureRequest) -> Iterator[VaultDevServer]:
    """A dev server per binary on PATH (bao; vault too when installed).

    Loaded with the least-privilege policy as ``syncd``, AppRole (role ``syncd``)
    and the Kubernetes auth method enabled.
    """
    with VaultDevServer(request.param) as server:
        root = server.client()
        root.sys.create_or_update_policy("syncd", POLICY)
        root.sys.enable_auth_method("approle")
        root.write_data(
            "auth/approle/role/syncd", data={"token_policies": ["syncd"], "token_ttl": "1h"}
        )
        root.sys.enable_auth_method("kubernetes")
        root.adapter.close()
        yield server


@pytest.fixture
def root(vault: VaultDevServer) -> Iterator[Any]:
    """A root client for the test's own setup, reads and foreign writes."""
    client = vault.client()
    yield client
    client.adapter.close()


@pytest.fixture
def vault_proxy(vault: VaultDevServer) -> Iterator[RecordingProxy]:
    """A recording proxy in front of the dev server, to count and throttle its requests."""
    with RecordingProxy(vault.addr) as proxy:
        yield proxy


@dataclass
class CaseDevWorld:
    """The case.dev-compatible API over HTTP, backed by the real PostgreSQL and PgBouncer."""

    api: FakeCaseDev
    server: RunningServer
    postgres: PostgresServer
    pgbouncer: PgBouncer
    branches: dict[tuple[str, str], BranchCredentials]

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def add_branch(self, project: str, branch: str) -> BranchCredentials:
        creds = self.postgres.create_branch(project, branch)
        self.branches[(project, branch)] = creds
        self._publish(project, branch, creds)
        return creds

    def rotate(self, project: str, branch: str) -> BranchCredentials:
        old = self.branches[(project, branch)]
        creds = BranchCredentials(old.role, self.postgres.rotate_password(old.role), old.database)
        self.branches[(project, branch)] = creds
        self._publish(project, branch, creds)
        return creds

    def set_password(self, project: str, branch: str, password: str) -> BranchCredentials:
        """Give the branch's role ``password`` (any text) and hand it out from now on."""
        old = self.branches[(project, branch)]
        with self.postgres.admin_connect() as conn:
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(old.role), sql.Literal(password)
                )
            )
        creds = BranchCredentials(old.role, password, old.database)
        self.branches[(project, branch)] = creds
        self._publish(project, branch, creds)
        return creds

    def _publish(self, project: str, branch: str, creds: BranchCredentials) -> None:
        self.api.set_branch(
            project,
            branch,
            direct=self.postgres.direct_uri(creds),
            pooled=self.pgbouncer.pooled_uri(creds),
        )


@pytest.fixture
def casedev(postgres: PostgresServer, pgbouncer: PgBouncer) -> Iterator[CaseDevWorld]:
    """A case.dev API on loopback whose connection strings really connect."""
    api = FakeCaseDev(api_key=f"cdk_{secrets.token_urlsafe(24)}")
    with api.serve() as server:
        yield CaseDevWorld(api, server, postgres, pgbouncer, {})


@pytest.fixture
def rotation(
    tmp_path: Any, postgres: PostgresServer, pgbouncer: PgBouncer, aws: MotoServer, root: Any
) -> Iterator[Any]:
    """A rotation world (tests/support/rotationworld.py): a Neon branch with a real role, sinks in AWS
    behind the killing proxy (first: it holds the lease), OpenBao and a file; no config yet."""
    from tests.support.rotationworld import rotation_world  # imports this module: not at the top
    from tests.support.vaultutil import make_token

    vault = root.adapter.base_uri
    with rotation_world(
        tmp_path,
        postgres,
        pgbouncer,
        aws,
        vault_addr=vault,
        vault_root=root,
        vault_token=make_token(root),
    ) as world:
        yield world


@dataclass
class CliResult:
    """What one `syncd` process did."""

    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_syncd(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> CliResult:
    """Run `python -m syncd ARGS` as a real process, with the test's environment plus ``env``."""
    import os
    import subprocess
    import sys

    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "syncd", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@contextlib.contextmanager
def syncd_daemon(
    config: Path, env: dict[str, str]
) -> Iterator[tuple[subprocess.Popen[str], list[dict[str, Any]]]]:
    """`python -m syncd run --config CONFIG` as a real process, with the test's environment plus ``env``.

    Yields the process and the list its JSON log lines are appended to as
    they come; on leaving, SIGTERM (if still running) and the reader is joined.
    """
    logs: list[dict[str, Any]] = []
    with subprocess.Popen(
        [sys.executable, "-m", "syncd", "run", "--config", str(config)],
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:

        def read() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                with contextlib.suppress(ValueError):
                    logs.append(json.loads(line))

        reader = threading.Thread(target=read, name="stderr-reader")
        reader.start()
        try:
            yield proc, logs
        finally:
            if proc.poll() is None:
                proc.terminate()
            proc.wait(15)
            reader.join()


def connects(uri: str) -> str:
    """Connect with ``uri`` and return ``current_user``; psycopg raises when it cannot.

    ``prepare_threshold=None``: PgBouncer in transaction mode cannot keep prepared statements.
    """
    import psycopg

    with psycopg.connect(uri, connect_timeout=5, prepare_threshold=None) as conn:
        row = conn.execute("select current_user").fetchone()
    assert row is not None
    return str(row[0])
