"""End to end: `syncd rotate` and `syncd run --once` rotating Neon passwords into AWS, Vault, files.

The Neon-compatible server resets passwords with a real ``ALTER ROLE`` on the
local PostgreSQL (and PgBouncer sees it live); moto's server and an OpenBao
dev server are the stores.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
import pytest
from psycopg import sql

from tests.conftest import CliResult, connects, run_syncd
from tests.support.configs import ConfigBuilder
from tests.support.neonworld import NeonWorld, neon_world
from tests.support.servers.moto import MotoServer
from tests.support.servers.pgbouncer import PgBouncer
from tests.support.servers.postgres import BranchCredentials, PostgresServer, random_password
from tests.support.servers.vault import VaultDevServer
from tests.support.vaultutil import make_token, metadata, read_data

pytestmark = pytest.mark.e2e
PROJECT = "rotate-proj-123456"
AWS_SECRET = "prod/billing/db"
VAULT_SECRET = "syncd/e2e/billing/db"


@pytest.fixture
def neon(postgres: PostgresServer, pgbouncer: PgBouncer) -> Iterator[NeonWorld]:
    with neon_world(postgres, pgbouncer, operation_delay=0.3) as world:
        yield world


def refused(uri: str) -> bool:
    try:
        connects(uri)
    except psycopg.OperationalError:
        return True
    return False


def branch(neon: NeonWorld, name: str, *, second: bool = False) -> BranchCredentials:
    """A real database and owner role at Neon's ``main``; with ``second``, also ``<role>_b``."""
    creds = neon.postgres.create_branch(PROJECT, name)
    roles = {creds.role: creds.password}
    if second:
        other = f"{creds.role}_b"
        password = random_password()
        with neon.postgres.admin_connect() as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(other), sql.Literal(password)
                )
            )
            conn.execute(
                sql.SQL("GRANT {} TO {}").format(sql.Identifier(creds.role), sql.Identifier(other))
            )
        roles[other] = password
    neon.api.add_branch(PROJECT, name, databases=[creds.database], roles=roles)
    return creds


def write_config(
    tmp_path: Path,
    neon: NeonWorld,
    creds: BranchCredentials,
    rotation: dict[str, Any] | None,
    sinks: list[dict[str, Any]],
    **sink_sections: Any,
) -> Path:
    fields: dict[str, Any] = {"database": creds.database, "role": creds.role}
    if rotation is not None:
        fields["rotation"] = rotation
    builder = (
        ConfigBuilder(tmp_path, log_level=None)
        .provider("neon", "neon", base_url=neon.base_url)
        .file_sink("files")
        .target("billing", sinks, provider="neon", project=PROJECT, branch="main", **fields)
    )
    for name, section in sink_sections.items():
        builder.sink(name, section.pop("type"), **section)
    return builder.write()


def syncd(neon: NeonWorld, *args: str, env: dict[str, str] | None = None) -> CliResult:
    return run_syncd(*args, env={"NEON_API_KEY": neon.api.api_key, **(env or {})})


def file_uri(tmp_path: Path, name: str = "billing.uri") -> str:
    return (tmp_path / "out" / name).read_text().strip()


def aws_stage(sm_client: Any, stage: str) -> dict[str, Any]:
    return dict(sm_client.get_secret_value(SecretId=AWS_SECRET, VersionStage=stage))


def stages(sm_client: Any) -> dict[str, list[str]]:
    versions = sm_client.list_secret_version_ids(SecretId=AWS_SECRET)["Versions"]
    return {v["VersionId"]: v.get("VersionStages", []) for v in versions}


def test_rotate_reset_publishes_a_working_password_everywhere(
    tmp_path: Path,
    neon: NeonWorld,
    sm_client: Any,
    aws: MotoServer,
    vault: VaultDevServer,
    root: Any,
) -> None:
    """`syncd rotate` in reset mode: every sink connects with the new password, the old one fails, AWS staging is clean."""
    creds = branch(neon, "main")
    sinks = [
        {"sink": "files", "secret": "billing.uri", "format": "uri"},
        {"sink": "aws", "secret": AWS_SECRET, "format": "uri"},
        {"sink": "vault", "secret": VAULT_SECRET},
    ]
    path = write_config(
        tmp_path,
        neon,
        creds,
        {"mode": "reset", "every": "30d"},
        sinks,
        aws={"type": "aws-secrets-manager", "region": aws.region},
        vault={"type": "vault", "url": vault.addr, "auth": {"method": "token"}},
    )
    env = {"VAULT_TOKEN": make_token(root)}
    first = syncd(neon, "run", "--once", "--config", str(path), env=env)
    assert first.code == 0, first.output
    old_uri = file_uri(tmp_path)
    assert connects(old_uri) == creds.role
    old_version = aws_stage(sm_client, "AWSCURRENT")["VersionId"]
    before = len(neon.api.requests)

    result = syncd(neon, "rotate", "--config", str(path), "billing", env=env)
    assert result.code == 0, result.output
    resets = [r for r in neon.api.requests[before:] if r.path.endswith("/reset_password")]
    assert len(resets) == 1
    new_uri = file_uri(tmp_path)
    assert new_uri != old_uri
    current = aws_stage(sm_client, "AWSCURRENT")
    vault_doc = read_data(root, VAULT_SECRET)
    for uri in (new_uri, current["SecretString"], vault_doc["uri"]):
        assert connects(uri) == creds.role
    assert refused(old_uri)
    assert aws_stage(sm_client, "AWSPREVIOUS")["VersionId"] == old_version
    assert not any("AWSPENDING" in s for s in stages(sm_client).values())
    assert metadata(root, VAULT_SECRET)["custom_metadata"]["syncd-role"] == creds.role
    for secret in (creds.password, new_uri.split(":")[2].split("@")[0], neon.api.api_key):
        assert secret not in result.output
    published = [json.loads(line) for line in result.stderr.splitlines() if "window_s" in line]
    assert len(published) == 1 and published[0]["event"] == "rotation_published"
    window = published[0]["window_s"]
    print(f"reset window: {window}s")
    assert 0 < window < 15


def test_rotate_waits_out_a_project_locked_for_8_seconds(tmp_path: Path, neon: NeonWorld) -> None:
    """With the project answering 423 Locked for 8 s, `syncd rotate` keeps trying seconds apart, then publishes a password that connects."""
    creds = branch(neon, "main")
    sinks = [{"sink": "files", "secret": "billing.uri", "format": "uri"}]
    path = write_config(tmp_path, neon, creds, {"mode": "reset", "every": "30d"}, sinks)
    first = syncd(neon, "run", "--once", "--config", str(path))
    assert first.code == 0, first.output
    old_uri = file_uri(tmp_path)
    before = len(neon.api.requests)

    unlocked_at = time.time() + 8.0
    neon.api.lock_for(8.0)
    result = syncd(neon, "rotate", "--config", str(path), "billing")
    assert result.code == 0, result.output
    tries = [r for r in neon.api.requests[before:] if r.path.endswith("/reset_password")]
    assert tries[0].at < unlocked_at <= tries[-1].at  # refused while locked, accepted after
    assert len(tries) >= 2
    assert all(b.at - a.at >= 2.5 for a, b in itertools.pairwise(tries))
    new_uri = file_uri(tmp_path)
    assert new_uri != old_uri
    assert connects(new_uri) == creds.role
    assert refused(old_uri)


def test_run_once_rotates_only_when_due(tmp_path: Path, neon: NeonWorld) -> None:
    """run --once resets a never-rotated target, then not again while its mark is younger than every."""
    creds = branch(neon, "main")
    sinks = [{"sink": "files", "secret": "billing.uri", "format": "uri"}]
    path = write_config(tmp_path, neon, creds, {"mode": "reset", "every": "1h"}, sinks)

    def resets() -> int:
        return sum(1 for r in neon.api.requests if r.path.endswith("/reset_password"))

    assert syncd(neon, "run", "--once", "--config", str(path)).code == 0
    assert resets() == 1
    first = file_uri(tmp_path)
    assert connects(first) == creds.role
    assert syncd(neon, "run", "--once", "--config", str(path)).code == 0
    assert resets() == 1 and file_uri(tmp_path) == first
    # Age the mark past `every`: the next run is due and resets.
    sidecar = next((tmp_path / "out").glob(".billing.uri*"))
    meta = json.loads(sidecar.read_text())
    meta["rotated_at"] = "2020-01-01T00:00:00Z"
    sidecar.write_text(json.dumps(meta))
    assert syncd(neon, "run", "--once", "--config", str(path)).code == 0
    assert resets() == 2
    assert file_uri(tmp_path) != first and connects(file_uri(tmp_path)) == creds.role
    assert refused(first)


def test_refresh_mode_is_todays_behaviour(tmp_path: Path, neon: NeonWorld) -> None:
    """rotation mode refresh (or none) never resets; run --once re-syncs what Neon hands out."""
    creds = branch(neon, "main")
    sinks = [{"sink": "files", "secret": "billing.uri", "format": "uri"}]
    for rotation in ({"mode": "refresh"}, None):
        path = write_config(tmp_path, neon, creds, rotation, sinks)
        result = syncd(neon, "run", "--once", "--config", str(path))
        assert result.code == 0, result.output
        assert connects(file_uri(tmp_path)) == creds.role
    assert not any(r.path.endswith("/reset_password") for r in neon.api.requests)
    refused_cmd = syncd(neon, "rotate", "--config", str(path), "billing")
    assert refused_cmd.code == 2 and "do not rotate" in refused_cmd.stderr


def test_alternate_switches_roles_and_the_old_credential_keeps_working(
    tmp_path: Path, neon: NeonWorld
) -> None:
    """alternate mode publishes role and role_b in turn; the credential published before still connects."""
    creds = branch(neon, "main", second=True)
    sinks = [{"sink": "files", "secret": "billing.uri", "format": "uri"}]
    path = write_config(tmp_path, neon, creds, {"mode": "alternate", "every": "30d"}, sinks)
    assert syncd(neon, "run", "--once", "--config", str(path)).code == 0
    first = file_uri(tmp_path)
    assert connects(first) == f"{creds.role}_b"
    result = syncd(neon, "rotate", "--config", str(path), "billing")
    assert result.code == 0, result.output
    second = file_uri(tmp_path)
    assert connects(second) == creds.role
    assert connects(first) == f"{creds.role}_b"  # the previous credential still works
    third = syncd(neon, "rotate", "--output", "json", "--config", str(path), "billing")
    assert third.code == 0, third.output
    report = json.loads(third.stdout)
    assert report["ok"] and report["targets"][0]["sinks"][0]["written"]
    assert connects(file_uri(tmp_path)) == f"{creds.role}_b"
    assert connects(second) == creds.role


def test_alternate_without_the_second_role_says_how_to_create_it(
    tmp_path: Path, neon: NeonWorld
) -> None:
    """A missing second role fails the target (exit 1) with CREATE ROLE and GRANT instructions."""
    creds = branch(neon, "main")
    sinks = [{"sink": "files", "secret": "billing.uri", "format": "uri"}]
    path = write_config(tmp_path, neon, creds, {"mode": "alternate", "every": "30d"}, sinks)
    result = syncd(neon, "rotate", "--config", str(path), "billing")
    assert result.code == 1
    assert f"CREATE ROLE {creds.role}_b" in result.stdout
    assert f"GRANT {creds.role} TO {creds.role}_b" in result.stdout
    assert f"GRANT {creds.role} TO {creds.role}_b" in result.stderr  # the log says it too
    assert not any(r.path.endswith("/reset_password") for r in neon.api.requests)


def test_a_failed_test_connect_changes_nothing_and_the_next_run_retries(
    tmp_path: Path, neon: NeonWorld, sm_client: Any, aws: MotoServer
) -> None:
    """When the new password does not connect, sinks keep the old one, exit is 1, no password shows, the next run rotates."""
    creds = branch(neon, "main")
    sinks = [
        {"sink": "files", "secret": "billing.uri", "format": "uri"},
        {"sink": "aws", "secret": AWS_SECRET, "format": "uri"},
    ]
    aws_section = {"type": "aws-secrets-manager", "region": aws.region}
    # Publish the original password first (refresh), then switch rotation on.
    refresh = write_config(tmp_path, neon, creds, None, sinks, aws=aws_section)
    assert syncd(neon, "run", "--once", "--config", str(refresh)).code == 0
    path = write_config(
        tmp_path,
        neon,
        creds,
        {"mode": "reset", "every": "30d"},
        sinks,
        aws={"type": "aws-secrets-manager", "region": aws.region},
    )
    old_uri = file_uri(tmp_path)
    old_aws = aws_stage(sm_client, "AWSCURRENT")

    real = neon.api._set_password
    neon.api._set_password = lambda role, password: None  # the reset "finishes", changes nothing
    result = syncd(neon, "rotate", "--config", str(path), "billing")
    neon.api._set_password = real
    assert result.code == 1, result.output
    assert "test connection" in result.output
    handed_out = neon.api.password(PROJECT, "main", creds.role)
    assert handed_out != creds.password
    for secret in (creds.password, handed_out, neon.api.api_key):
        assert secret not in result.output
    assert file_uri(tmp_path) == old_uri and connects(old_uri) == creds.role
    assert aws_stage(sm_client, "AWSCURRENT")["VersionId"] == old_aws["VersionId"]
    assert not any("AWSPENDING" in s for s in stages(sm_client).values())

    retry = syncd(neon, "run", "--once", "--config", str(path))
    assert retry.code == 0, retry.output
    assert file_uri(tmp_path) != old_uri and connects(file_uri(tmp_path)) == creds.role
    assert connects(aws_stage(sm_client, "AWSCURRENT")["SecretString"]) == creds.role


def test_rotate_publishes_presets_from_the_new_password_on_both_connections(
    tmp_path: Path, neon: NeonWorld, pgbouncer: PgBouncer
) -> None:
    """`syncd rotate` with prisma, libpq and spring presets: both of Prisma's URLs and the libpq variables carry the new password and connect."""
    creds = branch(neon, "main")
    sinks = [
        {"sink": "files", "secret": "prisma.env", "format": "env", "preset": "prisma"},
        {"sink": "files", "secret": "libpq.env", "format": "env", "preset": "libpq"},
        {"sink": "files", "secret": "spring.json", "format": "json", "preset": "spring"},
    ]
    path = write_config(tmp_path, neon, creds, {"mode": "reset", "every": "30d"}, sinks)
    first = syncd(neon, "run", "--once", "--config", str(path))
    assert first.code == 0, first.output

    def env(name: str) -> dict[str, str]:
        lines = (tmp_path / "out" / name).read_text().splitlines()
        return dict(line.split("=", 1) for line in lines)

    old = env("prisma.env")
    result = syncd(neon, "rotate", "--config", str(path), "billing")
    assert result.code == 0, result.output
    prisma, libpq = env("prisma.env"), env("libpq.env")
    spring = json.loads((tmp_path / "out" / "spring.json").read_text())
    new_password = libpq["PGPASSWORD"]
    assert new_password != creds.password
    assert spring["SPRING_DATASOURCE_PASSWORD"] == new_password
    assert f":{pgbouncer.port}/" in prisma["DATABASE_URL"]
    assert f":{neon.postgres.port}/" in prisma["DIRECT_URL"]
    for uri in prisma.values():
        assert unquote(urlsplit(uri).password or "") == new_password
        assert connects(uri) == creds.role
    for uri in old.values():
        assert refused(uri)
    # Neon's direct URI has channel_binding=require: the libpq preset passes it on.
    assert libpq["PGCHANNELBINDING"] == "require" and libpq["PGSSLMODE"] == "require"
    login = {"host": libpq["PGHOST"], "port": libpq["PGPORT"], "user": libpq["PGUSER"]}
    with psycopg.connect(
        **login,
        password=new_password,
        dbname=libpq["PGDATABASE"],
        sslmode=libpq["PGSSLMODE"],
        channel_binding=libpq["PGCHANNELBINDING"],
        connect_timeout=5,
    ) as conn:
        assert conn.execute("select current_user").fetchone() == (creds.role,)
    assert new_password not in result.output and creds.password not in result.output
