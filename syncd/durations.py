"""Parsing the durations and jitter the config accepts: ``30s``, ``5m``, ``1h``, ``1d``, ``10%``."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)%")


def parse_duration(value: object) -> float:
    """Seconds in ``value`` (``"30s"``, ``"5m"``, ``"1h"``, ``"1d"`` or a number of seconds)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.fullmatch(value.strip())
        if match:
            return float(match.group(1)) * _UNITS[match.group(2)]
    raise ValueError(f"invalid duration {value!r}; use a number and a unit, e.g. 30s, 5m, 1h, 1d")


def parse_jitter(value: object) -> tuple[float, bool]:
    """``(amount, relative)``: ``"10%"`` is ``(0.1, True)``, ``"30s"`` is ``(30.0, False)``."""
    if isinstance(value, str):
        match = _PERCENT.fullmatch(value.strip())
        if match:
            fraction = float(match.group(1)) / 100
            if fraction > 1:
                raise ValueError(f"invalid jitter {value!r}; a percentage must be at most 100%")
            return fraction, True
    try:
        return parse_duration(value), False
    except ValueError:
        raise ValueError(
            f"invalid jitter {value!r}; use a percentage (10%) or a duration (30s)"
        ) from None
