"""Tests for the AWS Secrets Manager sink against moto's server over real HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from syncd.errors import SinkAuthError, SinkUnavailable
from syncd.models import Action
from syncd.sinks.aws_secrets_manager import AwsSecretsManagerConfig, AwsSecretsManagerSink
from syncd.testing.contract import ReadBack, SinkContract, SyncWorld, Writer
from tests.servers.moto import MotoServer

#: The actions of the README's least-privilege policy. moto matches IAM resources only
#: against "*", so the tests scope by action; the README scopes by secret ARN as well.
LEAST_PRIVILEGE_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "SyncdManagesItsSecrets",
            "Effect": "Allow",
            "Action": [
                "secretsmanager:DescribeSecret",
                "secretsmanager:CreateSecret",
                "secretsmanager:PutSecretValue",
                "secretsmanager:TagResource",
            ],
            "Resource": "*",
        }
    ],
}


def make_sink(
    aws: MotoServer, credentials: tuple[str, str] | None = None, **kw: Any
) -> AwsSecretsManagerSink:
    client = boto3.client("secretsmanager", **aws.client_kwargs(credentials))
    return AwsSecretsManagerSink("aws", client, **kw)


def current(client: Any, secret: str) -> str:
    # Always name the stage: moto answers a stage-less read with the old version.
    return str(client.get_secret_value(SecretId=secret, VersionStage="AWSCURRENT")["SecretString"])


class TestAwsContract(SinkContract):
    """The AWS Secrets Manager sink passes the sink contract."""

    @pytest.fixture
    def sink(self, aws: MotoServer) -> Iterator[AwsSecretsManagerSink]:
        sink = make_sink(aws)
        yield sink
        sink.close()

    @pytest.fixture
    def read_back(self, sm_client: Any) -> ReadBack:
        return lambda secret: current(sm_client, secret)

    @pytest.fixture
    def write_foreign(self, sm_client: Any) -> Writer:
        return lambda secret, text: sm_client.put_secret_value(SecretId=secret, SecretString=text)

    @pytest.fixture
    def create_unmanaged(self, sm_client: Any) -> Writer:
        return lambda secret, text: sm_client.create_secret(Name=secret, SecretString=text)


def test_created_secret_is_tagged_and_described(aws: MotoServer, sm_client: Any) -> None:
    """A created secret carries ownership tags, the user's tags and the description."""
    sink = make_sink(aws, tags={"team": "platform"}, description="db for app")
    SyncWorld(sink, "prod/app/database", "json").sync()
    described = sm_client.describe_secret(SecretId="prod/app/database")
    tags = {t["Key"]: t["Value"] for t in described["Tags"]}
    assert tags == {
        "managed-by": "syncd",
        "syncd:target": "contract",
        "syncd:owner": "contract-instance/contract",
        "team": "platform",
    }
    assert described["Description"] == "db for app"
    sink.close()


def test_previous_value_stays_reachable(aws: MotoServer, sm_client: Any) -> None:
    """After a rotation the old value is AWSPREVIOUS and no extra versions appear."""
    sink = make_sink(aws)
    world = SyncWorld(sink, "app/db", "uri")
    world.sync()
    first = world.password
    world.sync()
    world.rotate()
    world.sync()
    previous = sm_client.get_secret_value(SecretId="app/db", VersionStage="AWSPREVIOUS")[
        "SecretString"
    ]
    assert first in previous
    assert world.password in current(sm_client, "app/db")
    versions = sm_client.list_secret_version_ids(SecretId="app/db")["Versions"]
    assert len(versions) == 2
    sink.close()


def test_secret_of_older_syncd_gets_its_owner_on_next_write(
    aws: MotoServer, sm_client: Any
) -> None:
    """A secret tagged by an older syncd (target, no owner) is ours by target name, then tagged."""
    tags = [{"Key": "managed-by", "Value": "syncd"}, {"Key": "syncd:target", "Value": "contract"}]
    sm_client.create_secret(Name="legacy/db", SecretString="old", Tags=tags)
    sink = make_sink(aws)
    world = SyncWorld(sink, "legacy/db", "uri")
    assert world.sync() == (Action.DRIFT, True)
    described = sm_client.describe_secret(SecretId="legacy/db")
    assert {t["Key"]: t["Value"] for t in described["Tags"]}["syncd:owner"] == (
        "contract-instance/contract"
    )
    other = SyncWorld(sink, "legacy/db", "uri", target="someone-else")
    assert other.engine.sync_target(other.target).sinks[0].error is not None
    sink.close()


def test_least_privilege_policy_is_enough(aws: MotoServer, sm_client: Any) -> None:
    """With only the README's IAM policy (no GetSecretValue) create, unchanged, update and drift work."""
    keys = aws.create_user_with_policy(LEAST_PRIVILEGE_POLICY)
    with aws.iam_enforced():
        sink = make_sink(aws, keys)
        world = SyncWorld(sink, "prod/app/database", "json")
        assert world.sync() == (Action.CREATE, True)
        assert world.sync() == (Action.UNCHANGED, False)
        world.rotate()
        assert world.sync() == (Action.UPDATE, True)
        restricted = boto3.client("secretsmanager", **aws.client_kwargs(keys))
        with pytest.raises(restricted.exceptions.ClientError, match="AccessDenied"):
            restricted.get_secret_value(SecretId="prod/app/database")
        restricted.close()
        sink.close()
    assert world.password in current(sm_client, "prod/app/database")


def test_access_denied_names_the_permission(aws: MotoServer) -> None:
    """A policy without PutSecretValue gives an error naming the missing action."""
    policy = json.loads(json.dumps(LEAST_PRIVILEGE_POLICY))
    policy["Statement"][0]["Action"].remove("secretsmanager:CreateSecret")
    keys = aws.create_user_with_policy(policy)
    with aws.iam_enforced():
        sink = make_sink(aws, keys)
        world = SyncWorld(sink, "app/denied", "uri")
        error = world.engine.sync_target(world.target).sinks[0].error
        sink.close()
    assert isinstance(error, SinkAuthError)
    assert "secretsmanager:CreateSecret" in str(error) and "app/denied" in str(error)


class _Throttling(BaseHTTPRequestHandler):
    calls = 0

    def do_POST(self) -> None:
        type(self).calls += 1
        self.rfile.read(int(self.headers["Content-Length"]))
        body = b'{"__type":"ThrottlingException","message":"Rate exceeded"}'
        self.send_response(400)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_throttling_is_retried_then_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    """ThrottlingException is retried by botocore, then reported as a transient error."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Throttling)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        config = AwsSecretsManagerConfig(
            region="us-east-1",
            endpoint_url=f"http://127.0.0.1:{server.server_address[1]}",
            max_attempts=2,
        )
        sink = AwsSecretsManagerSink.from_config("aws", config)
        with pytest.raises(SinkUnavailable, match="ThrottlingException") as info:
            sink.inspect("app/db")
        sink.close()
    finally:
        server.shutdown()
        server.server_close()
    assert info.value.transient
    assert _Throttling.calls == 2


def test_unreachable_endpoint_is_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    """A closed port is SinkUnavailable, not a crash."""
    from tests.servers.ports import free_port

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    config = AwsSecretsManagerConfig(
        region="us-east-1",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        max_attempts=1,
        timeout=2,
    )
    sink = AwsSecretsManagerSink.from_config("aws", config)
    with pytest.raises(SinkUnavailable, match="cannot reach"):
        sink.inspect("app/db")
    sink.close()


def test_secret_scheduled_for_deletion_is_explained(aws: MotoServer, sm_client: Any) -> None:
    """A secret pending deletion is refused with a hint to restore it."""
    sink = make_sink(aws)
    SyncWorld(sink, "app/gone", "uri").sync()
    sm_client.delete_secret(SecretId="app/gone", RecoveryWindowInDays=7)
    world = SyncWorld(sink, "app/gone", "uri")
    error = world.engine.sync_target(world.target).sinks[0].error
    assert error is not None and "scheduled for deletion" in str(error)
    sink.close()


@pytest.mark.parametrize("name", ["", "bad name", "x" * 513, "semi;colon"])
def test_invalid_names_are_rejected(name: str) -> None:
    """Names AWS would refuse are config errors."""
    with pytest.raises(ValueError, match="AWS secret names"):
        AwsSecretsManagerSink.validate_secret_name(name)
