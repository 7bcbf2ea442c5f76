"""Client-side rate limits: the limiter's rules on a fake clock, and rates measured at the server.

The server-side tests use the benchmark's stand-ins (benchmarks/standins.py),
which record when each call arrived, can answer writes with
``ThrottlingException`` and can announce a case.dev request budget in
``x-ratelimit-*`` headers.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from benchmarks.standins import API_KEY, Running, serve
from syncd.core import timebox
from syncd.core.fingerprint import Fingerprint
from syncd.core.models import Action, Document, SecretState
from syncd.errors import Interrupted, RateLimited, TargetTimedOut
from syncd.net.ratelimit import RECOVERY_PER_S, TokenBucket
from syncd.net.retry import MAX_SERVER_PAUSE
from syncd.sinks.aws_secrets_manager import AwsSecretsManagerConfig, AwsSecretsManagerSink
from syncd.sinks.base import WriteRequest
from syncd.sinks.vault import VaultSinkConfig
from tests.conftest import run_syncd
from tests.support.clock import Clock
from tests.support.configs import ConfigBuilder, binding
from tests.support.servers.vault import VaultDevServer
from tests.support.vaultutil import RecordingProxy

ENV = {
    "CASEDEV_API_KEY": API_KEY,
    "AWS_ACCESS_KEY_ID": "ratelimit",
    "AWS_SECRET_ACCESS_KEY": "ratelimit-secret-key",
}


def _bucket(rate: float | None, burst: float | None = None) -> tuple[TokenBucket, Clock]:
    clock = Clock(100.0)
    return TokenBucket(rate, burst, clock=clock, sleep=clock.sleep), clock


def _max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_bucket_never_starts_more_than_its_rate_in_any_second() -> None:
    """A bucket of 10/s with a burst of 10 starts at most 10 in any one-second window."""
    bucket, clock = _bucket(10, 10)
    starts = []
    for _ in range(100):
        bucket.acquire()
        starts.append(clock.now)
    assert _max_in_window(starts) <= 10
    assert clock.now - starts[0] >= 9  # and it did not stall: ~10/s on average


def test_throttling_halves_the_rate_and_it_recovers_slowly() -> None:
    """A throttling answer halves the rate; it is back to the configured rate only after 10 s."""
    bucket, clock = _bucket(40)
    bucket.throttled()
    assert bucket.rate == 20
    clock.now += 5
    assert bucket.rate == pytest.approx(20 + 40 * RECOVERY_PER_S * 5)
    clock.now += 6
    assert bucket.rate == 40


def test_retry_after_and_spent_budget_pause_the_bucket() -> None:
    """Retry-After and an announced empty budget hold every start until they pass."""
    bucket, clock = _bucket(1000)
    start = clock.now
    bucket.throttled(retry_after=3)
    bucket.acquire()
    assert clock.now >= start + 3
    bucket.pause(2)
    resumed = clock.now
    bucket.acquire()
    assert clock.now >= resumed + 2


def test_unlimited_bucket_starts_limiting_when_throttled() -> None:
    """Without a configured rate nothing waits, until a throttle sets half the measured rate."""
    bucket, _clock = _bucket(None)
    for _ in range(50):
        assert bucket.acquire() == 0
    bucket.throttled()
    assert bucket.rate == 25
    waited = sum(bucket.acquire() for _ in range(10))
    assert waited > 0


def test_huge_pauses_never_overflow_the_limiter() -> None:
    """inf, nan and 1e20 from a server neither raise OverflowError nor stall a later start."""
    bucket = TokenBucket(None, name="case.dev provider p")  # the real clock and sleep
    bucket.pause(math.inf)
    bucket.pause(math.nan)
    bucket.pause(-5.0)
    assert bucket.acquire() == 0  # none of those is a pause
    bucket.pause(1e20)
    for _ in range(3):  # every later start is refused at once, not slept through
        with pytest.raises(RateLimited) as info:
            bucket.acquire()
        assert 0 < info.value.retry_after <= MAX_SERVER_PAUSE
    assert str(info.value) == "rate limited by case.dev provider p; retry after 60 s"


def test_a_pause_at_the_cap_is_refused_until_it_ends() -> None:
    """Retry-After beyond the cap: starts fail without waiting for 60 s, then flow again."""
    bucket, clock = _bucket(100)
    bucket.throttled(retry_after=1e20)
    before = clock.now
    with pytest.raises(RateLimited, match="retry after 60 s") as info:
        bucket.acquire()
    assert info.value.transient and clock.now == before
    clock.now += 30
    with pytest.raises(RateLimited, match="retry after 30 s"):
        bucket.acquire()
    clock.now += 30
    assert bucket.acquire() == 0


def test_a_pause_below_the_cap_is_waited_out() -> None:
    """A 30 s Retry-After within the target's deadline is slept through, then the start is made."""
    bucket, clock = _bucket(100)
    bucket.throttled(retry_after=30)
    with timebox.scope(120, clock=clock):
        assert bucket.acquire() == pytest.approx(30)


def test_a_wait_past_the_target_deadline_is_refused_without_sleeping() -> None:
    """With 10 s left, a 30 s pause fails at once, naming the limiter and the pause."""
    bucket, clock = _bucket(100)
    bucket.pause(30)
    before = clock.now
    with timebox.scope(10, clock=clock), pytest.raises(RateLimited) as info:
        bucket.acquire()
    assert clock.now == before
    assert str(info.value) == "rate limited by the server; retry after 30 s"


def test_no_start_once_the_target_deadline_passed() -> None:
    """Past the target's deadline the limiter starts nothing, even with tokens to spare."""
    bucket, clock = _bucket(100)
    with timebox.scope(10, name="target app", clock=clock):
        bucket.acquire()
        clock.now += 10
        with pytest.raises(TargetTimedOut, match="target app ran out of its 10 s deadline"):
            bucket.acquire()


def test_check_refuses_before_a_backoff_what_acquire_would_refuse() -> None:
    """check() raises for a pause at the cap or past the deadline, and passes a short one."""
    bucket, clock = _bucket(100)
    bucket.pause(5)
    with timebox.scope(120, clock=clock):
        bucket.check()
    with timebox.scope(3, clock=clock), pytest.raises(RateLimited):
        bucket.check()
    bucket.pause(99999999)
    with pytest.raises(RateLimited, match="retry after 60 s"):
        bucket.check()


def test_stopping_ends_a_limiter_wait() -> None:
    """A worker waiting out a pause fails with Interrupted as soon as the stop event is set."""
    bucket = TokenBucket(100, name="vault sink v")
    bucket.pause(MAX_SERVER_PAUSE - 1)  # a pause the limiter does wait out
    stop = threading.Event()
    raised: list[BaseException] = []

    def worker() -> None:
        with timebox.scope(None, stop=stop):
            try:
                bucket.acquire()
            except Interrupted as exc:
                raised.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    time.sleep(0.2)  # let it start waiting
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(raised) == 1 and raised[0].transient
    with timebox.scope(None, stop=stop), pytest.raises(Interrupted):
        bucket.check()  # and a retry is not even begun


@pytest.fixture
def standins() -> Iterator[Running]:
    with serve(latency=0.0) as running:
        yield running


def _config(tmp_path: Path, url: str, n: int, **settings: Any) -> Path:
    builder = (
        ConfigBuilder(tmp_path)
        .casedev(url, **settings.pop("casedev", {}))
        .aws_sink(endpoint_url=url, **settings.pop("aws", {}))
    )
    for i in range(n):
        builder.target(f"t{i}", [binding("aws", f"rl/t{i}")], project=f"proj-{i}")
    return builder.set(**settings).write()


@pytest.mark.e2e
def test_burst_of_writes_stays_within_the_configured_rate_at_the_server(
    tmp_path: Path, standins: Running
) -> None:
    """30 creates at concurrency 16 with rate_limit 10 arrive at most 10 in any one second."""
    path = _config(tmp_path, standins.url, 30, concurrency=16, aws={"rate_limit": 10})
    result = run_syncd("run", "--once", "--config", str(path), env=ENV)
    assert result.code == 0, result.output
    times = httpx.get(f"{standins.url}/_times").json()["times"]
    creates = times["sm.CreateSecret"]
    assert len(creates) == 30
    assert _max_in_window(creates) <= 10
    # Reads have their own limiter: the 30 DescribeSecret calls were not held back.
    assert _max_in_window(times["sm.DescribeSecret"]) > 10


@pytest.mark.e2e
def test_casedev_budget_headers_are_respected_before_a_429(
    tmp_path: Path, standins: Running
) -> None:
    """With x-ratelimit-remaining-requests announcing 4 per second, 12 fetches earn no 429."""
    httpx.post(f"{standins.url}/_budget", json={"requests": 4, "window": 1.0})
    path = _config(tmp_path, standins.url, 12, concurrency=1)
    result = run_syncd("run", "--once", "--config", str(path), env=ENV)
    assert result.code == 0, result.output
    calls = httpx.get(f"{standins.url}/_stats").json()["calls"]
    assert calls["casedev.GetConnection"] == 12
    assert "casedev.429" not in calls


@pytest.mark.e2e
def test_aws_throttling_slows_the_write_limiter(standins: Running) -> None:
    """A ThrottlingException from Secrets Manager halves the sink's write rate; reads keep theirs."""
    config = AwsSecretsManagerConfig(region="us-east-1", endpoint_url=standins.url)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in ENV.items():
            patch.setenv(key, value)
        sink = AwsSecretsManagerSink.from_config("aws", config)
    httpx.post(f"{standins.url}/_throttle", json={"writes": 1})
    text = "postgresql://u:p@h/db"
    request = WriteRequest(
        target="t",
        secret="rl/throttled",
        document=Document("uri", text, {}),
        fingerprint=Fingerprint.of(text),
        observed=SecretState.missing(),
        action=Action.CREATE,
    )
    sink.write(request)  # botocore retries the throttled attempt
    assert sink.writes.rate is not None and sink.writes.rate < 40
    assert sink.reads.rate == 5000
    sink.close()


# -- Vault: one bucket for every request, measured at a proxy standing where Vault is -----------


@pytest.mark.e2e
def test_vault_burst_of_writes_stays_within_the_configured_rate_at_the_server(
    tmp_path: Path, standins: Running, vault: VaultDevServer, vault_proxy: RecordingProxy
) -> None:
    """12 creates at concurrency 8 with rate_limit 20: at most 20 Vault requests in any second."""
    path = _vault_config(tmp_path, standins.url, vault_proxy.url, 12, rate_limit=20)
    result = run_syncd(
        "run", "--once", "--config", str(path), env={**ENV, "VAULT_TOKEN": vault.root_token}
    )
    assert result.code == 0, result.output
    times = vault_proxy.times()
    # Per create: inspect, re-read, claim, data, metadata; plus the token lookup and mount check.
    assert len(vault_proxy.times("/v1/secret/data/")) == 12
    assert len(times) >= 5 * 12
    assert _max_in_window(times) <= 20
    assert max(times) - min(times) >= (len(times) - 20) / 20 - 0.1  # paced, not merely slow


@pytest.mark.e2e
def test_vault_quota_429s_do_not_fail_a_run(
    tmp_path: Path, standins: Running, vault: VaultDevServer, vault_proxy: RecordingProxy
) -> None:
    """Two 429s with Retry-After: 1 in a run --once: the limiter waits, every target succeeds."""
    path = _vault_config(tmp_path, standins.url, vault_proxy.url, 4)
    vault_proxy.throttle(2, retry_after="1")
    result = run_syncd(
        "run", "--once", "--config", str(path), env={**ENV, "VAULT_TOKEN": vault.root_token}
    )
    assert result.code == 0, result.output
    assert len(vault_proxy.times("/v1/secret/data/")) == 4


def _vault_config(tmp_path: Path, casedev_url: str, vault_url: str, n: int, **vault: Any) -> Path:
    """The config of ``_config`` with the targets writing to a Vault sink instead."""
    path = _config(tmp_path, casedev_url, n, concurrency=8)
    data = yaml.safe_load(path.read_text())
    data["sinks"] = {"vault": {"type": "vault", "url": vault_url, **vault}}
    prefix = f"rl-{uuid.uuid4().hex[:8]}"
    for i, target in enumerate(data["targets"]):
        target["sinks"] = [{"sink": "vault", "secret": f"{prefix}/t{i}"}]
    path.write_text(yaml.safe_dump(data))
    return path


def test_vault_default_rate_stays_under_a_typical_quota() -> None:
    """By default the Vault sink starts at most 80 requests in any second (quotas are often 100/s)."""
    config = VaultSinkConfig()
    assert (config.rate_limit, config.burst) == (80, None)
