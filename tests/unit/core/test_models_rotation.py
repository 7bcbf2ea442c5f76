"""Tests for RotationMark: the recorded form of a rotation, and its hostile-input parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from syncd.core.models import RotationMark


def test_mark_is_normalised_to_utc_whole_seconds() -> None:
    """A mark made from any aware time holds it in UTC without fractions of a second."""
    plus_two = timezone(timedelta(hours=2))
    mark = RotationMark(datetime(2030, 6, 1, 14, 30, 15, 999_999, tzinfo=plus_two), "app")
    assert mark.rotated_at == datetime(2030, 6, 1, 12, 30, 15, tzinfo=UTC)
    assert mark.encode() == ("2030-06-01T12:30:15Z", "app")


def test_encode_decode_round_trip() -> None:
    """What encode records, decode reads back as the same mark."""
    mark = RotationMark(datetime(2030, 12, 31, 23, 59, 59, tzinfo=UTC), "billing_app_b")
    assert RotationMark.decode(*mark.encode()) == mark


@pytest.mark.parametrize(
    ("when", "role"),
    [
        (datetime(2030, 1, 1), "app"),  # naive: ambiguous
        (datetime(2030, 1, 1, tzinfo=UTC), ""),
        (datetime(2030, 1, 1, tzinfo=UTC), "a b"),
        (datetime(2030, 1, 1, tzinfo=UTC), "x" * 64),
    ],
)
def test_bad_marks_cannot_be_made(when: datetime, role: str) -> None:
    """A naive time or a role that is not a plain role name is refused when building a mark."""
    with pytest.raises(ValueError, match="rotat"):
        RotationMark(when, role)


@pytest.mark.parametrize(
    ("rotated_at", "role"),
    [
        (None, "app"),
        ("2030-01-01T00:00:00Z", None),
        ("2030-01-01T00:00:00+00:00", "app"),
        ("2030-13-01T00:00:00Z", "app"),
        ("2030-01-01T24:00:00Z", "app"),
        ("2030-01-01T00:00:00Z\n", "app"),
        ("2030-01-01T00:00:00Z", "app\n"),
        ("2030-01-01T00:00:00Z", "app;drop"),
        ("\uff12030-01-01T00:00:00Z", "app"),
    ],
)
def test_malformed_records_decode_to_none(rotated_at: str | None, role: str | None) -> None:
    """Recorded metadata in any shape but syncd's own reads as no mark at all."""
    assert RotationMark.decode(rotated_at, role) is None
