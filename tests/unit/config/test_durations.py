"""Tests for the duration grammar: every duration needs a unit, and jitter is seconds or a percentage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from syncd.config import durations
from syncd.config import settings as config
from syncd.config.durations import jitter_seconds
from syncd.errors import ConfigError
from tests.support.configfiles import MINIMAL, error_of, with_target, write


def _with_rotation(every: Any) -> dict[str, Any]:
    return with_target(rotation={"mode": "refresh", "every": every})


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (with_target(interval=30), "targets.0.interval: 30 (no unit): did you mean 30s?"),
        (with_target(interval=2.5), "targets.0.interval: 2.5 (no unit): did you mean 2.5s?"),
        (with_target(interval="600"), "targets.0.interval: 600 (no unit): did you mean 600s?"),
        (with_target(jitter=30), "targets.0.jitter: 30 (no unit): did you mean 30s or 30%?"),
        (with_target(jitter="5"), "targets.0.jitter: 5 (no unit): did you mean 5s or 5%?"),
        ({**MINIMAL, "defaults": {"interval": 900}}, "defaults.interval: 900 (no unit)"),
        ({**MINIMAL, "defaults": {"jitter": 0}}, "defaults.jitter: 0 (no unit)"),
        ({**MINIMAL, "shutdown_timeout": 30}, "shutdown_timeout: 30 (no unit): did you mean 30s?"),
        (_with_rotation(30), "targets.0.rotation.every: 30 (no unit): did you mean 30d?"),
        (_with_rotation("7"), "targets.0.rotation.every: 7 (no unit): did you mean 7d?"),
        (with_target(interval="\u0663\u0660s"), "targets.0.interval: invalid duration"),
    ],
)
def test_a_duration_without_a_unit_suggests_one(
    tmp_path: Path, data: dict[str, Any], expected: str
) -> None:
    """A bare number where a duration belongs is an error suggesting the missing unit."""
    message = error_of(tmp_path, data)
    assert expected in message and len(message.splitlines()) == 1


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("SYNCD_SHUTDOWN_TIMEOUT", "30", "SYNCD_SHUTDOWN_TIMEOUT: 30 (no unit): did you mean 30s?"),
        ("SYNCD_DEFAULTS__INTERVAL", "45", "SYNCD_DEFAULTS__INTERVAL: 45 (no unit)"),
        ("SYNCD_DEFAULTS__JITTER", "3", "SYNCD_DEFAULTS__JITTER: 3 (no unit): did you mean 3s"),
        ("SYNCD_DEFAULTS", '{"interval": 60}', "SYNCD_DEFAULTS: interval: 60 (no unit)"),
    ],
)
def test_a_duration_without_a_unit_from_the_environment_suggests_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    """SYNCD_ variables holding a bare number are refused the same way, naming the variable."""
    path = write(tmp_path, MINIMAL)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert str(info.value).startswith(expected) and len(str(info.value).splitlines()) == 1


def test_durations_with_units_still_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every unit, fractions and the environment's strings load as seconds."""
    monkeypatch.setenv("SYNCD_SHUTDOWN_TIMEOUT", "1.5m")
    data = with_target(interval="0.5h", jitter="20s", rotation={"mode": "refresh", "every": "2d"})
    cfg = config.load(None, data={**data, "defaults": {"interval": "1d", "jitter": "0s"}})
    assert cfg.settings.shutdown_timeout == 90 and cfg.settings.defaults.interval == 86400
    assert cfg.targets[0].interval == 1800 and cfg.targets[0].jitter.seconds(1800) == 20


@pytest.mark.parametrize(
    ("interval", "amount", "relative", "expected"),
    [
        (600.0, 0.1, True, 60.0),
        (600.0, 30.0, False, 30.0),
        (600.0, 0.0, False, 0.0),
        (600.0, 0.0, True, 0.0),
        (10.0, 30.0, False, 10.0),
        (10.0, 1.0, True, 10.0),
    ],
)
def test_jitter_is_relative_or_absolute_and_capped_at_the_interval(
    interval: float, amount: float, relative: bool, expected: float
) -> None:
    """A percentage is a fraction of the interval, a duration is absolute, neither exceeds it."""
    assert jitter_seconds(interval, amount, relative) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30.0), ("5m", 300.0), ("1.5h", 5400.0), ("2d", 172800.0), ("0s", 0.0)],
)
def test_a_duration_is_a_number_and_one_unit(text: str, seconds: float) -> None:
    """Each config unit multiplies its number into seconds."""
    assert durations.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["-5s", "1e3s", "5 m", "infs", "5", "5x", "1m30s", ""])
def test_anything_else_is_not_a_config_duration(text: str) -> None:
    """No sign, exponent, space, inf, bare number, unknown unit or compound is read as a duration."""
    assert durations.duration_seconds(text) is None


def test_compound_durations_add_up_under_their_own_units() -> None:
    """With compound, parts add up, and a table with ``ms`` never reads it as minutes."""
    units = durations.Units({"ms": 0.001, "s": 1, "m": 60, "h": 3600})
    assert durations.duration_seconds("1m30s", units, compound=True) == 90.0
    assert durations.duration_seconds("250ms", units, compound=True) == 0.25
    assert durations.duration_seconds("1m 30s", units, compound=True) is None
    assert durations.duration_seconds("", units, compound=True) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (30, "30 (no unit): did you mean 30s?"),
        (2.5, "2.5 (no unit): did you mean 2.5s?"),
        (" 7 ", "7 (no unit): did you mean 7s?"),
        (True, "invalid duration True"),
        (float("inf"), "invalid duration inf"),
        ("soon", "invalid duration 'soon'"),
    ],
)
def test_a_bare_number_suggests_a_unit_and_other_values_are_invalid(
    value: object, message: str
) -> None:
    """A bare number is refused with the unit it lacks; a bool, inf or a word is just invalid."""
    with pytest.raises(ValueError) as info:
        durations.parse_duration(value)
    assert str(info.value).startswith(message)


def test_jitter_is_a_percentage_or_a_duration() -> None:
    """``10%`` is a fraction of the interval, ``30s`` is seconds, and over 100% is refused."""
    assert durations.parse_jitter("10%") == (0.1, True)
    assert durations.parse_jitter("30s") == (30.0, False)
    with pytest.raises(ValueError, match="at most 100%"):
        durations.parse_jitter("150%")
    with pytest.raises(ValueError, match="did you mean 5s or 5%"):
        durations.parse_jitter(5)
    with pytest.raises(ValueError, match="use a percentage"):
        durations.parse_jitter("often")


def test_interval_and_rotation_period_have_floors() -> None:
    """An interval is at least 10s and a rotation period at least 1h; a bare period suggests days."""
    assert durations.parse_interval("10s") == durations.MIN_INTERVAL
    with pytest.raises(ValueError, match="at least 10s"):
        durations.parse_interval("9s")
    assert durations.parse_rotation_period("1h") == durations.MIN_ROTATION_PERIOD
    with pytest.raises(ValueError, match="at least 1h"):
        durations.parse_rotation_period("59m")
    with pytest.raises(ValueError, match="did you mean 7d"):
        durations.parse_rotation_period(7)


def test_jitter_rule_parses_once_and_prints_as_written() -> None:
    """A JitterRule passes through parse unchanged and prints back as ``10%`` or ``30s``."""
    rule = durations.JitterRule.parse("30s")
    assert durations.JitterRule.parse(rule) is rule
    assert str(rule) == "30s"
    assert str(durations.DEFAULT_JITTER) == "10%"
    assert rule.seconds(20.0) == 20.0
