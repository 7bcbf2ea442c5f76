"""Tests for the case.dev provider, against the case.dev-compatible fake (MockTransport or HTTP)."""

from __future__ import annotations

import gzip
import json
import socket
import ssl
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from syncd import __version__
from syncd.core.breaker import FAILURES, Breaker
from syncd.core.models import ConnectionInfo, Target
from syncd.errors import (
    ProviderAuthError,
    ProviderNotFound,
    ProviderResponseError,
    ProviderUnavailable,
    ProviderUnreachable,
    RateLimited,
)
from syncd.net.retry import Backoff
from syncd.providers.casedev import CaseDevProvider
from syncd.testing.casedev import FakeCaseDev, Fault, RunningServer
from tests.conftest import run_syncd
from tests.support.casedevapi import KEY
from tests.support.configs import ConfigBuilder, binding
from tests.support.servers.loopback import LoopbackServer
from tests.support.servers.tls import write_self_signed

DIRECT = "postgresql://owner:directpw123@ep-a.neon.tech/neondb?sslmode=require"
POOLED = "postgresql://owner:directpw123@ep-a-pooler.neon.tech/neondb?sslmode=require"


@pytest.fixture
def api() -> FakeCaseDev:
    fake = FakeCaseDev(KEY)
    fake.set_branch("proj_abc123", "main", direct=DIRECT, pooled=POOLED)
    fake.set_branch("proj_abc123", "feature/auth", direct=DIRECT, pooled=POOLED)
    return fake


def provider(
    api: FakeCaseDev | httpx.MockTransport, key: str = KEY, sleeps: list[float] | None = None
) -> CaseDevProvider:
    transport = api if isinstance(api, httpx.MockTransport) else httpx.MockTransport(api.handle)
    return CaseDevProvider(
        "casedev",
        api_key=SecretStr(key),
        base_url="https://api.case.dev",
        transport=transport,
        backoff=Backoff(attempts=3, base=0.01),
        sleep=(sleeps.append if sleeps is not None else lambda _s: None),
    )


def target(**kw: object) -> Target:
    return Target(name="t", provider="casedev", **{"project": "proj_abc123", **kw})  # type: ignore[arg-type]


def test_fetches_main_direct_by_default(api: FakeCaseDev) -> None:
    """The default target asks for main, direct, with the SDK's query and a bearer key."""
    conn = provider(api).fetch(target())
    assert conn.uri.get_secret_value() == DIRECT
    (seen,) = api.requests
    assert seen.path == "/database/v1/projects/proj_abc123/connection"
    assert seen.params == {"branch": "main", "pooled": "false"}
    assert seen.authorized
    assert seen.user_agent.startswith(f"syncd/{__version__}")


def test_pooled_and_branch_are_passed(api: FakeCaseDev) -> None:
    """pooled=true and a branch name with a slash reach the API as query parameters."""
    conn = provider(api).fetch(target(branch="feature/auth", pooled=True))
    assert conn.uri.get_secret_value() == POOLED and conn.pooled
    assert api.requests[-1].params == {"branch": "feature/auth", "pooled": "true"}


def test_bad_api_key_is_a_clear_permanent_error(api: FakeCaseDev) -> None:
    """A 401 says the API key is invalid, is not retried, and does not show the key."""
    with pytest.raises(ProviderAuthError, match="invalid API key") as info:
        provider(api, key="cdk_wrong_key_987654").fetch(target())
    assert len(api.requests) == 1
    assert "cdk_wrong" not in str(info.value)


def test_unknown_project_and_branch_are_named(api: FakeCaseDev) -> None:
    """404s distinguish a missing project from a missing branch."""
    with pytest.raises(ProviderNotFound, match="project proj_nope not found"):
        provider(api).fetch(target(project="proj_nope"))
    with pytest.raises(ProviderNotFound, match="branch feature-y not found"):
        provider(api).fetch(target(branch="feature-y"))


def test_server_errors_are_retried_then_succeed(api: FakeCaseDev) -> None:
    """Two 503s are retried with backoff and the third attempt succeeds."""
    api.fail_next(Fault(status=503), times=2)
    sleeps: list[float] = []
    assert provider(api, sleeps=sleeps).fetch(target()).host == "ep-a.neon.tech"
    assert len(sleeps) == 2 and len(api.requests) == 3


def test_retry_after_is_honoured(api: FakeCaseDev) -> None:
    """A 429 with Retry-After waits that long before retrying."""
    api.fail_next(Fault(status=429, headers={"Retry-After": "2"}))
    sleeps: list[float] = []
    provider(api, sleeps=sleeps).fetch(target())
    assert sleeps == [2.0]


@pytest.mark.parametrize(
    "headers",
    [
        {"Retry-After": "99999999"},
        {"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"},
        {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "99999h"},
    ],
)
def test_an_enormous_pause_fails_at_once_without_sleeping(
    api: FakeCaseDev, headers: dict[str, str]
) -> None:
    """A 429 asking for years (Retry-After or case.dev's reset) is one request and no sleep."""
    api.fail_next(Fault(status=429, headers=headers), times=5)
    sleeps: list[float] = []
    with pytest.raises(RateLimited) as info:
        provider(api, sleeps=sleeps).fetch(target())
    assert str(info.value) == "rate limited by case.dev provider casedev; retry after 60 s"
    assert info.value.transient
    assert sleeps == [] and len(api.requests) == 1


def test_later_fetches_are_refused_while_the_pause_lasts(api: FakeCaseDev) -> None:
    """An empty budget with a far reset on a success holds every later fetch, without a request."""
    spent = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "99999h"}
    api.fail_next(Fault(status=200, body=json.dumps(_answer()).encode(), headers=spent))
    cd = provider(api)
    assert cd.fetch(target()).host == "ep-a.neon.tech"
    with pytest.raises(RateLimited, match="retry after 60 s"):
        cd.fetch(target())
    assert len(api.requests) == 1


@pytest.mark.parametrize("value", ["inf", "nan", "1e20", "-1", "soon"])
def test_a_retry_after_that_is_no_number_is_ignored(api: FakeCaseDev, value: str) -> None:
    """A hostile Retry-After neither crashes nor stalls: the usual backoff applies, then success."""
    api.fail_next(Fault(status=429, headers={"Retry-After": value}))
    sleeps: list[float] = []
    assert provider(api, sleeps=sleeps).fetch(target()).host == "ep-a.neon.tech"
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 0.01


def _answer() -> dict[str, object]:
    return {"connectionUri": DIRECT, "branch": "main", "pooled": False}


def test_persistent_5xx_is_transient_failure(api: FakeCaseDev) -> None:
    """After the last attempt a 5xx is a transient ProviderUnavailable."""
    api.fail_next(Fault(status=502), times=5)
    with pytest.raises(ProviderUnavailable, match="502") as info:
        provider(api).fetch(target())
    assert info.value.transient
    assert not isinstance(info.value, ProviderUnreachable)  # an answer: no breaker counts it


def test_timeouts_and_connection_errors_are_transient() -> None:
    """Network failures become ProviderUnreachable (a ProviderUnavailable) after retries."""
    calls = []

    def boom(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(ProviderUnreachable, match="timed out"):
        provider(httpx.MockTransport(boom)).fetch(target())
    assert len(calls) == 3


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"<html>gateway</html>", "text/html", "not JSON"),
        (b'{"connectionUri": "postgresql://u:p@h/d?ssl', "application/json", "not JSON"),
        (b'{"branch": "main"}', "application/json", "no connectionUri"),
        (b'{"connectionUri": ' + b"[" * 60_000, "application/json", "deeper than 32 levels"),
        (
            b'{"connectionUri": "postgresql://u@h/d?sslmode=require"}',
            "application/json",
            "no password",
        ),
        (
            b'{"connectionUri": "postgresql://u:leakme99@h/d"}',
            "application/json",
            "does not require TLS",
        ),
        (
            b'{"connectionUri": "postgresql://u:leakme99@h/d?sslmode=require", "branch": "dev"}',
            "application/json",
            "not what was asked",
        ),
    ],
)
def test_malformed_answers_are_refused(
    api: FakeCaseDev, body: bytes, content_type: str, message: str
) -> None:
    """Answers that are not a complete TLS connection fail without echoing the URI."""
    api.fail_next(Fault(status=200, body=body, headers={"Content-Type": content_type}))
    with pytest.raises(ProviderResponseError, match=message) as info:
        provider(api).fetch(target())
    assert "leakme99" not in str(info.value)


def fetch_served(server: RunningServer, timeout: float = 10.0) -> ConnectionInfo:
    """Fetch over real HTTP from the fake on loopback, with a single attempt."""
    p = CaseDevProvider(
        "casedev",
        api_key=SecretStr(KEY),
        base_url=server.base_url,
        timeout=timeout,
        backoff=Backoff(attempts=1),
    )
    try:
        return p.fetch(target())
    finally:
        p.close()


def answer(uri: str, **extra: object) -> bytes:
    return json.dumps({"connectionUri": uri, "branch": "main", "pooled": False, **extra}).encode()


@pytest.mark.parametrize(
    "uri",
    [
        "postgresql://owner:pw123456@ep-a.neon.tech/neondb?sslmode=require&x=\nINJECTED=1",
        "postgresql://owner:pw123456@ep-a.neon.tech/neon\ndb?sslmode=require",
        "postgresql://owner:pw123456@ep-a.neon.tech/neondb?sslmode=require\r\nLD_PRELOAD=/x",
    ],
)
def test_uri_with_a_line_break_fails_the_fetch(api: FakeCaseDev, uri: str) -> None:
    """A connectionUri carrying a line break is refused, so no second variable is written."""
    api.fail_next(Fault(status=200, body=answer(uri)))
    with pytest.raises(ProviderResponseError, match="control character") as info:
        provider(api).fetch(target())
    assert "pw123456" not in str(info.value) and "\n" not in str(info.value)


def test_a_trickling_answer_is_cut_off_at_the_total_deadline(api: FakeCaseDev) -> None:
    """A body sent one byte at a time fails when the provider's timeout has passed in total."""
    api.fail_next(Fault(status=200, body=answer(DIRECT), trickle=0.5))
    with api.serve() as server:
        started = time.monotonic()
        with pytest.raises(ProviderUnavailable, match="within 2s"):
            fetch_served(server, timeout=2.0)
        elapsed = time.monotonic() - started
    assert 1.9 < elapsed < 2.0 + 1.5


def test_a_stuck_provider_does_not_hold_a_worker_past_its_deadline(api: FakeCaseDev) -> None:
    """Two trickling fetches in parallel each end at the deadline, not after the whole body."""
    api.fail_next(Fault(status=200, body=answer(DIRECT), trickle=0.4), times=2)
    with api.serve() as server, ThreadPoolExecutor(2) as pool:
        started = time.monotonic()
        results = list(pool.map(lambda _i: _fails(server), range(2)))
        elapsed = time.monotonic() - started
    assert results == [True, True] and elapsed < 1.5 + 1.5


def _fails(server: RunningServer) -> bool:
    try:
        fetch_served(server, timeout=1.5)
    except ProviderUnavailable:
        return True
    return False


def test_an_oversized_body_is_refused_naming_the_limit(api: FakeCaseDev) -> None:
    """A body past 64 KiB is refused while streaming, with the limit in the message."""
    api.fail_next(Fault(status=200, body=answer(DIRECT, padding="x" * 70_000)))
    with api.serve() as server, pytest.raises(ProviderResponseError, match="65536 bytes"):
        fetch_served(server)


def test_a_gzip_bomb_is_refused_before_it_expands(api: FakeCaseDev) -> None:
    """A small gzip body that inflates past 64 KiB is refused at the limit."""
    bomb = gzip.compress(answer(DIRECT, padding="0" * 20_000_000))
    assert len(bomb) < 64 * 1024
    api.fail_next(
        Fault(
            status=200,
            body=bomb,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
    )
    with api.serve() as server, pytest.raises(ProviderResponseError, match="once decompressed"):
        fetch_served(server)


def test_a_gzip_answer_within_limits_is_read(api: FakeCaseDev) -> None:
    """An ordinary gzip-encoded answer is decompressed and accepted."""
    api.fail_next(
        Fault(
            status=200,
            body=gzip.compress(answer(DIRECT)),
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
    )
    with api.serve() as server:
        assert fetch_served(server).host == "ep-a.neon.tech"


def test_an_encoding_that_was_not_asked_for_is_refused(api: FakeCaseDev) -> None:
    """Only gzip is advertised; a br-encoded answer is refused, not guessed at."""
    api.fail_next(Fault(status=200, body=b"\x00", headers={"Content-Encoding": "br"}))
    with api.serve() as server, pytest.raises(ProviderResponseError, match="Content-Encoding"):
        fetch_served(server)


def test_a_404_names_the_url_that_was_requested(api: FakeCaseDev) -> None:
    """A wrong base_url path is visible in the 404 message, not mistaken for a bad project."""
    transport = httpx.MockTransport(api.handle)
    wrong = CaseDevProvider(
        "casedev", api_key=SecretStr(KEY), base_url="https://api.case.dev/v2", transport=transport
    )
    with pytest.raises(ProviderNotFound) as info:
        wrong.fetch(target())
    assert "GET https://api.case.dev/v2/database/v1/projects/proj_abc123/connection" in str(
        info.value
    )
    assert KEY not in str(info.value)


def test_a_deeply_nested_error_answer_is_an_error_not_a_crash(api: FakeCaseDev) -> None:
    """A 400 whose JSON nests 60,000 deep is reported with its status, not a RecursionError."""
    api.fail_next(Fault(status=400, body=b'{"message": ' + b"[" * 60_000))
    with pytest.raises(ProviderResponseError, match="answered 400 for project proj_abc123"):
        provider(api).fetch(target())


def test_provider_text_in_errors_is_one_line_and_capped(api: FakeCaseDev) -> None:
    """An error message or branch from the provider cannot add lines or run on."""
    forged = "nope\nother  local  other.env  create (written)\r\n" + "x" * 5000
    api.fail_next(Fault(status=400, body=json.dumps({"message": forged}).encode()))
    with pytest.raises(ProviderResponseError) as info:
        provider(api).fetch(target())
    assert "\n" not in str(info.value) and "\r" not in str(info.value)
    assert len(str(info.value)) < 400
    api.fail_next(Fault(status=200, body=answer(DIRECT, branch="main\nFAKE ROW" + "y" * 500)))
    with pytest.raises(ProviderResponseError, match="not what was asked") as info:
        provider(api).fetch(target())
    assert "\n" not in str(info.value) and len(str(info.value)) < 300


def cli_config(tmp_path: Path, server: RunningServer | str) -> Path:
    """A one-target config against ``server`` (or a base URL)."""
    base_url = server if isinstance(server, str) else server.base_url
    return (
        ConfigBuilder(tmp_path, log_level=None)
        .casedev(base_url, max_attempts=1, timeout=2)
        .file_sink()
        .target("app", [binding("local", "app.env", format="env")], project="proj_abc123")
        .write()
    )


def test_cli_hostile_uri_fails_the_target_and_writes_nothing(
    api: FakeCaseDev, tmp_path: Path
) -> None:
    """run --once against a URI with an injected line exits 1 and creates no env file."""
    hostile = "postgresql://owner:pw98765432@ep-a.neon.tech/neondb?sslmode=require&x=\nLD_PRELOAD=/x"
    api.set_branch("proj_abc123", "main", direct=hostile, pooled=hostile)
    with api.serve() as server:
        result = run_syncd(
            "run", "--once", "--config", str(cli_config(tmp_path, server)),
            env={"CASEDEV_API_KEY": KEY},
        )
    assert result.code == 1, result.stderr
    assert "control character" in result.stdout
    assert not (tmp_path / "out" / "app.env").exists()
    assert "pw98765432" not in result.stdout + result.stderr
    assert "LD_PRELOAD" not in result.stdout + result.stderr


def test_cli_deeply_nested_answer_fails_the_target_in_one_line(
    api: FakeCaseDev, tmp_path: Path
) -> None:
    """run --once against an answer nested 60,000 deep: exit 1, one FAILED row, no traceback."""
    api.fail_next(Fault(status=200, body=b'{"connectionUri": ' + b"[" * 60_000))
    with api.serve() as server:
        result = run_syncd(
            "run", "--once", "--config", str(cli_config(tmp_path, server)),
            env={"CASEDEV_API_KEY": KEY},
        )
    assert result.code == 1, result.output
    (row,) = [line for line in result.stdout.splitlines() if "FAILED" in line]
    assert "case.dev answer for project proj_abc123 branch main is JSON nested deeper" in row
    assert "Traceback" not in result.stderr and "crashed" not in result.stderr
    assert not (tmp_path / "out" / "app.env").exists()


def test_cli_table_cannot_be_forged_by_a_provider_message(
    api: FakeCaseDev, tmp_path: Path
) -> None:
    """A provider error message with line breaks stays inside its own table row."""
    forged = "bad request\napp   local  app.env  create (written)\n" + "z" * 3000
    api.fail_next(Fault(status=400, body=json.dumps({"message": forged}).encode()))
    with api.serve() as server:
        result = run_syncd(
            "run", "--once", "--config", str(cli_config(tmp_path, server)),
            env={"CASEDEV_API_KEY": KEY},
        )
    assert result.code == 1, result.stderr
    table = result.stdout.split("\n\n")[0].splitlines()
    assert len(table) == 2 and "create (written)" in table[1] and "FAILED" in table[1]
    assert len(table[1]) < 500


# -- an unreachable case.dev names the cause -----------------------------------------------------


class _Silent(BaseHTTPRequestHandler):
    """Answers every request with 200 and an empty JSON object (only plain HTTP matters here)."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def _endpoint(failure: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A base URL that fails the way ``failure`` says, and the cause syncd should name."""
    if failure == "refused":
        with socket.create_server(("127.0.0.1", 0)) as sock:
            port = sock.getsockname()[1]
        yield f"https://127.0.0.1:{port}", "(connection refused)"
    elif failure == "dns":
        yield "https://casedev.syncd-test.invalid", "(DNS lookup of casedev.syncd-test.invalid failed)"
    elif failure == "tls-to-plain-http":
        with LoopbackServer(_Silent) as server:
            yield f"https://127.0.0.1:{server.port}", "(TLS handshake failed: "
    elif failure == "self-signed":
        files = write_self_signed(tmp_path)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(files.cert, files.key)
        with LoopbackServer(_Silent, tls=context) as server:
            yield server.url, "(TLS certificate verification failed: self-signed certificate)"
    else:  # a server that accepts the connection and never says a word
        listener = socket.create_server(("127.0.0.1", 0))
        try:
            yield f"http://127.0.0.1:{listener.getsockname()[1]}", "timed out fetching project"
        finally:
            listener.close()


UNREACHABLE = ["refused", "dns", "tls-to-plain-http", "self-signed", "silent"]


@pytest.mark.parametrize("failure", UNREACHABLE)
def test_an_unreachable_api_is_named_with_its_cause(tmp_path: Path, failure: str) -> None:
    """Refused, DNS, TLS and silent servers each end in a transient error that says which."""
    with _endpoint(failure, tmp_path) as (base_url, cause):
        p = CaseDevProvider(
            "casedev", api_key=SecretStr(KEY), base_url=base_url, timeout=1,
            backoff=Backoff(attempts=1),
        )
        started = time.monotonic()
        with pytest.raises(ProviderUnavailable) as info:
            p.fetch(target())
        p.close()
    message = str(info.value)
    assert cause in message and info.value.transient
    if failure != "silent":
        assert message.startswith(f"cannot reach case.dev at {base_url} (")
    assert "Error" not in message and time.monotonic() - started < 10


@pytest.mark.parametrize("failure", ["refused", "self-signed"])
def test_cli_names_the_cause_of_an_unreachable_api(tmp_path: Path, failure: str) -> None:
    """run --once against an unreachable case.dev: exit 1, the row and the log name the cause."""
    with _endpoint(failure, tmp_path) as (base_url, cause):
        path = cli_config(tmp_path, base_url)
        result = run_syncd("run", "--once", "--config", str(path), env={"CASEDEV_API_KEY": KEY})
    assert result.code == 1, result.output
    (row,) = [line for line in result.stdout.splitlines() if "FAILED" in line]
    assert f"cannot reach case.dev at {base_url} {cause}" in row
    assert cause in result.stderr and "Traceback" not in result.stderr


def test_a_hung_api_opens_the_breaker_within_one_fetch_and_its_retries_stop() -> None:
    """Each timed-out attempt counts: the fetch that opens the breaker makes no more attempts."""
    calls = []

    def hang(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ReadTimeout("slow", request=request)

    hung = CaseDevProvider(
        "casedev",
        api_key=SecretStr(KEY),
        base_url="https://api.case.dev",
        transport=httpx.MockTransport(hang),
        backoff=Backoff(attempts=5, base=0.01),
        sleep=lambda _s: None,
    )
    breaker = Breaker("provider", "casedev")
    with pytest.raises(ProviderUnreachable, match="timed out"):
        breaker.call(hung.fetch, target())
    assert len(calls) == FAILURES
    assert breaker.rejecting()
