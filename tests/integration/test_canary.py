"""The canary: no credential ever reaches stdout, stderr or logs, on any path, at debug level.

Full CLI processes run with unique marker strings as the case.dev API key, the
database passwords, and AWS's secret key and session token, through the
success path and every failure path we can provoke, with botocore's request
dumps switched on (``log.vendor_debug``); the markers must appear nowhere in
the output. Passwords that JSON, repr() or URL encoding would change are
checked by their plain chunks, which any leaked encoding would still show.
"""

from __future__ import annotations

import base64
import io
import json
import re
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml

from syncd import logs, redaction
from syncd.core.engine import Engine
from syncd.core.models import Target
from syncd.providers.casedev import CaseDevConfig, CaseDevProvider
from syncd.testing.casedev import Fault
from tests.conftest import CaseDevWorld, CliResult, run_syncd
from tests.support.aws import LEAST_PRIVILEGE_POLICY
from tests.support.servers.moto import MotoServer

pytestmark = pytest.mark.e2e
PROJECT = "proj_canary"


class Canary:
    """Runs syncd at debug level and checks its output for the markers."""

    def __init__(self, tmp_path: Path, casedev: CaseDevWorld, aws: MotoServer) -> None:
        self.casedev = casedev
        self.aws = aws
        self.markers: list[str] = [casedev.api.api_key]
        #: Credentials too short to search for as substrings: matched as whole tokens.
        self.short_markers: list[str] = []
        self.path = tmp_path / "syncd.yaml"
        self.path.write_text(
            yaml.safe_dump(
                {
                    "log": {"level": "debug", "format": "json", "vendor_debug": True},
                    "providers": {
                        "casedev": {
                            "type": "casedev",
                            "base_url": casedev.base_url,
                            "max_attempts": 2,
                        }
                    },
                    "sinks": {
                        "aws": {
                            "type": "aws-secrets-manager",
                            "region": "us-east-1",
                            "max_attempts": 1,
                        },
                        "local": {"type": "file", "directory": str(tmp_path / "out")},
                    },
                    "targets": [
                        {
                            "name": "direct",
                            "provider": "casedev",
                            "project": PROJECT,
                            "sinks": [
                                {"sink": "aws", "secret": "canary/direct"},
                                {"sink": "local", "secret": "direct.env", "format": "env"},
                            ],
                        },
                        {
                            "name": "pooled",
                            "provider": "casedev",
                            "project": PROJECT,
                            "pooled": True,
                            "sinks": [{"sink": "aws", "secret": "canary/pooled", "format": "uri"}],
                        },
                    ],
                }
            )
        )

    def run(self, *extra: str, env: dict[str, str] | None = None) -> CliResult:
        base = {
            "CASEDEV_API_KEY": self.casedev.api.api_key,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": self.aws.endpoint_url,
        }
        result = run_syncd(
            "run", "--once", "--config", str(self.path), *extra, env={**base, **(env or {})}
        )
        self.assert_clean(result)
        return result

    def assert_clean(self, result: CliResult) -> None:
        assert result.stderr, "debug logging produced nothing: the canary would prove nothing"
        for marker in self.markers:
            assert marker not in result.output, f"credential leaked: {marker[:4]}..."
        for word in self.short_markers:
            found = re.search(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])", result.output)
            assert found is None, "short credential leaked"

    def publish(self, password: str) -> None:
        """Make case.dev hand out URIs with ``password`` (sinks here never connect)."""
        userinfo = f"owner:{quote(password, safe='')}"
        self.casedev.api.set_branch(
            PROJECT,
            "main",
            direct=f"postgresql://{userinfo}@db.example/app?sslmode=require",
            pooled=f"postgresql://{userinfo}@pool.example/app?sslmode=require",
        )


@pytest.fixture
def canary(tmp_path: Path, casedev: CaseDevWorld, aws: MotoServer) -> Canary:
    test = Canary(tmp_path, casedev, aws)
    creds = casedev.add_branch(PROJECT, "main")
    test.markers.append(creds.password)
    return test


def test_success_and_rotation_paths(canary: Canary) -> None:
    """Create, unchanged and rotation cycles at debug level leak nothing."""
    assert canary.run().code == 0
    assert canary.run().code == 0
    canary.markers.append(canary.casedev.rotate(PROJECT, "main").password)
    assert canary.run().code == 0


def test_bad_api_key(canary: Canary) -> None:
    """A rejected API key containing a marker is not echoed."""
    wrong = f"cdk_CANARY{secrets.token_hex(8)}"
    canary.markers.append(wrong)
    assert canary.run(env={"CASEDEV_API_KEY": wrong}).code == 1


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=503, body=b'{"error":"down"}'),
        Fault(status=500, body=b"postgresql://owner:MARKER@db/x?sslmode=require"),
        Fault(status=200, body=b'{"connectionUri":"postgresql://owner:MARKER@db/x"}'),
        Fault(
            status=200,
            body=b'{"connectionUri":"postgresql://owner:MARKER@db/x?sslmode=disable","x":1',
        ),
        Fault(
            status=200,
            body=b"<html>postgresql://owner:MARKER@db/x</html>",
            headers={"Content-Type": "text/html"},
        ),
        Fault(status=418, body=b'{"message":"token=MARKER postgresql://o:MARKER@h/d"}'),
    ],
)
def test_provider_failures(canary: Canary, fault: Fault) -> None:
    """5xx, malformed, non-TLS and odd answers carrying a password fail without leaking it."""
    marker = f"CANARY{secrets.token_hex(10)}"
    canary.markers.append(marker)
    fault.body = fault.body.replace(b"MARKER", marker.encode())
    canary.casedev.api.fail_next(fault, times=4)
    assert canary.run().code == 1


def test_aws_errors(canary: Canary, sm_client: Any) -> None:
    """AccessDenied and an unmanaged secret fail without leaking the AWS key or passwords."""
    sm_client.create_secret(Name="canary/pooled", SecretString="foreign")
    policy = {**LEAST_PRIVILEGE_POLICY, "Statement": [dict(LEAST_PRIVILEGE_POLICY["Statement"][0])]}
    policy["Statement"][0]["Action"] = ["secretsmanager:DescribeSecret"]
    key_id, secret_key = canary.aws.create_user_with_policy(policy)
    canary.markers.append(secret_key)
    with canary.aws.iam_enforced():
        result = canary.run(env={"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret_key})
    assert result.code == 1
    assert "denied" in result.stdout and "not managed by syncd" in result.stdout


def test_dry_run_and_check(canary: Canary) -> None:
    """The dry run and check outputs leak nothing either."""
    assert canary.run("--dry-run").code == 0
    result = run_syncd(
        "check",
        "--config",
        str(canary.path),
        env={
            "CASEDEV_API_KEY": canary.casedev.api.api_key,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": canary.aws.endpoint_url,
        },
    )
    assert result.code == 0
    canary.assert_clean(result)


def vault_config(canary: Canary, vault: Any, tmp_path: Path, auth: dict[str, Any]) -> Path:
    data = yaml.safe_load(canary.path.read_text())
    data["sinks"] = {"vault": {"type": "vault", "url": vault.addr, "auth": auth}}
    for target in data["targets"]:
        target["sinks"] = [{"sink": "vault", "secret": f"syncd/canary/{target['name']}"}]
    path = tmp_path / "vault.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_vault_paths(canary: Canary, vault: Any, root: Any, tmp_path: Path) -> None:
    """Token and AppRole auth, a rejected token and a sealed server leak no token, secret id or password."""
    from tests.support.vaultutil import make_token

    token = make_token(root)
    canary.markers.append(token)
    path = vault_config(canary, vault, tmp_path, {"method": "token"})
    env = {"CASEDEV_API_KEY": canary.casedev.api.api_key, "VAULT_TOKEN": token}
    ok = run_syncd("run", "--once", "--config", str(path), env=env)
    assert ok.code == 0, ok.output
    canary.assert_clean(ok)

    wrong = f"s.CANARY{secrets.token_hex(10)}"
    canary.markers.append(wrong)
    denied = run_syncd("run", "--once", "--config", str(path), env={**env, "VAULT_TOKEN": wrong})
    assert denied.code == 1 and "permission denied" in denied.stdout
    canary.assert_clean(denied)

    role_id = root.read("auth/approle/role/syncd/role-id")["data"]["role_id"]
    secret_id = root.write_data("auth/approle/role/syncd/secret-id")["data"]["secret_id"]
    canary.markers += [secret_id]
    (tmp_path / "secret_id").write_text(secret_id)
    approle = vault_config(
        canary,
        vault,
        tmp_path,
        {"method": "approle", "role_id": role_id, "secret_id_file": str(tmp_path / "secret_id")},
    )
    canary.casedev.rotate(PROJECT, "main")
    canary.markers.append(canary.casedev.branches[(PROJECT, "main")].password)
    logged_in = run_syncd(
        "run",
        "--once",
        "--config",
        str(approle),
        env={"CASEDEV_API_KEY": canary.casedev.api.api_key},
    )
    assert logged_in.code == 0, logged_in.output
    canary.assert_clean(logged_in)

    vault.seal()
    try:
        sealed = run_syncd("run", "--once", "--config", str(path), env=env)
    finally:
        vault.unseal()
    assert sealed.code == 1 and "sealed" in sealed.stdout
    canary.assert_clean(sealed)


def test_aws_session_token(canary: Canary) -> None:
    """An AWS session token (as from IRSA or an assumed role) is masked in botocore's dumps."""
    token = f"FwoGZXIvYXdzCANARY{secrets.token_hex(24)}"
    canary.markers.append(token)
    result = canary.run(env={"AWS_SESSION_TOKEN": token})
    assert result.code == 0, result.output
    assert "X-Amz-Security-Token" in result.output  # the dump that used to carry it


def test_short_password(canary: Canary) -> None:
    """A 4-character database password is masked wherever it stands as a token."""
    password = secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") + secrets.token_hex(2)[:2] + "q"
    canary.short_markers.append(password)
    canary.publish(password)
    assert canary.run().code == 0


@pytest.mark.parametrize("special", ['"', "\\", "\u00e9", "'", "\"\\\u00e9'"])
def test_passwords_that_encodings_change(canary: Canary, special: str) -> None:
    """Passwords with a quote, a backslash or non-ASCII leak in no encoding (double-escaped bodies)."""
    chunks = [secrets.token_hex(5) for _ in range(3)]
    canary.markers += chunks
    canary.publish(special.join(chunks))
    assert canary.run().code == 0


def test_hostile_provider_echoes_base64(canary: Canary) -> None:
    """A provider error echoing the API key in base64, alone or inside a header, leaks nothing."""
    key = canary.casedev.api.api_key.encode()
    alone = base64.b64encode(key).decode()
    header = base64.b64encode(b"Authorization: Bearer " + key).decode()
    canary.markers += [alone, header[32:-4]]  # the second: characters made of the key alone
    body = json.dumps({"message": f"rejected {alone} (sent {header})"}).encode()
    canary.casedev.api.fail_next(Fault(status=400, body=body), times=4)
    assert canary.run().code == 1


def test_api_key_survives_20000_rotations(
    monkeypatch: pytest.MonkeyPatch, casedev: CaseDevWorld
) -> None:
    """After 20,000 credential rotations in one process, a fetch_failed line still masks the API key."""
    monkeypatch.setenv("CASEDEV_API_KEY", casedev.api.api_key)
    config = CaseDevConfig(base_url=casedev.base_url, max_attempts=1)  # type: ignore[arg-type]
    provider = CaseDevProvider.from_config("casedev", config)
    stream = io.StringIO()
    logs.configure("debug", "json", stream)
    for _ in range(20_000):  # what each fetch of a rotated credential registers
        password = secrets.token_urlsafe(18)
        redaction.register(f"postgresql://owner:{password}@db.example/app?sslmode=require")
        redaction.register(password)
    echo = json.dumps({"message": f"key {casedev.api.api_key} is revoked"}).encode()
    casedev.api.fail_next(Fault(status=400, body=echo))
    try:
        outcome = Engine({"casedev": provider}, {}).sync_target(
            Target(name="app", provider="casedev", project=PROJECT)
        )
    finally:
        provider.close()
    assert not outcome.ok
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert any(line["event"] == "fetch_failed" and "***" in line["error"] for line in lines)
    assert casedev.api.api_key not in stream.getvalue()


def test_a_password_fetched_first_is_masked_when_logged_last_at_10000_targets(
    tmp_path: Path,
) -> None:
    """`run --once` over 10,000 targets: the password fetched first, echoed by a
    provider's error at the end of the cycle, is masked; so is every other one."""
    from syncd.testing.casedev import FakeCaseDev

    count = 10_000
    # 10,000 secrets are 40,000 fsyncs: on a tmpfs where there is one, they cost nothing.
    shm = Path("/dev/shm")
    out = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else tmp_path / "out"
    api = FakeCaseDev(f"cdk_{secrets.token_urlsafe(24)}")
    echo = FakeCaseDev(f"cdk_{secrets.token_urlsafe(24)}")
    passwords = [f"pw{i:05d}{secrets.token_urlsafe(12)}" for i in range(count)]
    for i, password in enumerate(passwords):
        uri = f"postgresql://app_{i}:{password}@ep-{i}.db.example/neondb?sslmode=require"
        api.set_branch(f"p{i}", "main", direct=uri, pooled=uri)
    first = passwords[0]
    body = json.dumps({"message": f"{first} / {base64.b64encode(first.encode()).decode()}"})
    echo.fail_next(Fault(status=400, body=body.encode()), times=1)
    lines = [
        f"- {{name: t{i}, provider: c, project: p{i}, sinks: [{{sink: f, secret: t{i}.env}}]}}"
        for i in range(count)
    ]
    lines.append("- {name: zz-last, provider: echo, project: p0, sinks: [{sink: f, secret: z}]}")
    with api.serve() as server, echo.serve() as echoing:
        path = tmp_path / "syncd.yaml"
        path.write_text(
            "log: {level: info, format: json}\n"
            "concurrency: 8\n"
            # No bulkhead: the echoing provider's target must run last, not beside the first.
            "worker_share: 1\n"
            f"providers:\n  c: {{type: casedev, base_url: '{server.base_url}', "
            f"rate_limit: null, api_key_file: '{tmp_path / 'key'}'}}\n"
            f"  echo: {{type: casedev, base_url: '{echoing.base_url}', max_attempts: 1, "
            f"api_key_file: '{tmp_path / 'echo-key'}'}}\n"
            f"sinks:\n  f: {{type: file, directory: '{out / 'secrets'}'}}\n"
            "defaults: {format: env}\n"
            "targets:\n" + "\n".join(lines) + "\n"
        )
        (tmp_path / "key").write_text(api.api_key)
        (tmp_path / "echo-key").write_text(echo.api_key)
        try:
            result = run_syncd("run", "--once", "--config", str(path), timeout=600)
            reached = (out / "secrets" / "t9999.env").exists()
        finally:
            shutil.rmtree(out, ignore_errors=True)
    assert result.code == 1, result.output[-2000:]
    assert '"target": "zz-last"' in result.stderr, "the echoing target never logged"
    assert reached, "the cycle did not reach the last target"
    for password in (first, passwords[count // 2], passwords[-1]):
        assert password not in result.output
    assert base64.b64encode(first.encode()).decode() not in result.output
    assert api.api_key not in result.output and echo.api_key not in result.output


def test_presets_keys_and_their_failures(canary: Canary, tmp_path: Path) -> None:
    """Presets and keys (both connections fetched), a rotation and a password env files cannot hold leak nothing."""
    data = yaml.safe_load(canary.path.read_text())
    data["targets"][0]["sinks"] = [
        {"sink": "local", "secret": "libpq.env", "format": "env", "preset": "libpq"},
        {"sink": "local", "secret": "prisma.env", "format": "env", "preset": "prisma"},
        {"sink": "aws", "secret": "canary/spring", "format": "json", "preset": "spring"},
    ]
    data["targets"][1]["sinks"] = [
        {
            "sink": "local",
            "secret": "keys.json",
            "format": "json",
            "keys": {"DIRECT": "direct_uri", "PASSWORD": "password", "JDBC": "jdbc_url"},
        }
    ]
    canary.path.write_text(yaml.safe_dump(data))
    assert canary.run().code == 0
    assert canary.run("--dry-run").code == 0
    canary.markers.append(canary.casedev.rotate(PROJECT, "main").password)
    assert canary.run().code == 0
    chunks = [f"CANARY{secrets.token_hex(5)}" for _ in range(3)]
    canary.markers += chunks
    canary.publish(" #$\"'".join(chunks))
    result = canary.run()
    assert result.code == 1 and "the value of PGPASSWORD cannot be an env line" in result.output
