"""Tests for the shared provider HTTP client's retries: per-status backoff and deadlines."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from syncd.errors import ProviderError, ProviderUnavailable
from syncd.net.retry import Backoff
from syncd.providers.api import ApiClient
from tests.support.clock import Clock

STEADY = Backoff(3, base=3.0, cap=3.0, jitter=False)


def client(statuses: list[int], clock: Clock) -> tuple[ApiClient, list[httpx.Request]]:
    """A client whose API answers ``statuses`` in turn (then 200); the requests it saw."""
    answers: Iterator[int] = iter(statuses)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(next(answers, 200), json={})

    api = ApiClient(
        "Vendor",
        "v",
        api_key=SecretStr("k"),
        base_url="https://api.example.test",
        backoff=Backoff(attempts=2, base=0.01),
        transport=httpx.MockTransport(handler),
        sleep=clock.sleep,
        clock=clock,
    )
    return api, seen


def status_error(response: httpx.Response, _body: bytes) -> ProviderError:
    return ProviderUnavailable(f"answered {response.status_code}")


def test_a_status_with_its_own_backoff_counts_its_own_attempts() -> None:
    """423s use the steady backoff and its 3 attempts; a 503 in between still gets the client's."""
    clock = Clock(100.0)
    api, seen = client([423, 423, 503], clock)
    api.request("POST", "/x", subject="x", status_error=status_error, status_backoff={423: STEADY})
    assert len(seen) == 4
    assert clock.sleeps[:2] == [3.0, 3.0] and clock.sleeps[2] < 0.01


def test_without_its_own_backoff_a_status_gets_the_clients() -> None:
    """A read that is not given a backoff for 423 gives up after the client's 2 attempts."""
    clock = Clock(100.0)
    api, seen = client([423, 423, 423], clock)
    with pytest.raises(ProviderUnavailable, match="423"):
        api.request("GET", "/x", subject="x", status_error=status_error)
    assert len(seen) == 2


def test_no_wait_goes_past_the_deadline() -> None:
    """With 5 s left, a second 3 s wait is not taken: the last error is raised before the deadline."""
    clock = Clock(100.0)
    api, seen = client([423] * 5, clock)
    deadline = clock.now + 5.0
    with pytest.raises(ProviderUnavailable, match="423"):
        api.request(
            "POST",
            "/x",
            subject="x",
            status_error=status_error,
            status_backoff={423: STEADY},
            deadline=deadline,
        )
    assert len(seen) == 2 and clock.sleeps == [3.0]
    assert clock.now <= deadline


def test_a_passed_deadline_sends_nothing() -> None:
    """A call whose deadline has passed is ProviderUnavailable without a request."""
    clock = Clock(100.0)
    api, seen = client([], clock)
    with pytest.raises(ProviderUnavailable, match="deadline has passed"):
        api.request("GET", "/x", subject="x", status_error=status_error, deadline=clock.now)
    assert seen == []


def test_backoff_without_jitter_steps_steadily() -> None:
    """Backoff(jitter=False) gives its bound each time: base doubling, up to cap."""
    assert [Backoff(5, base=3.0, cap=3.0, jitter=False).delay(n) for n in (1, 2, 5)] == [3.0] * 3
    assert [Backoff(4, base=1.0, cap=3.0, jitter=False).delay(n) for n in (1, 2, 3)] == [
        1.0,
        2.0,
        3.0,
    ]
