"""Tests for syncd.net.retry: backoff delays, and the one reading of a server's "wait this long"."""

from __future__ import annotations

import email.utils
import math

import pytest

from syncd.net.retry import (
    MAX_HEADER_CHARS,
    MAX_SERVER_PAUSE,
    Backoff,
    exponential,
    parse_reset,
    parse_retry_after,
    server_pause,
)

NOW = 1_700_000_000.0  # the wall clock an HTTP-date is measured from


def _date(offset: float) -> str:
    return email.utils.formatdate(NOW + offset, usegmt=True)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("0", 0.0),
        ("2", 2.0),
        (" 7 ", 7.0),
        ("59", 59.0),
        ("60", MAX_SERVER_PAUSE),
        ("99999999", MAX_SERVER_PAUSE),
        ("9" * MAX_HEADER_CHARS, MAX_SERVER_PAUSE),  # far beyond a float's integers: still capped
        (_date(30), 30.0),
        (_date(-3600), 0.0),  # a date in the past: no pause
        (_date(10 * 365 * 86400), MAX_SERVER_PAUSE),  # years ahead
        ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_SERVER_PAUSE),
    ],
)
def test_retry_after_is_read_and_capped(header: str, seconds: float) -> None:
    """Delta-seconds and HTTP-dates are read; anything past the cap is the cap."""
    assert parse_retry_after(header, now=NOW) == seconds


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "inf",
        "Infinity",
        "nan",
        "1e20",
        "1e309",
        "-5",
        "+5",
        "5.5",  # delta-seconds are whole numbers
        "0x10",
        "½",
        "²",  # str.isdigit says yes, float() raises
        "\u0661\u0662",  # Arabic-Indic digits: str.isdigit says yes, HTTP says no
        "soon",
        "9" * (MAX_HEADER_CHARS + 1),  # too long to read at all
        "Fri, 31 Dec 99999 23:59:59 GMT",  # a year no datetime holds
        "Fri, 32 Dec 2024 23:59:59 GMT",
    ],
)
def test_retry_after_refuses_what_is_not_a_finite_pause(header: str | None) -> None:
    """Infinite, not-a-number, exponent, negative, oversized and garbage values are None."""
    assert parse_retry_after(header, now=NOW) is None


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("2", 2.0),
        ("1.5", 1.5),
        ("1.5s", 1.5),
        ("250ms", 0.25),
        ("1m", MAX_SERVER_PAUSE),
        ("30s", 30.0),
        ("0m45s", 45.0),
        ("1m30s", MAX_SERVER_PAUSE),  # 90 s, capped
        ("99999h", MAX_SERVER_PAUSE),  # case.dev's headers, from a hostile server
        ("6M", MAX_SERVER_PAUSE),  # units are read case-insensitively
    ],
)
def test_ratelimit_reset_is_read_and_capped(header: str, seconds: float) -> None:
    """x-ratelimit-reset-* durations, compound ones included, are read and capped."""
    assert parse_reset(header) == seconds


@pytest.mark.parametrize(
    "header",
    [None, "", "inf", "nan", "1e20", "1e309", "-5", "-1s", "5x", "1m30", "m30s", "soon", "1 m"],
)
def test_ratelimit_reset_refuses_what_is_not_a_finite_duration(header: str | None) -> None:
    """A reset that is not a plain duration is None, never infinite or negative."""
    assert parse_reset(header) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, 0.0),
        (12.5, 12.5),
        (1e20, MAX_SERVER_PAUSE),
        (10**400, None),  # an int no float can hold
        (math.inf, None),
        (-math.inf, None),
        (math.nan, None),
        (-1.0, None),
        (None, None),
        (True, None),
    ],
)
def test_server_pause_is_finite_non_negative_and_capped(
    value: float | None, expected: float | None
) -> None:
    """Every pause, parsed or handed over, is finite and at most the cap, or None."""
    assert server_pause(value) == expected


def test_backoff_honours_a_pause_up_to_its_cap_and_ignores_a_hostile_one() -> None:
    """A Retry-After sets the delay up to the backoff's cap; an infinite one is ignored."""
    backoff = Backoff(attempts=4, base=1.0, cap=30.0, jitter=False)
    assert backoff.delay(1, retry_after=2.0) == 2.0
    assert backoff.delay(1, retry_after=1e20) == 30.0
    assert backoff.delay(2, retry_after=math.inf) == 2.0  # not a pause: the usual step
    assert backoff.delay(2, retry_after=math.nan) == 2.0


def test_backoff_does_not_overflow_after_many_attempts() -> None:
    """A huge attempt number is still a finite delay at the cap."""
    assert Backoff(cap=30.0, jitter=False).delay(5000) == 30.0


def test_exponential_doubles_up_to_the_cap() -> None:
    """Every growing wait in syncd has one schedule: the base, doubled per attempt, capped."""
    assert [exponential(n, 0.1, 2.0) for n in range(1, 8)] == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    assert exponential(10_000, 5.0, 300.0) == 300.0
