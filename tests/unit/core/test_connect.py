"""Tests for syncd.core.connect: proving a credential by connecting, without ever showing it."""

from __future__ import annotations

import psycopg
import pytest
from pydantic import SecretStr

from syncd.core import connect
from syncd.core.models import ConnectionInfo
from syncd.errors import ConnectionProofFailed
from tests.support.servers.postgres import PostgresServer, random_password


def conn_for(postgres: PostgresServer, role: str, password: str, database: str) -> ConnectionInfo:
    return ConnectionInfo(
        host=postgres.host,
        port=postgres.port,
        username=role,
        password=SecretStr(password),
        dbname=database,
        project="p",
        branch="main",
        pooled=False,
    )


@pytest.mark.e2e
def test_a_working_credential_is_proved(postgres: PostgresServer) -> None:
    """A credential the server accepts passes the proof (TLS, SELECT 1)."""
    creds = postgres.create_branch("connect-proj", "ok")
    connect.prove(conn_for(postgres, creds.role, creds.password, creds.database))


@pytest.mark.e2e
def test_a_refused_credential_fails_without_showing_the_password(postgres: PostgresServer) -> None:
    """A wrong password is ConnectionProofFailed naming role and host; neither psycopg nor syncd shows it."""
    creds = postgres.create_branch("connect-proj", "bad")
    wrong = random_password()
    info = conn_for(postgres, creds.role, wrong, creds.database)
    with pytest.raises(psycopg.OperationalError) as raw:
        psycopg.connect(info.uri.get_secret_value(), connect_timeout=5)
    assert wrong not in str(raw.value)  # psycopg's own text never carries it
    with pytest.raises(ConnectionProofFailed) as failed:
        connect.prove(info)
    message = str(failed.value)
    assert wrong not in message and creds.role in message and "password" in message
    assert failed.value.__cause__ is None and not failed.value.transient


def test_the_reason_is_scrubbed_even_if_a_driver_quoted_the_password() -> None:
    """Should a driver ever quote the password, the reason cuts it out and stays one line."""
    reason = connect._reason("FATAL: bad s3cr3t-pw\nfor user x", "s3cr3t-pw")
    assert "s3cr3t-pw" not in reason and "\n" not in reason
