"""Unit tests for syncd.sinks.awsapi: vendor errors translated into actionable, correctly transient ones."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

import pytest

from syncd.errors import SinkAuthError, SinkUnavailable, SinkUnreachable
from syncd.sinks.aws_secrets_manager import AwsSecretsManagerConfig, AwsSecretsManagerSink
from syncd.sinks.awsapi import classify
from syncd.testing.contract import SyncWorld
from tests.support.aws import (
    LEAST_PRIVILEGE_POLICY,
    make_sink,
)
from tests.support.servers.loopback import LoopbackServer
from tests.support.servers.moto import MotoServer


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
    with LoopbackServer(_Throttling) as server:
        config = AwsSecretsManagerConfig(
            region="us-east-1", endpoint_url=server.url, max_attempts=2
        )
        sink = AwsSecretsManagerSink.from_config("aws", config)
        with pytest.raises(SinkUnavailable, match="ThrottlingException") as info:
            sink.inspect("app/db")
        sink.close()
    assert info.value.transient
    assert _Throttling.calls == 2


def test_unreachable_endpoint_is_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    """A closed port is SinkUnreachable (which a circuit breaker counts), not a crash."""
    from tests.support.servers.ports import free_port

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    config = AwsSecretsManagerConfig(
        region="us-east-1",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        max_attempts=1,
        timeout=2,
    )
    sink = AwsSecretsManagerSink.from_config("aws", config)
    with pytest.raises(SinkUnreachable, match="cannot reach"):
        sink.inspect("app/db")
    sink.close()


@pytest.mark.parametrize(
    ("status", "code", "outcome"),
    [
        (400, "ThrottlingException", "throttled"),
        (429, "TooManyRequestsException", "throttled"),
        (400, "ResourceNotFoundException", "not_found"),
        (400, "AccessDeniedException", "denied"),
        (200, "", "ok"),
        (503, "", "unavailable"),
    ],
)
def test_answers_are_classified_for_the_observer(status: int, code: str, outcome: str) -> None:
    """classify names a throttle, a missing secret and a denial by code, anything else by status."""
    assert classify(status, code) == outcome
