"""Tests for Neon password resets: the new password at once, locks waited out, operations polled to a deadline."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from syncd import redaction
from syncd.errors import ProviderOperationFailed, ProviderResponseError, ProviderUnavailable
from syncd.providers.neon import LOCKED_ATTEMPTS, LOCKED_DELAY, MAX_OPERATIONS
from syncd.testing.neon import FakeNeon, Fault
from tests.support.clock import Clock
from tests.support.neonfake import PROJECT, Passwords, provider, target

LOCKED = Fault(423, b'{"code":"","message":"project already has running conflicting operations"}')


def resets(neon_api: FakeNeon) -> int:
    return sum(1 for r in neon_api.requests if r.path.endswith("/reset_password"))


def test_reset_returns_the_password_at_once_and_it_applies_when_operations_finish(
    neon_api: FakeNeon, cluster: Passwords
) -> None:
    """The reset answers the new password and operations; the cluster changes only when they finish."""
    p = provider(neon_api)
    reset = p.reset_password(target(), "app")
    new = reset.password.get_secret_value()
    assert reset.role == "app" and len(reset.operation_ids) == 1 and new != "oldpw123"
    assert "app" not in cluster.set
    assert neon_api.operation(reset.operation_ids[0]).status in ("scheduling", "running")
    p.wait_for_operations(PROJECT, reset.operation_ids, deadline=time.monotonic() + 5)
    assert cluster.set["app"] == new
    assert neon_api.operation(reset.operation_ids[0]).status == "finished"
    assert p.connection(target(), role="app").password.get_secret_value() == new


def test_the_new_password_is_redacted_as_soon_as_it_arrives(neon_api: FakeNeon) -> None:
    """A reset's password is registered for redaction before the caller sees it."""
    reset = provider(neon_api).reset_password(target(), "app")
    password = reset.password.get_secret_value()
    assert password not in redaction.scrub(f"leaked {password} here")
    assert password not in repr(reset)


def test_a_failed_operation_is_an_error_and_keeps_the_old_password(
    neon_api: FakeNeon, cluster: Passwords
) -> None:
    """An operation ending 'failed' raises ProviderOperationFailed; nothing changes in the cluster."""
    neon_api.fail_next_operation()
    p = provider(neon_api)
    reset = p.reset_password(target(), "app")
    with pytest.raises(ProviderOperationFailed, match="ended failed") as info:
        p.wait_for_operations(PROJECT, reset.operation_ids, deadline=time.monotonic() + 5)
    assert info.value.transient
    assert cluster.set == {}
    assert p.connection(target(), role="app").password.get_secret_value() == "oldpw123"


def test_waiting_past_the_deadline_is_unavailable(neon_api: FakeNeon) -> None:
    """Operations still running at the deadline give ProviderUnavailable, not a hang."""
    neon_api.operation_delay = 5
    p = provider(neon_api)
    reset = p.reset_password(target(), "app")
    with pytest.raises(ProviderUnavailable, match="past the deadline"):
        p.wait_for_operations(PROJECT, reset.operation_ids, deadline=time.monotonic() + 0.3)


def test_a_reset_during_a_running_operation_is_locked(neon_api: FakeNeon) -> None:
    """A second reset while the first one's operation runs gets 423, a transient error."""
    neon_api.operation_delay = 5
    p = provider(neon_api, attempts=1)
    p.reset_password(target(), "app")
    with pytest.raises(ProviderUnavailable, match="423 Locked") as info:
        p.reset_password(target(), "app")
    assert info.value.transient


def test_a_locked_reset_is_tried_again_seconds_apart_until_it_is_accepted(neon_api: FakeNeon) -> None:
    """Three 423 answers to a reset are waited out LOCKED_DELAY apart; the fourth attempt resets."""
    clock = Clock()
    p = provider(neon_api, fake_time=clock)
    p.branch_id(target())
    neon_api.fail_next(LOCKED, times=3)
    reset = p.reset_password(target(), "app")
    assert reset.password.get_secret_value() == neon_api.password(PROJECT, "main", "app")
    assert clock.sleeps == [LOCKED_DELAY] * 3
    assert resets(neon_api) == 4


def test_a_reset_locked_through_every_attempt_is_unavailable(neon_api: FakeNeon) -> None:
    """After LOCKED_ATTEMPTS answers of 423 the reset gives up with a transient ProviderUnavailable."""
    clock = Clock()
    p = provider(neon_api, fake_time=clock)
    p.branch_id(target())
    neon_api.fail_next(LOCKED, times=LOCKED_ATTEMPTS + 1)
    with pytest.raises(ProviderUnavailable, match="423 Locked") as info:
        p.reset_password(target(), "app")
    assert info.value.transient
    assert resets(neon_api) == LOCKED_ATTEMPTS
    assert clock.sleeps == [LOCKED_DELAY] * (LOCKED_ATTEMPTS - 1)


def test_a_locked_reset_never_waits_past_its_deadline(neon_api: FakeNeon) -> None:
    """With 7 s to go, a reset locked throughout tries at 0, 3 and 6 s and gives up without sleeping past the deadline."""
    clock = Clock()
    p = provider(neon_api, fake_time=clock)
    p.branch_id(target())
    neon_api.fail_next(LOCKED, times=LOCKED_ATTEMPTS)
    deadline = clock.now + 7.0
    with pytest.raises(ProviderUnavailable, match="423 Locked"):
        p.reset_password(target(), "app", deadline=deadline)
    assert resets(neon_api) == 3
    assert clock.sleeps == [LOCKED_DELAY, LOCKED_DELAY]
    assert clock.now <= deadline


def test_a_reset_whose_deadline_has_passed_sends_nothing(neon_api: FakeNeon) -> None:
    """A reset asked for after its deadline is ProviderUnavailable without any request."""
    clock = Clock()
    p = provider(neon_api, fake_time=clock)
    p.branch_id(target())
    before = len(neon_api.requests)
    with pytest.raises(ProviderUnavailable, match="deadline"):
        p.reset_password(target(), "app", deadline=clock.now)
    assert len(neon_api.requests) == before


def test_reads_keep_their_own_backoff_for_423(neon_api: FakeNeon) -> None:
    """A 423 to a GET is retried with the configured backoff, not the reset's long waits."""
    clock = Clock()
    p = provider(neon_api, fake_time=clock, attempts=3)
    p.branch_id(target())
    neon_api.fail_next(LOCKED, times=3)
    with pytest.raises(ProviderUnavailable, match="423 Locked"):
        p.fetch(target())
    assert len(clock.sleeps) == 2 and all(s < LOCKED_DELAY for s in clock.sleeps)


def test_a_reset_listing_too_many_operations_is_refused(neon_api: FakeNeon) -> None:
    """A reset answer with more than MAX_OPERATIONS operation ids is a ProviderResponseError."""
    p = provider(neon_api)
    p.branch_id(target())
    operations = [{"id": f"op-{n}", "status": "finished"} for n in range(MAX_OPERATIONS + 1)]
    body = {"role": {"name": "app", "password": "x9Y8z7W6v5U4"}, "operations": operations}
    neon_api.fail_next(Fault(200, json.dumps(body).encode()))
    with pytest.raises(ProviderResponseError, match=f"lists {MAX_OPERATIONS + 1} operations"):
        p.reset_password(target(), "app")
    with pytest.raises(ProviderResponseError, match="more than the"):
        p.wait_for_operations(PROJECT, [f"op-{n}" for n in range(MAX_OPERATIONS + 1)], 2000.0)


def test_the_deadline_is_checked_before_every_poll(neon_api: FakeNeon) -> None:
    """Finished operations that take 1 s each to poll stop being polled once the deadline passes."""
    clock = Clock()
    polled: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        polled.append(request.url.path.rsplit("/", 1)[-1])
        clock.now += 1.0
        return httpx.Response(200, json={"operation": {"id": polled[-1], "status": "finished"}})

    p = provider(neon_api, handler=handler, fake_time=clock)
    ids = [f"op-{n}" for n in range(MAX_OPERATIONS)]
    with pytest.raises(ProviderUnavailable, match="past the deadline"):
        p.wait_for_operations(PROJECT, ids, deadline=clock.now + 5.5)
    assert polled == ids[:6]
    assert clock.now <= 1000.0 + 6.0
