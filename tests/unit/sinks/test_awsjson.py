"""The AWS sink's own DescribeSecret client (syncd.sinks.awsjson) against botocore and servers."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.session
import httpx
import pytest

from syncd.errors import RateLimited, SinkAuthError, SinkError, SinkUnavailable
from syncd.net.ratelimit import TokenBucket
from syncd.sinks import awsjson
from syncd.sinks.aws_secrets_manager import AwsSecretsManagerConfig, AwsSecretsManagerSink
from syncd.sinks.awsapi import classify
from syncd.testing.casedev import FakeCaseDev
from tests.conftest import run_syncd
from tests.support.aws import (
    LEAST_PRIVILEGE_POLICY,
    Scripted,
    json_answer,
    lean_from_config,
)
from tests.support.servers.moto import MotoServer
from tests.unit.sinks import test_aws_secrets_manager

NOW = datetime.datetime(2026, 11, 27, 18, 30, 5, tzinfo=datetime.UTC)


def lean_sink(aws: MotoServer, credentials: tuple[str, str] | None = None) -> AwsSecretsManagerSink:
    """A sink whose DescribeSecret goes through awsjson.JsonReader, as from_config builds it."""
    kwargs = aws.client_kwargs(credentials)
    client = boto3.client("secretsmanager", **kwargs)
    frozen = botocore.credentials.Credentials(
        kwargs["aws_access_key_id"], kwargs["aws_secret_access_key"]
    ).get_frozen_credentials()
    reads = TokenBucket(None)
    reader = awsjson.JsonReader(
        endpoint_url=kwargs["endpoint_url"],
        region=kwargs["region_name"],
        credentials=lambda: frozen,
        reads=reads,
        timeout=5,
        max_attempts=2,
        name="aws",
        classify=classify,
    )
    return AwsSecretsManagerSink("aws", client, reads=reads, reader=reader)


KEY_ID = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def _sent_by_reader(
    url: str, credentials: list[botocore.credentials.ReadOnlyCredentials]
) -> list[httpx.Request]:
    """The requests a JsonReader sends for one DescribeSecret per credential (answered 200)."""
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"Name": "app/db"})

    queue = list(credentials)
    reader = awsjson.JsonReader(
        endpoint_url=url,
        region="eu-west-1",
        credentials=lambda: queue.pop(0),
        reads=TokenBucket(None),
        timeout=5,
        max_attempts=1,
        name="aws",
        classify=classify,
        transport=httpx.MockTransport(answer),
    )
    for _ in credentials:
        reader.call("DescribeSecret", {"SecretId": "app/db"})
    return sent


@pytest.mark.parametrize(
    ("url", "token"),
    [
        ("https://secretsmanager.eu-west-1.amazonaws.com/", None),
        ("https://secretsmanager.eu-west-1.amazonaws.com/", "session/token+with=odd chars"),
        ("http://127.0.0.1:4566/", "t"),
    ],
)
def test_signature_is_botocores(
    monkeypatch: pytest.MonkeyPatch, url: str, token: str | None
) -> None:
    """The request sent carries botocore's SigV4 signature of exactly what is sent."""
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: NOW.replace(tzinfo=None))
    frozen = botocore.credentials.Credentials(KEY_ID, SECRET_KEY, token).get_frozen_credentials()
    (ours,) = _sent_by_reader(url, [frozen])
    signed = ours.headers["Authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert signed == sorted(
        {"content-type", "host", "x-amz-date", "x-amz-target"}
        | ({"x-amz-security-token"} if token else set())
    )
    headers = {name: ours.headers[name] for name in signed if name not in ("host", "x-amz-date")}
    theirs = botocore.awsrequest.AWSRequest(
        "POST", str(ours.url), headers=headers, data=ours.content
    )
    botocore.auth.SigV4Auth(frozen, "secretsmanager", "eu-west-1").add_auth(theirs)
    assert ours.headers["Authorization"] == theirs.headers["Authorization"]
    assert ours.headers["X-Amz-Date"] == theirs.headers["X-Amz-Date"] == "20261127T183005Z"
    assert ours.headers.get("X-Amz-Security-Token") == token
    assert ours.headers["Host"] == url.split("/")[2]


def test_refreshed_credentials_sign_the_next_request() -> None:
    """Each request is signed with the credentials of that moment (a refresh takes effect)."""
    keys = [("AK1", "key-one"), ("AK1", "key-two"), ("AK2", "key-two")]
    sent = _sent_by_reader(
        "https://x.example/",
        [botocore.credentials.Credentials(*key).get_frozen_credentials() for key in keys],
    )
    assert len({request.headers["Authorization"] for request in sent}) == 3
    assert "Credential=AK2/" in sent[2].headers["Authorization"]


class TestLeanReadContract(test_aws_secrets_manager.TestAwsContract):
    """The sink passes the sink contract with DescribeSecret through its own client."""

    @pytest.fixture
    def sink(self, aws: MotoServer) -> Iterator[AwsSecretsManagerSink]:
        sink = lean_sink(aws)
        yield sink
        sink.close()


def test_iam_checks_the_signature(aws: MotoServer) -> None:
    """moto with IAM enforced accepts the signed read, and refuses a wrong secret key."""
    keys = aws.create_user_with_policy(LEAST_PRIVILEGE_POLICY)
    with aws.iam_enforced():
        sink = lean_sink(aws, keys)
        assert not sink.inspect("app/none").exists
        sink.close()
        forged = lean_sink(aws, (keys[0], keys[1][:-1] + ("A" if keys[1][-1] != "A" else "B")))
        with pytest.raises(SinkAuthError, match=r"SignatureDoesNotMatch|InvalidSignature"):
            forged.inspect("app/none")
        forged.close()


def test_throttling_waits_retry_after_and_slows_reads(scripted: str) -> None:
    """A throttled read is retried after Retry-After, and the reads limiter halves its rate."""
    Scripted.script = [
        json_answer(
            400,
            {"__type": "ThrottlingException", "message": "Rate exceeded"},
            **{"Retry-After": "0"},
        ),
        json_answer(200, {"Name": "app/db", "Tags": [], "VersionIdsToStages": {}}),
    ]
    sink = lean_from_config(scripted, read_rate_limit=100, max_attempts=3)
    state = sink.inspect("app/db")
    sink.close()
    assert state.exists and not state.managed
    assert sink.reads.rate is not None and sink.reads.rate < 60
    assert len(Scripted.seen) == 2
    sent = Scripted.seen[0]
    assert sent["X-Amz-Target"] == "secretsmanager.DescribeSecret"
    assert sent["X-Amz-Security-Token"] == "session-token-value"
    assert (
        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
        in (sent["Authorization"])
    )


@pytest.mark.parametrize("describe_via", ["syncd", "botocore"])
def test_an_enormous_retry_after_fails_the_read_at_once(scripted: str, describe_via: str) -> None:
    """A throttle asking for years ends the read after one request, on either client, unslept."""
    throttled = json_answer(
        400,
        {"__type": "ThrottlingException", "message": "Rate exceeded"},
        **{"Retry-After": "99999999"},
    )
    Scripted.script = [throttled] * 5
    config = AwsSecretsManagerConfig(
        region="us-east-1", endpoint_url=scripted, describe_via=describe_via, max_attempts=5
    )
    sink = AwsSecretsManagerSink.from_config("aws", config)
    slept: list[float] = []
    if sink._reader is not None:
        sink._reader._sleep = slept.append
    with pytest.raises(RateLimited) as info:
        sink.inspect("app/db")
    with pytest.raises(RateLimited):  # and the next read is not even sent
        sink.inspect("app/other")
    sink.close()
    assert str(info.value) == "rate limited by aws sink aws; retry after 60 s"
    assert len(Scripted.seen) == 1 and slept == []


@pytest.mark.parametrize(
    ("answer", "error", "text"),
    [
        (
            json_answer(400, {"__type": "com.amazonaws#AccessDeniedException", "Message": "no"}),
            SinkAuthError,
            "denied (AccessDeniedException)",
        ),
        ((200, {}, b"<html>captive portal</html>"), SinkError, "InvalidAnswer"),
        ((200, {}, b"[1, 2]"), SinkError, "InvalidAnswer"),
        ((200, {}, b'{"Tags": ' + b"[" * 100_000), SinkError, "JSON nested deeper than 32"),
        ((400, {}, b'{"__type": ' + b"[" * 100_000), SinkError, "failed (400)"),
        ((200, {}, b" " * (awsjson.MAX_ANSWER_BYTES + 1)), SinkError, "larger than 1048576 bytes"),
        ((200, {"Content-Encoding": "br"}, b"{}"), SinkError, "Content-Encoding 'br'"),
        (
            (403, {}, b"<Error><Code>InvalidClientTokenId</Code><Message>bad</Message></Error>"),
            SinkAuthError,
            "InvalidClientTokenId",
        ),
    ],
)
def test_error_answers_are_translated(
    scripted: str, answer: tuple[int, dict[str, str], bytes], error: type[Exception], text: str
) -> None:
    """Error codes, XML pages and non-object answers end in the sink's one-line errors."""
    Scripted.script = [answer]
    sink = lean_from_config(scripted, max_attempts=1)
    with pytest.raises(error, match=text.replace("(", r"\(").replace(")", r"\)")):
        sink.inspect("app/db")
    sink.close()


def test_missing_secret_reads_as_missing(scripted: str) -> None:
    """ResourceNotFoundException is an absent secret, not an error."""
    Scripted.script = [json_answer(400, {"__type": "ResourceNotFoundException", "message": "not found"})]
    sink = lean_from_config(scripted)
    assert not sink.inspect("app/db").exists
    sink.close()


def test_server_errors_are_retried_then_unavailable(scripted: str) -> None:
    """5xx answers are retried up to max_attempts, then reported as transient."""
    Scripted.script = [json_answer(503, {"__type": "ServiceUnavailable", "message": "busy"})] * 2
    sink = lean_from_config(scripted, max_attempts=2)
    sink._reader._sleep = lambda _s: None  # type: ignore[union-attr]
    with pytest.raises(SinkUnavailable) as info:
        sink.inspect("app/db")
    sink.close()
    assert info.value.transient and len(Scripted.seen) == 2


def test_no_credentials_is_an_auth_error(monkeypatch: pytest.MonkeyPatch, scripted: str) -> None:
    """Credentials that vanish (a failed refresh) are SinkAuthError, not a crash."""
    sink = lean_from_config(scripted)
    sink._reader._credentials = lambda: None  # type: ignore[union-attr]
    with pytest.raises(SinkAuthError, match="no AWS credentials"):
        sink.inspect("app/db")
    sink.close()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, True),
        ({"HTTPS_PROXY": "http://proxy.internal:3128"}, False),
        ({"HTTPS_PROXY": "http://proxy.internal:3128", "NO_PROXY": "amazonaws.com"}, True),
        ({"AWS_USE_FIPS_ENDPOINT": "true"}, False),
        ({"AWS_USE_DUALSTACK_ENDPOINT": "true"}, False),
    ],
)
def test_lean_reads_only_where_botocore_would_do_the_same(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: bool
) -> None:
    """A proxy for the endpoint, FIPS or dual-stack endpoints keep reads on botocore."""
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    core = botocore.session.Session()
    client = boto3.session.Session(botocore_session=core, region_name="us-east-1").client(
        "secretsmanager", aws_access_key_id="a", aws_secret_access_key="b"
    )
    assert awsjson.equivalent(core, client) is expected


def test_only_throttling_slows_reads(scripted: str) -> None:
    """A quota error botocore retries (LimitExceededException) is retried, but is no throttle."""
    limit = json_answer(400, {"__type": "LimitExceededException", "message": "too many versions"})
    Scripted.script = [limit, limit]
    sink = lean_from_config(scripted, read_rate_limit=100, max_attempts=2)
    sink._reader._sleep = lambda _s: None  # type: ignore[union-attr]
    with pytest.raises(SinkError, match="LimitExceededException"):
        sink.inspect("app/db")
    sink.close()
    assert len(Scripted.seen) == 2
    assert sink.reads.rate == 100


@pytest.mark.parametrize(
    "answer",
    [
        json_answer(400, {"__type": "ValidationException\nInjected", "message": "one\ntwo\r\nthree"}),
        (
            400,
            {"Content-Type": "text/xml"},
            "<Error>\n  <Code>Odd\nCode</Code>\n  <Message>one\ntwo\u2028three</Message>\n"
            "</Error>".encode(),
        ),
        (400, {"Content-Type": "text/html"}, b"<html>\n<body>\n<h1>Bad\nRequest</h1>\n" * 50),
    ],
    ids=["json", "xml", "html"],
)
def test_error_text_with_line_breaks_stays_on_one_console_line(
    scripted: str, tmp_path: Path, answer: tuple[int, dict[str, str], bytes]
) -> None:
    """An endpoint's error text with line breaks is quoted flattened: one line per event and row."""
    from tests.support.cli import KEY, URI, aws_config

    fake = FakeCaseDev(KEY)
    fake.set_branch("proj_1", "main", direct=URI, pooled=URI)
    Scripted.script = [answer]
    with fake.serve() as api:
        config = aws_config(
            tmp_path, api, region="us-east-1", endpoint_url=scripted, max_attempts=1
        )
        result = run_syncd(
            "run",
            "--once",
            "--log-format",
            "console",
            "--config",
            str(config),
            env={"CASEDEV_API_KEY": KEY},
        )
    assert result.code == 1, result.output
    lines = result.stderr.splitlines()
    # "<timestamp> [error    ] sync_failed  [syncd.core.engine] error=..." - one line per event
    events = [line.split("] ", 1)[1].split()[0] for line in lines]
    assert events == ["sync_failed", "cycle_finished"], lines
    failed = lines[0]
    assert "aws sink aws: DescribeSecret on secret prod/app" in failed
    assert "\\n" not in failed and "\\r" not in failed and "\\u2028" not in failed
    assert len(failed) < 800
    (row,) = [line for line in result.stdout.splitlines() if "FAILED" in line]
    assert "DescribeSecret on secret prod/app" in row
