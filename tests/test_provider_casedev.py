"""Tests for the case.dev provider, against the case.dev-compatible fake via MockTransport."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from syncd import __version__
from syncd.errors import (
    ProviderAuthError,
    ProviderNotFound,
    ProviderResponseError,
    ProviderUnavailable,
)
from syncd.models import Target
from syncd.providers.casedev import CaseDevProvider
from syncd.retry import Backoff
from syncd.testing.casedev import FakeCaseDev, Fault

KEY = "cdk_live_0123456789abcdef"
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


def test_persistent_5xx_is_transient_failure(api: FakeCaseDev) -> None:
    """After the last attempt a 5xx is a transient ProviderUnavailable."""
    api.fail_next(Fault(status=502), times=5)
    with pytest.raises(ProviderUnavailable, match="502") as info:
        provider(api).fetch(target())
    assert info.value.transient


def test_timeouts_and_connection_errors_are_transient() -> None:
    """Network failures become ProviderUnavailable after retries."""
    calls = []

    def boom(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(ProviderUnavailable, match="timed out"):
        provider(httpx.MockTransport(boom)).fetch(target())
    assert len(calls) == 3


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"<html>gateway</html>", "text/html", "not JSON"),
        (b'{"connectionUri": "postgresql://u:p@h/d?ssl', "application/json", "not JSON"),
        (b'{"branch": "main"}', "application/json", "no connectionUri"),
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
