"""moto's AWS emulator as a separate process, optionally enforcing IAM policies.

Why a subprocess rather than ``mock_aws``: the syncd daemon under test may run
in its own process, and a real HTTP endpoint exercises botocore end to end
(signing, retries, error parsing) exactly as production does.

IAM enforcement: moto authorises a request only once its count of requests
exceeds ``INITIAL_NO_AUTH_ACTION_COUNT`` (default: infinity, i.e. never). With
``enforce_iam=True`` the server starts with that count at 0, so every request
must be signed with an access key of an IAM user whose policies allow the
action. Creating such a user needs IAM calls that would themselves be refused,
so :meth:`MotoServer.create_user_with_policy` lifts enforcement through moto's
own ``POST /moto-api/reset-auth`` endpoint (body: the new count; the reply
carries the previous one), makes its IAM calls, and restores the previous count.
:meth:`MotoServer.iam_enforced` turns enforcement on for a block on a server
started without it.

The server is moto's own, started through :mod:`tests.support.servers.moto_aws_rules`,
which makes one more rule as AWS applies it: a staging label on another
version moves only when that version is named (the rotation lease's
compare-and-set).

Where moto differs from AWS (moto 5.2): a refusal is HTTP 403 with an XML
body even for JSON APIs such as Secrets Manager, so botocore's error code is
``"403"`` rather than ``AccessDeniedException`` (the message still reads
``... is not authorized to perform: secretsmanager:<Action>``), and an unknown
key is a 403 as well. Policy ``Resource`` patterns are matched against ``"*"``
only, so a statement scoped to secret ARNs never allows anything: scope test
policies by action, with ``"Resource": "*"``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any, TypedDict

from ._http import http_request
from .base import LocalServer
from .ports import free_port
from .process import ServerProcess, wait_until

DEFAULT_REGION = "us-east-1"
BOOTSTRAP_CREDENTIALS = ("testing", "testing")
"""Keys used for calls that moto does not authorise (enforcement off or lifted)."""
_START_TIMEOUT = 30.0
_REPO = Path(__file__).resolve().parents[3]


class ClientKwargs(TypedDict):
    """Keyword arguments for ``boto3.client(service, **kwargs)``."""

    endpoint_url: str
    region_name: str
    aws_access_key_id: str
    aws_secret_access_key: str


class MotoServer(LocalServer):
    """``python -m moto.server`` on 127.0.0.1, reachable at :attr:`endpoint_url`."""

    def __init__(self, *, enforce_iam: bool = False, region: str = DEFAULT_REGION) -> None:
        super().__init__()
        self.enforce_iam = enforce_iam
        self.region = region

    @property
    def endpoint_url(self) -> str:
        """Base URL to pass as ``endpoint_url`` to boto3 clients."""
        return f"http://{self.host}:{self.port}"

    def _launch(self) -> None:
        """Start the server and wait until it answers HTTP."""
        root = self._make_dir("syncd-moto-")
        self.port = free_port()
        env = dict(os.environ)
        if self.enforce_iam:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
        else:
            env.pop("INITIAL_NO_AUTH_ACTION_COUNT", None)
        # moto, with the staging-label rule the rotation lease relies on made AWS's own.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(_REPO), env.get("PYTHONPATH"))))
        module = "tests.support.servers.moto_aws_rules"
        argv = [sys.executable, "-m", module, "-H", self.host, "-p", str(self.port)]
        self._process = ServerProcess(argv, log_path=root / "moto.log", cwd=root, env=env)
        wait_until(
            self._answers,
            timeout=_START_TIMEOUT,
            what=f"moto server on port {self.port}",
            process=self._process,
            interval=0.05,
        )

    def reset(self) -> None:
        """Forget every resource in every service, IAM users included (``POST /moto-api/reset``)."""
        self._post("/moto-api/reset", b"")

    def client_kwargs(self, credentials: tuple[str, str] | None = None) -> ClientKwargs:
        """Return keyword arguments for ``boto3.client(service, **kwargs)`` against this server.

        ``credentials`` is ``(access_key_id, secret_access_key)``; by default the
        bootstrap keys, which only work while IAM is not enforced.
        """
        key_id, secret = credentials or BOOTSTRAP_CREDENTIALS
        return ClientKwargs(
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
        )

    @contextlib.contextmanager
    def iam_enforced(self) -> Iterator[None]:
        """Enforce IAM policies inside the ``with`` block, then restore the previous mode.

        Lets a test on a shared non-enforcing server check a policy without a
        second server. Calls in the block must be signed by an IAM user's key.
        """
        previous = self._set_no_auth_count("0")
        try:
            yield
        finally:
            self._set_no_auth_count(previous)

    def create_user_with_policy(self, policy_document: dict[str, Any]) -> tuple[str, str]:
        """Create an IAM user with ``policy_document`` inline; return its access key pair.

        Works whether or not IAM is enforced: enforcement is lifted only for the
        duration of the IAM calls. The user is lost on :meth:`reset`.
        """
        import boto3  # lazily: only tests that need IAM users pay for the import

        previous = self._set_no_auth_count("inf")
        iam = boto3.client("iam", **self.client_kwargs())
        try:
            user = f"syncd-test-{secrets.token_hex(4)}"
            iam.create_user(UserName=user)
            iam.put_user_policy(
                UserName=user, PolicyName="test-policy", PolicyDocument=json.dumps(policy_document)
            )
            key = iam.create_access_key(UserName=user)["AccessKey"]
        finally:
            iam.close()
            self._set_no_auth_count(previous)
        return key["AccessKeyId"], key["SecretAccessKey"]

    def _set_no_auth_count(self, count: str) -> str:
        """Set moto's unauthenticated-request allowance; return the previous one."""
        reply = json.loads(self._post("/moto-api/reset-auth", count.encode()))
        return str(reply["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"])

    def _post(self, path: str, body: bytes) -> bytes:
        status, data = http_request(self.host, self.port, "POST", path, body=body)
        if status != HTTPStatus.OK:
            raise RuntimeError(f"moto {path} answered {status}: {data[:200]!r}")
        return data

    def _answers(self) -> bool:
        try:
            status, _ = http_request(self.host, self.port, "GET", "/moto-api/data.json", timeout=2)
        except OSError:
            return False
        return status == HTTPStatus.OK
