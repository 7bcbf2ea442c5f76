"""Helpers for the AWS sink tests: the README's IAM policy, sinks over moto, a scripted endpoint."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

import boto3

from syncd.sinks import awsjson
from syncd.sinks.aws_secrets_manager import AwsSecretsManagerConfig, AwsSecretsManagerSink
from tests.support.servers.moto import MotoServer

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
    """A sink over a boto3 client of moto's server (with ``credentials``, an IAM user's keys)."""
    client = boto3.client("secretsmanager", **aws.client_kwargs(credentials))
    return AwsSecretsManagerSink("aws", client, **kw)


class Scripted(BaseHTTPRequestHandler):
    """Answers each POST with the next (status, headers, body) of ``script``."""

    script: ClassVar[list[tuple[int, dict[str, str], bytes]]] = []
    seen: ClassVar[list[dict[str, str]]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append(dict(self.headers))
        status, headers, body = type(self).script.pop(0)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def json_answer(
    status: int, body: dict[str, Any], **headers: str
) -> tuple[int, dict[str, str], bytes]:
    """A Secrets Manager JSON answer for :class:`Scripted`."""
    return status, {"Content-Type": awsjson.CONTENT_TYPE, **headers}, json.dumps(body).encode()


def lean_from_config(url: str, **overrides: Any) -> AwsSecretsManagerSink:
    """A sink built by from_config for ``url`` whose DescribeSecret goes through syncd's reader."""
    config = AwsSecretsManagerConfig(region="us-east-1", endpoint_url=url, **overrides)
    sink = AwsSecretsManagerSink.from_config("aws", config)
    assert sink._reader is not None
    return sink
