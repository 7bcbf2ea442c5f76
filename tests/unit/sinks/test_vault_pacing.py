"""Unit tests for syncd.sinks.vault_pacing: every Vault request paced by one bucket that 429s and 503s slow."""

from __future__ import annotations

import uuid

import hvac
import pytest
import requests
from requests.adapters import HTTPAdapter

from syncd.errors import (
    RateLimited,
    SinkUnavailable,
)
from syncd.net.ratelimit import TokenBucket
from syncd.sinks.vault import VaultSink
from syncd.sinks.vault_pacing import PacedAdapter, pace
from tests.support.servers.pausing import VAULT_BODY, PausingServer
from tests.support.servers.vault import VaultDevServer
from tests.support.vaultutil import (
    RecordingProxy,
    closing,
    create_request,
    paced_sink,
)


def test_a_429_with_an_enormous_retry_after_fails_at_once() -> None:
    """A quota asking for years ends the call after one request, and holds back the next call."""
    with (
        PausingServer(429, {"Retry-After": "99999999"}, VAULT_BODY) as server,
        closing(VaultSink("vault", hvac.Client(url=server.url, token="t0ken-x"))) as sink,
    ):
        with pytest.raises(RateLimited) as info:
            sink.inspect("syncd/app")
        with pytest.raises(RateLimited):
            sink.inspect("syncd/other")
    assert str(info.value) == "rate limited by vault sink vault; retry after 60 s"
    assert server.requests == 1


def test_a_503_with_an_enormous_retry_after_holds_back_the_next_call() -> None:
    """A 503 asking for years fails its own call as unavailable, and the next one unsent."""
    with (
        PausingServer(503, {"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}, b"{}") as server,
        closing(VaultSink("vault", hvac.Client(url=server.url, token="t0ken-x"))) as sink,
    ):
        with pytest.raises(SinkUnavailable, match="sealed or down"):
            sink.inspect("syncd/app")
        with pytest.raises(RateLimited, match="retry after 60 s"):
            sink.inspect("syncd/app")
    assert server.requests == 1


def test_vault_429_with_retry_after_slows_the_bucket_and_the_call_is_retried(
    vault: VaultDevServer, vault_proxy: RecordingProxy
) -> None:
    """A quota's 429 with Retry-After: 1 halves the rate, holds the next attempt 1 s, then succeeds."""
    sink = paced_sink(vault_proxy.url, vault.root_token, TokenBucket(40))
    secret = f"rl-{uuid.uuid4().hex[:8]}/throttled"
    assert not sink.inspect(secret).exists  # mount checked: the next request is the write's
    vault_proxy.throttle(1, retry_after="1")
    before = len(vault_proxy.arrivals)
    assert sink.write(create_request(secret))
    refused, retried = vault_proxy.arrivals[before : before + 2]
    assert refused[2] == retried[2] == f"/v1/secret/metadata/{secret}"
    assert retried[0] - refused[0] >= 1.0
    assert sink.bucket.rate is not None and sink.bucket.rate < 40
    assert sink.inspect(secret).managed
    sink.close()


class _ClosedAdapter(HTTPAdapter):
    """An adapter that records being closed."""

    closed = False

    def close(self) -> None:
        self.closed = True
        super().close()


def test_pace_mounts_one_paced_adapter_for_both_schemes_and_closes_the_old_ones() -> None:
    """pace puts one PacedAdapter on the bucket in front of http:// and https://, closing what it replaces."""
    bucket = TokenBucket(10)
    session = requests.Session()
    old = _ClosedAdapter()
    session.mount("https://", old)
    pace(session, bucket)
    https, http = session.get_adapter("https://vault.test/"), session.get_adapter("http://v.test/")
    assert isinstance(https, PacedAdapter) and https is http and https.bucket is bucket
    assert old.closed
    session.close()


def test_a_429_halves_the_rate_and_a_503_keeps_it() -> None:
    """Through a PacedAdapter a 429 slows the bucket; a 503 without Retry-After does not."""
    for status, slowed in ((503, False), (429, True)):
        bucket = TokenBucket(40)
        with PausingServer(status, {}, VAULT_BODY) as server, requests.Session() as session:
            pace(session, bucket)
            assert session.get(f"{server.url}/v1/sys/health").status_code == status
        assert (bucket.rate is not None and bucket.rate < 40) is slowed
