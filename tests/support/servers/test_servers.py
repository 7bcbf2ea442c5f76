"""Tests for the test-server helpers: each server starts, behaves as documented, leaves nothing."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import hvac
import psycopg
import pytest
from botocore.exceptions import ClientError

from tests.support.servers.moto import MotoServer
from tests.support.servers.pgbouncer import PgBouncer
from tests.support.servers.ports import free_port, port_open
from tests.support.servers.postgres import BranchCredentials, PostgresServer
from tests.support.servers.process import (
    ServerProcess,
    ServerStartError,
    require_binary,
    wait_until,
)
from tests.support.servers.vault import VaultDevServer, available_binaries

pytestmark = pytest.mark.e2e


# Own servers rather than conftest's shared ones: these tests pin down the helpers
# themselves and must not depend on (or disturb) the fixtures built on them.
@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="module")
def bouncer(pg: PostgresServer) -> Iterator[PgBouncer]:
    with PgBouncer(pg) as server:
        yield server


def _whoami(conninfo: str, **kwargs: Any) -> tuple[str, str, bool, bool]:
    with psycopg.connect(conninfo, connect_timeout=5, **kwargs) as conn:
        row = conn.execute(
            "SELECT current_user, current_database(),"
            " (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid())"
        ).fetchone()
        assert row is not None
        return row[0], row[1], row[2], conn.pgconn.ssl_in_use


def _pooled(conninfo: str) -> tuple[str, str, bool, bool]:
    # PgBouncer 1.18 in transaction mode cannot keep server-side prepared statements.
    return _whoami(conninfo, prepare_threshold=None)


def test_postgres_direct_uri_connects_over_tls(pg: PostgresServer) -> None:
    """A branch's direct URI logs in as its owner role, to its database, over TLS."""
    creds = pg.create_branch("Acme Corp", "feature/login-v2")

    assert _whoami(pg.direct_uri(creds)) == (creds.role, creds.database, True, True)


def test_postgres_certificate_verifies_for_127_0_0_1(pg: PostgresServer) -> None:
    """The self-signed certificate can be pinned with sslmode=verify-full."""
    creds = pg.create_branch("acme", "main")
    uri = pg.direct_uri(creds).replace("sslmode=require", "sslmode=verify-full")

    assert _whoami(uri, sslrootcert=str(pg.tls.cert))[0] == creds.role


def test_postgres_refuses_plaintext_tcp(pg: PostgresServer) -> None:
    """TCP logins without TLS are refused (pg_hba has only hostssl lines)."""
    creds = pg.create_branch("acme", "main")
    uri = pg.direct_uri(creds).replace("sslmode=require", "sslmode=disable")

    with pytest.raises(psycopg.OperationalError, match=r"no pg_hba\.conf entry"):
        _whoami(uri)


def test_postgres_rotation_invalidates_old_password(pg: PostgresServer) -> None:
    """After rotate_password the new password logs in and the old one is refused."""
    creds = pg.create_branch("acme", "rotate")
    new = dataclasses.replace(creds, password=pg.rotate_password(creds.role))

    assert _whoami(pg.direct_uri(new))[0] == creds.role
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        _whoami(pg.direct_uri(creds))


def test_create_branch_names_are_valid_and_unique(pg: PostgresServer) -> None:
    """Branch names are sanitised into lower-case identifiers and never reused."""
    first = pg.create_branch("Ünïcode Project!", "x" * 100)
    second = pg.create_branch("Ünïcode Project!", "x" * 100)

    for creds in (first, second):
        assert creds.database.startswith("p__n_code_project__xxx")
        assert len(creds.role) <= 63
        assert creds.role.isascii()
        assert len(creds.password) >= 24
        assert creds.password.isalnum()
    assert first.database != second.database
    assert first.role != second.role
    assert "password" not in repr(first)


def test_uri_percent_encodes_user_and_password(pg: PostgresServer) -> None:
    """Characters with a meaning in URIs are percent-encoded in user and password."""
    creds = BranchCredentials(role="a@b", password="p:/?#@%", database="db")

    assert pg.direct_uri(creds) == (
        f"postgresql://a%40b:p%3A%2F%3F%23%40%25@127.0.0.1:{pg.port}/db?sslmode=require"
    )


def test_postgres_stop_leaves_nothing_behind() -> None:
    """Leaving the context on an error stops the cluster and deletes its directory."""
    server = PostgresServer()
    with pytest.raises(RuntimeError, match="boom"), server:
        directory = server._dir
        port = server.port
        raise RuntimeError("boom")

    assert directory is not None
    assert not directory.exists()
    assert not port_open("127.0.0.1", port)
    server.stop()  # idempotent


def test_pgbouncer_pooled_uri_connects_with_tls_both_ways(
    pg: PostgresServer, bouncer: PgBouncer
) -> None:
    """A pooled URI logs in through PgBouncer, TLS from client to pooler and pooler to server."""
    creds = pg.create_branch("acme", "pooled")
    uri = bouncer.pooled_uri(creds)

    assert f":{bouncer.port}/" in uri
    assert _pooled(uri) == (creds.role, creds.database, True, True)


def test_pgbouncer_sees_rotated_password_at_once(pg: PostgresServer, bouncer: PgBouncer) -> None:
    """After rotation the new password works through PgBouncer and the old one is refused."""
    creds = pg.create_branch("acme", "pooled-rotate")
    _pooled(bouncer.pooled_uri(creds))  # warm the pool with the old password
    new = dataclasses.replace(creds, password=pg.rotate_password(creds.role))

    assert _pooled(bouncer.pooled_uri(new))[0] == creds.role
    with pytest.raises(psycopg.OperationalError, match="SASL authentication failed"):
        _pooled(bouncer.pooled_uri(creds))


def test_pgbouncer_refuses_superuser(pg: PostgresServer, bouncer: PgBouncer) -> None:
    """The auth_query lookup never hands out a superuser's password verifier."""
    superuser = BranchCredentials(role="postgres", password="irrelevant", database="postgres")

    with pytest.raises(psycopg.OperationalError):
        _pooled(bouncer.pooled_uri(superuser))


def test_server_that_dies_at_start_reports_its_log(tmp_path: Path) -> None:
    """A server exiting before it is ready fails fast with its own output in the error."""
    process = ServerProcess(
        ["sh", "-c", "echo 'FATAL: bad setting'; exit 3"], log_path=tmp_path / "log", cwd=tmp_path
    )
    try:
        with pytest.raises(ServerStartError, match="FATAL: bad setting"):
            wait_until(lambda: False, timeout=10, what="fake server", process=process)
    finally:
        process.stop()


def test_stop_kills_the_whole_process_group(tmp_path: Path) -> None:
    """Stopping a server also kills children it spawned, even ones that ignore SIGTERM."""
    pid_file = tmp_path / "child.pid"
    script = f"sh -c 'trap \"\" TERM; echo $$ > {pid_file}; sleep 60' & wait"
    process = ServerProcess(["sh", "-c", script], log_path=tmp_path / "log", cwd=tmp_path)
    try:
        wait_until(
            lambda: pid_file.exists() and pid_file.read_text().strip() != "",
            timeout=10,
            what="child",
            process=process,
        )
        child = int(pid_file.read_text())
    finally:
        process.stop(timeout=0.5)

    wait_until(lambda: _dead(child), timeout=5, what="grandchild exit")  # SIGKILL is async
    assert not process.alive()


def _dead(pid: int) -> bool:
    # An orphan killed by the group signal may stay a zombie until init reaps it.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rpartition(")")[2].split()[0] in {"Z", "X"}


def test_missing_binary_names_the_package() -> None:
    """A missing binary raises FileNotFoundError saying what to install."""
    with pytest.raises(FileNotFoundError, match="apt-get install nothing-here"):
        require_binary("syncd-no-such-binary", install_hint="apt-get install nothing-here")


def test_free_port_span_gives_consecutive_free_ports() -> None:
    """free_port(span=2) returns a port whose successor is free too."""
    port = free_port(span=2)

    assert not port_open("127.0.0.1", port)
    assert not port_open("127.0.0.1", port + 1)


def _secretsmanager(moto: MotoServer, credentials: tuple[str, str] | None = None) -> Any:
    return boto3.client("secretsmanager", **moto.client_kwargs(credentials))


def test_moto_enforces_iam_policies() -> None:
    """With enforce_iam, actions in the user's policy succeed and all others are denied."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["secretsmanager:CreateSecret", "secretsmanager:GetSecretValue"],
                "Resource": "*",
            }
        ],
    }
    with MotoServer(enforce_iam=True) as moto:
        client = _secretsmanager(moto, moto.create_user_with_policy(policy))
        anonymous = _secretsmanager(moto)
        try:
            client.create_secret(Name="syncd/acme/main", SecretString="postgresql://x")
            value = client.get_secret_value(SecretId="syncd/acme/main")["SecretString"]
            with pytest.raises(ClientError) as denied:
                client.delete_secret(SecretId="syncd/acme/main")
            with pytest.raises(ClientError) as unknown_key:
                anonymous.list_secrets()
            moto.reset()
            with pytest.raises(ClientError) as after_reset:
                client.get_secret_value(SecretId="syncd/acme/main")
        finally:
            client.close()
            anonymous.close()

    assert value == "postgresql://x"
    # moto answers a denial with HTTP 403 and an XML body, so botocore reports the
    # code "403" where AWS says "AccessDeniedException"; both name the action.
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "not authorized to perform: secretsmanager:DeleteSecret" in str(denied.value)
    assert unknown_key.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert after_reset.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_moto_without_enforcement_accepts_any_key() -> None:
    """By default any key works, iam_enforced() enforces for a block, reset() forgets all."""
    with MotoServer() as moto:
        client = _secretsmanager(moto)
        try:
            client.create_secret(Name="s", SecretString=json.dumps({"a": 1}))
            with moto.iam_enforced(), pytest.raises(ClientError) as refused:
                client.list_secrets()
            moto.reset()
            names = [s["Name"] for s in client.list_secrets()["SecretList"]]
        finally:
            client.close()

    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert names == []


@pytest.mark.parametrize("binary", available_binaries())
def test_vault_dev_server_kv_and_seal_cycle(binary: str) -> None:
    """A dev server stores KV v2 secrets, refuses reads while sealed, serves them after unseal."""
    with VaultDevServer(binary) as vault:
        client = vault.client()
        try:
            kv = client.secrets.kv.v2
            kv.create_or_update_secret(path="syncd/acme", secret={"uri": "postgresql://x"})
            vault.seal()
            sealed = vault.sealed()
            with pytest.raises(hvac.exceptions.VaultDown):
                kv.read_secret_version(path="syncd/acme", raise_on_deleted_version=True)
            vault.unseal()
            unsealed = not vault.sealed()
            data = kv.read_secret_version(path="syncd/acme", raise_on_deleted_version=True)
        finally:
            client.adapter.close()

    assert sealed
    assert unsealed
    assert data["data"]["data"] == {"uri": "postgresql://x"}
    assert not port_open("127.0.0.1", vault.port)
