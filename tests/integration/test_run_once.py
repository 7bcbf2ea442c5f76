"""End to end through the CLI: case.dev API -> syncd -> AWS (moto server) and files -> PostgreSQL.

The connection strings syncd writes are read back the way applications read
them and used to connect to the real PostgreSQL (direct) and PgBouncer (pooled).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from tests.conftest import CaseDevWorld, connects, run_syncd
from tests.support.configs import ConfigBuilder, binding
from tests.support.servers.moto import MotoServer

pytestmark = pytest.mark.e2e
PROJECT = "proj_e2e"


def config_for(tmp_path: Path, casedev: CaseDevWorld) -> Path:
    return (
        ConfigBuilder(tmp_path, log_level="info")
        .casedev(casedev.base_url)
        .aws_sink()
        .file_sink(directory=tmp_path / "secrets")
        .target(
            "app-main",
            [binding("aws", "prod/app/database"), binding("local", "app-main.env", format="env")],
            project=PROJECT,
        )
        .target(
            "app-main-pooled",
            [binding("aws", "prod/app/database-pooled", format="uri")],
            project=PROJECT,
            pooled=True,
        )
        .target(
            "app-feature",
            [binding("aws", "prod/app/database-feature")],
            project=PROJECT,
            branch="feature-auth",
        )
        .write()
    )


def env_for(casedev: CaseDevWorld, aws: MotoServer) -> dict[str, str]:
    return {
        "CASEDEV_API_KEY": casedev.api.api_key,
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": aws.endpoint_url,
    }


def aws_value(client: Any, secret: str) -> str:
    return str(client.get_secret_value(SecretId=secret, VersionStage="AWSCURRENT")["SecretString"])


def test_full_sync_rotation_and_drift(
    tmp_path: Path, casedev: CaseDevWorld, aws: MotoServer, sm_client: Any
) -> None:
    """Secrets are created, connect, stay unchanged, follow a rotation and repair drift."""
    main = casedev.add_branch(PROJECT, "main")
    feature = casedev.add_branch(PROJECT, "feature-auth")
    path = config_for(tmp_path, casedev)
    env = env_for(casedev, aws)

    first = run_syncd("run", "--once", "--config", str(path), env=env)
    assert first.code == 0, first.output
    assert "4 created" in first.stdout

    document = json.loads(aws_value(sm_client, "prod/app/database"))
    assert document["engine"] == "postgres" and document["dbname"] == main.database
    assert connects(document["uri"]) == main.role
    assert (
        connects(aws_value(sm_client, "prod/app/database-pooled")) == main.role
    )  # through PgBouncer
    assert (
        connects(json.loads(aws_value(sm_client, "prod/app/database-feature"))["uri"])
        == feature.role
    )
    env_line = (tmp_path / "secrets" / "app-main.env").read_text()
    assert connects(env_line.removeprefix("DATABASE_URL=").strip()) == main.role

    second = run_syncd("run", "--once", "--config", str(path), env=env)
    assert second.code == 0 and "4 unchanged" in second.stdout
    assert len(sm_client.list_secret_version_ids(SecretId="prod/app/database")["Versions"]) == 1

    old_uri = document["uri"]
    casedev.rotate(PROJECT, "main")
    third = run_syncd("run", "--once", "--config", str(path), env=env)
    assert third.code == 0 and "3 updated" in third.stdout and "1 unchanged" in third.stdout
    new_uri = json.loads(aws_value(sm_client, "prod/app/database"))["uri"]
    assert new_uri != old_uri and connects(new_uri) == main.role
    assert connects(aws_value(sm_client, "prod/app/database-pooled")) == main.role
    with pytest.raises(psycopg.OperationalError):
        connects(old_uri)
    previous = sm_client.get_secret_value(SecretId="prod/app/database", VersionStage="AWSPREVIOUS")
    assert json.loads(previous["SecretString"])["uri"] == old_uri

    sm_client.put_secret_value(SecretId="prod/app/database", SecretString="hand-edited")
    fourth = run_syncd("run", "--once", "--config", str(path), env=env)
    assert fourth.code == 0 and "1 drift repaired" in fourth.stdout
    assert json.loads(aws_value(sm_client, "prod/app/database"))["uri"] == new_uri


def test_unmanaged_secret_is_refused_then_adopted(
    tmp_path: Path, casedev: CaseDevWorld, aws: MotoServer, sm_client: Any
) -> None:
    """An existing secret not created by syncd fails the target (exit 1) until adopt: true."""
    casedev.add_branch(PROJECT, "main")
    casedev.add_branch(PROJECT, "feature-auth")
    sm_client.create_secret(Name="prod/app/database", SecretString="someone else's")
    path = config_for(tmp_path, casedev)
    env = env_for(casedev, aws)
    refused = run_syncd("run", "--once", "--config", str(path), env=env)
    assert refused.code == 1 and "not managed by syncd" in refused.stdout
    assert aws_value(sm_client, "prod/app/database") == "someone else's"
    assert (
        "app-main-pooled" in refused.stdout and "3 created" in refused.stdout
    )  # the others went on

    data = yaml.safe_load(path.read_text())
    data["targets"][0]["sinks"][0]["adopt"] = True
    path.write_text(yaml.safe_dump(data))
    adopted = run_syncd("run", "--once", "--config", str(path), env=env)
    assert adopted.code == 0, adopted.output
    tags = {
        t["Key"]: t["Value"]
        for t in sm_client.describe_secret(SecretId="prod/app/database")["Tags"]
    }
    assert tags["managed-by"] == "syncd"


def test_unreachable_provider_fails_cleanly(
    tmp_path: Path, casedev: CaseDevWorld, aws: MotoServer
) -> None:
    """A provider that does not answer gives exit 1, a clear message, and writes nothing."""
    from tests.support.servers.ports import free_port

    path = config_for(tmp_path, casedev)
    data = yaml.safe_load(path.read_text())
    data["providers"]["casedev"].update(base_url=f"http://127.0.0.1:{free_port()}", max_attempts=2)
    path.write_text(yaml.safe_dump(data))
    result = run_syncd("run", "--once", "--config", str(path), env=env_for(casedev, aws))
    assert result.code == 1 and "cannot reach case.dev" in result.stdout
    assert "Traceback" not in result.output
    assert not (tmp_path / "secrets").exists()


def test_same_targets_into_aws_and_vault(
    tmp_path: Path, casedev: CaseDevWorld, aws: MotoServer, sm_client: Any, vault: Any, root: Any
) -> None:
    """One CLI run feeds AWS and Vault; consumers read each back and connect to PostgreSQL."""
    from tests.support.vaultutil import make_token, read_data

    main = casedev.add_branch(PROJECT, "main")
    path = tmp_path / "syncd.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "log": {"level": "info", "format": "json"},
                "providers": {"casedev": {"type": "casedev", "base_url": casedev.base_url}},
                "sinks": {
                    "aws": {"type": "aws-secrets-manager", "region": "us-east-1"},
                    "vault": {"type": "vault", "url": vault.addr, "auth": {"method": "token"}},
                },
                "targets": [
                    {
                        "name": "app",
                        "provider": "casedev",
                        "project": PROJECT,
                        "sinks": [
                            {"sink": "aws", "secret": "prod/app/database"},
                            {"sink": "vault", "secret": "syncd/e2e/app/database"},
                        ],
                    },
                    {
                        "name": "app-pooled",
                        "provider": "casedev",
                        "project": PROJECT,
                        "pooled": True,
                        "sinks": [
                            {"sink": "aws", "secret": "prod/app/database-pooled", "format": "uri"},
                            {"sink": "vault", "secret": "syncd/e2e/app/pooled", "format": "env"},
                        ],
                    },
                ],
            }
        )
    )
    env = {**env_for(casedev, aws), "VAULT_TOKEN": make_token(root)}
    first = run_syncd("run", "--once", "--config", str(path), env=env)
    assert first.code == 0 and "4 created" in first.stdout, first.output

    data = read_data(root, "syncd/e2e/app/database")
    assert data["username"] == main.role and connects(data["uri"]) == main.role
    assert connects(read_data(root, "syncd/e2e/app/pooled")["DATABASE_URL"]) == main.role
    assert connects(json.loads(aws_value(sm_client, "prod/app/database"))["uri"]) == main.role

    casedev.rotate(PROJECT, "main")
    second = run_syncd("run", "--once", "--config", str(path), env=env)
    assert second.code == 0 and "4 updated" in second.stdout
    assert connects(read_data(root, "syncd/e2e/app/database")["uri"]) == main.role
    meta = root.secrets.kv.v2.read_secret_metadata("syncd/e2e/app/database")["data"]
    assert meta["current_version"] == 2 and meta["custom_metadata"]["managed-by"] == "syncd"


def test_one_failing_sink_does_not_block_the_other(
    tmp_path: Path, casedev: CaseDevWorld, aws: MotoServer, sm_client: Any, vault: Any
) -> None:
    """With Vault refusing the token, AWS is still written and the run exits 1 naming Vault."""
    casedev.add_branch(PROJECT, "main")
    path = tmp_path / "syncd.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "providers": {"casedev": {"type": "casedev", "base_url": casedev.base_url}},
                "sinks": {
                    "aws": {"type": "aws-secrets-manager", "region": "us-east-1"},
                    "vault": {"type": "vault", "url": vault.addr},
                },
                "targets": [
                    {
                        "name": "app",
                        "provider": "casedev",
                        "project": PROJECT,
                        "sinks": [
                            {"sink": "vault", "secret": "syncd/e2e/denied"},
                            {"sink": "aws", "secret": "prod/app/partial"},
                        ],
                    },
                ],
            }
        )
    )
    env = {**env_for(casedev, aws), "VAULT_TOKEN": "s.not-a-valid-token-000"}
    result = run_syncd("run", "--once", "--config", str(path), env=env)
    assert result.code == 1
    assert "vault sink vault" in result.stdout and "create (written)" in result.stdout
    assert "0 target(s) ok, 1 failed" in result.stdout
    assert json.loads(aws_value(sm_client, "prod/app/partial"))["engine"] == "postgres"
