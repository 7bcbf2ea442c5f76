"""Tests for `syncd check`: it finds what `run --once` would hit, and writes no secret.

Every finding is pinned through a real `syncd check` process against the real
local servers (the case.dev-compatible API, moto with IAM enforcement, an
OpenBao dev server); the checker's own rules get unit tests with fakes.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from syncd.core.check import NO_PREFLIGHT, Checker
from syncd.core.engine import Engine
from syncd.core.models import SecretState, SinkBinding, Target
from syncd.sinks.base import Preflight
from syncd.sinks.file import FileSink
from syncd.testing.casedev import FakeCaseDev, RunningServer
from syncd.testing.fakes import MemorySink, StaticProvider
from tests.conftest import CliResult, run_syncd
from tests.support.aws import LEAST_PRIVILEGE_POLICY
from tests.support.configs import ConfigBuilder
from tests.support.servers.moto import MotoServer
from tests.support.servers.ports import LOOPBACK, free_port
from tests.support.vaultutil import POLICY, make_token

KEY = "cdk_check_test_key_123456"
URI = "postgresql://owner:CheckPassw0rdXYZ@db.example/app?sslmode=require"
CAPABILITIES_SELF = 'path "sys/capabilities-self" {\n  capabilities = ["update"]\n}\n'


@pytest.fixture
def api() -> Iterator[RunningServer]:
    """The case.dev-compatible API over HTTP with one project."""
    fake = FakeCaseDev(KEY)
    fake.set_branch("proj_1", "main", direct=URI, pooled=URI)
    with fake.serve() as server:
        yield server


def config(
    tmp_path: Path,
    base_url: str,
    sinks: dict[str, Any],
    bindings: list[dict[str, Any]],
) -> Path:
    """A config with one target 'app' bound to ``bindings``."""
    return (
        ConfigBuilder(tmp_path)
        .casedev(base_url, max_attempts=1)
        .set(sinks=sinks)
        .target("app", bindings)
        .write()
    )


def file_config(tmp_path: Path, base_url: str, directory: Path) -> Path:
    return config(
        tmp_path,
        base_url,
        {"local": {"type": "file", "directory": str(directory)}},
        [{"sink": "local", "secret": "app.env", "format": "env"}],
    )


def check(path: Path, **env: str) -> CliResult:
    return run_syncd("check", "--config", str(path), env={"CASEDEV_API_KEY": KEY, **env})


def row(result: CliResult, secret: str) -> str:
    """The RESULT text of the table row for ``secret``."""
    lines = [line for line in result.stdout.splitlines() if f"  {secret}  " in line]
    assert len(lines) == 1, result.output
    return lines[0].split(f"  {secret}  ", 1)[1].strip()


# --- file sink -------------------------------------------------------------------------


def test_missing_directory_and_parent_fail(tmp_path: Path, api: RunningServer) -> None:
    """A directory whose parent does not exist either (a typo) fails the check and is not created."""
    directory = tmp_path / "typo" / "out"
    result = check(file_config(tmp_path, api.base_url, directory))
    assert result.code == 1, result.output
    assert row(result, "app.env") == (
        f"FAILED: directory {directory} does not exist, nor does its parent {directory.parent}; "
        "create it first (syncd creates only the last level)"
    )
    assert not directory.parent.exists()


def test_missing_last_level_would_be_created(tmp_path: Path, api: RunningServer) -> None:
    """Only the last level missing, under a writable parent, is ok and named, yet not created."""
    directory = tmp_path / "out"
    result = check(file_config(tmp_path, api.base_url, directory))
    assert result.code == 0, result.output
    assert row(result, "app.env") == f"ok (would create); would create directory {directory}"
    assert not directory.exists()


def test_writable_directory_passes_and_the_probe_leaves_nothing(tmp_path: Path) -> None:
    """The file sink's preflight passes a writable directory and leaves it as it was."""
    directory = tmp_path / "out"
    directory.mkdir()
    found = FileSink("local", directory).preflight("app.env", SecretState.missing())
    assert (found.problems, found.notes) == ((), ())
    assert list(directory.iterdir()) == []


def test_path_that_is_a_file_fails(tmp_path: Path) -> None:
    """The file sink's preflight refuses a directory path that is a regular file."""
    directory = tmp_path / "out"
    directory.write_text("")
    found = FileSink("local", directory).preflight("app.env", SecretState.missing())
    assert found.problems == (f"{directory} exists but is not a directory",)


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """An empty directory on a read-only tmpfs mount (needs root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a read-only tmpfs needs root")
    directory = tmp_path / "ro"
    directory.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(directory)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", str(directory)], check=True)


def test_read_only_mount_fails(tmp_path: Path, api: RunningServer, read_only_dir: Path) -> None:
    """A directory on a read-only mount fails the check, as the run would (even as root)."""
    result = check(file_config(tmp_path, api.base_url, read_only_dir))
    assert result.code == 1, result.output
    assert (
        row(result, "app.env") == f"FAILED: directory {read_only_dir} is on a read-only file system"
    )
    missing = check(file_config(tmp_path, api.base_url, read_only_dir / "sub"))
    assert missing.code == 1
    assert "cannot be created: directory" in row(missing, "app.env")
    assert "read-only file system" in row(missing, "app.env")


def test_not_writable_directory_fails(tmp_path: Path, api: RunningServer) -> None:
    """A directory this (non-root) process may not write fails the check."""
    if os.geteuid() == 0:
        pytest.skip(
            "root may write into a mode 0500 directory; the read-only mount test covers root"
        )
    directory = tmp_path / "out"
    directory.mkdir(mode=0o500)
    result = check(file_config(tmp_path, api.base_url, directory))
    assert result.code == 1
    assert row(result, "app.env") == (
        f"FAILED: directory {directory} is not writable by this process (uid {os.geteuid()})"
    )


# --- provider unreachable -------------------------------------------------------------


def test_sinks_are_checked_when_the_provider_is_unreachable(tmp_path: Path) -> None:
    """An unreachable provider fails its target row, and every sink binding still gets its own result."""
    good = tmp_path / "good"
    good.mkdir()
    path = config(
        tmp_path,
        f"http://{LOOPBACK}:{free_port()}",
        {
            "good": {"type": "file", "directory": str(good)},
            "bad": {"type": "file", "directory": str(tmp_path / "no" / "such")},
        },
        [{"sink": "good", "secret": "a.env"}, {"sink": "bad", "secret": "b.env"}],
    )
    result = check(path)
    assert result.code == 1, result.output
    target_rows = [line for line in result.stdout.splitlines() if line.startswith("app ")]
    assert "FAILED:" in target_rows[0] and "  -  " in target_rows[0]
    assert row(result, "a.env") == "ok (would create)"
    assert row(result, "b.env").startswith(f"FAILED: directory {tmp_path / 'no' / 'such'} ")


# --- AWS Secrets Manager -----------------------------------------------------------------


def aws_config(tmp_path: Path, api: RunningServer, aws: MotoServer) -> Path:
    return config(
        tmp_path,
        api.base_url,
        {"aws": {"type": "aws-secrets-manager", "region": aws.region, "max_attempts": 1}},
        [{"sink": "aws", "secret": "prod/app/db"}],
    )


def test_aws_least_privilege_says_what_it_cannot_verify(
    tmp_path: Path, api: RunningServer, aws: MotoServer, sm_client: Any
) -> None:
    """With the least-privilege user, check is ok and says write permission cannot be verified."""
    key_id, secret_key = aws.create_user_with_policy(LEAST_PRIVILEGE_POLICY)
    env = {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret_key}
    path = aws_config(tmp_path, api, aws)
    with aws.iam_enforced():
        before = check(path, **env)
        written = run_syncd(
            "run", "--once", "--config", str(path), env={"CASEDEV_API_KEY": KEY, **env}
        )
        after = check(path, **env)
    assert before.code == 0, before.output
    assert row(before, "prod/app/db") == (
        "ok (would create); write permission (secretsmanager:CreateSecret) not verifiable "
        "without writing"
    )
    assert written.code == 0, written.output
    assert after.code == 0, after.output
    assert row(after, "prod/app/db") == (
        "ok (unchanged); write permission (secretsmanager:PutSecretValue) not verifiable "
        "without writing"
    )
    assert len(sm_client.list_secret_version_ids(SecretId="prod/app/db")["Versions"]) == 1


def test_aws_without_describe_secret_fails(
    tmp_path: Path, api: RunningServer, aws: MotoServer, sm_client: Any
) -> None:
    """A user without DescribeSecret fails the check naming the action, even with the provider down."""
    policy = {**LEAST_PRIVILEGE_POLICY, "Statement": [dict(LEAST_PRIVILEGE_POLICY["Statement"][0])]}
    policy["Statement"][0]["Action"] = [
        a for a in policy["Statement"][0]["Action"] if a != "secretsmanager:DescribeSecret"
    ]
    key_id, secret_key = aws.create_user_with_policy(policy)
    env = {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret_key}
    path = aws_config(tmp_path, api, aws)
    down = tmp_path / "down.yaml"
    down.write_text(path.read_text().replace(api.base_url, f"http://{LOOPBACK}:{free_port()}"))
    with aws.iam_enforced():
        results = [check(path, **env), check(down, **env)]
    for result in results:
        assert result.code == 1, result.output
        assert row(result, "prod/app/db").startswith("FAILED: ")
        assert "secretsmanager:DescribeSecret" in row(result, "prod/app/db")
    assert sm_client.list_secrets()["SecretList"] == []


# --- Vault / OpenBao ----------------------------------------------------------------------


def vault_check(tmp_path: Path, api: RunningServer, vault: Any, token: str) -> CliResult:
    path = config(
        tmp_path,
        api.base_url,
        {"vault": {"type": "vault", "url": vault.addr}},
        [{"sink": "vault", "secret": "syncd/check/app"}],
    )
    return check(path, VAULT_TOKEN=token)


def test_vault_capabilities_are_verified(
    tmp_path: Path, api: RunningServer, vault: Any, root: Any
) -> None:
    """Without update on the metadata path check fails naming both; the documented policy passes."""
    policy = (
        POLICY.replace('["create", "read", "update"]', '["create", "read"]') + CAPABILITIES_SELF
    )
    root.sys.create_or_update_policy("syncd-no-meta-update", policy)
    result = vault_check(tmp_path, api, vault, make_token(root, "syncd-no-meta-update"))
    assert result.code == 1, result.output
    assert row(result, "syncd/check/app") == (
        "FAILED: the token's policy lacks update on secret/metadata/syncd/check/app"
    )
    root.sys.create_or_update_policy("syncd-check", POLICY + CAPABILITIES_SELF)
    verified = vault_check(tmp_path, api, vault, make_token(root, "syncd-check"))
    assert verified.code == 0, verified.output
    assert row(verified, "syncd/check/app") == "ok (would create)"


def test_vault_least_privilege_without_capabilities_self_says_so(
    tmp_path: Path, api: RunningServer, vault: Any, root: Any
) -> None:
    """The documented policy alone passes, with a note that permissions were not verified."""
    result = vault_check(tmp_path, api, vault, make_token(root))
    assert result.code == 0, result.output
    assert row(result, "syncd/check/app") == (
        "ok (would create); permissions not verified: the token may not use "
        "sys/capabilities-self (grant update on it, as Vault's default policy does)"
    )


# --- the checker itself -------------------------------------------------------------------


def test_sink_without_preflight_is_not_an_error() -> None:
    """A plugin sink without preflight is reported as not checked, and the check passes."""
    sink = MemorySink()
    assert not isinstance(sink, Preflight)
    provider = StaticProvider({("proj_1", "main", False): URI})
    target = Target("app", "p", "proj_1", sinks=(SinkBinding("mem", "s"),))
    report = Checker({"p": provider}, {"mem": sink}).run([target])
    assert report.ok
    assert report.targets[0].bindings[0].result == f"ok (would create); {NO_PREFLIGHT}"
    assert sink.inspect("s").exists is False


def test_built_in_sinks_offer_preflight() -> None:
    """The file, AWS and Vault sinks implement the Preflight protocol."""
    from syncd.sinks.aws_secrets_manager import AwsSecretsManagerSink
    from syncd.sinks.vault import VaultSink

    for cls in (FileSink, AwsSecretsManagerSink, VaultSink):
        assert callable(getattr(cls, "preflight", None)), cls


def test_unmanaged_secret_fails_even_when_the_provider_fails(tmp_path: Path) -> None:
    """Without a value to compare, a secret syncd does not own still fails the check."""
    sink = MemorySink()
    sink.put_foreign("s", "someone else's")
    target = Target("app", "p", "proj_1", sinks=(SinkBinding("mem", "s"),))
    report = Checker({"p": StaticProvider()}, {"mem": sink}).run([target])
    assert report.targets[0].error is not None
    assert "not managed by syncd" in report.targets[0].bindings[0].result


@pytest.mark.parametrize("provider_up", [True, False])
def test_secret_owned_by_another_instance_fails_the_check(provider_up: bool) -> None:
    """check refuses, as the run would, a secret another syncd instance owns."""
    sink = MemorySink()
    target = Target("app", "p", "proj_1", sinks=(SinkBinding("mem", "s"),))
    up = StaticProvider({("proj_1", "main", False): URI})
    assert Engine({"p": up}, {"mem": sink}, instance="team-a").sync_target(target).ok
    provider = up if provider_up else StaticProvider()
    report = Checker({"p": provider}, {"mem": sink}, instance="team-b").run([target])
    assert not report.ok
    assert "team-a/app" in report.targets[0].bindings[0].result


def test_check_compares_a_prisma_preset_with_both_connections() -> None:
    """check fetches the pooled connection too for a prisma preset, and finds it in sync after a run."""
    pooled = URI.replace("@db.example", "@pool.example")
    provider = StaticProvider({("proj_1", "main", False): URI, ("proj_1", "main", True): pooled})
    sink = MemorySink()
    target = Target("app", "p", "proj_1", sinks=(SinkBinding("mem", "s", "env", preset="prisma"),))
    assert Checker({"p": provider}, {"mem": sink}).run([target]).ok
    assert provider.calls == 2
    assert Engine({"p": provider}, {"mem": sink}).sync_target(target).ok
    report = Checker({"p": provider}, {"mem": sink}).run([target])
    assert report.ok and report.targets[0].bindings[0].result.startswith("ok (unchanged)")
