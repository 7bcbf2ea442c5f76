"""Durations and a target's schedule: ``30s``, ``5m``, ``1h``, ``1d``, ``10%``.

A duration always carries its unit. A bare number (``interval: 30``, or
``SYNCD_SHUTDOWN_TIMEOUT=30``) is refused with the unit it probably lacks
(``30 (no unit): did you mean 30s?``) rather than silently read as seconds:
``every: 30`` meant 30 days, not 30 seconds.

:data:`Interval`, :data:`Jitter` and :data:`RotationPeriod` are annotated
types with their rules built in (an interval of at least :data:`MIN_INTERVAL`,
a jitter of at most 100%, a rotation period of at least
:data:`MIN_ROTATION_PERIOD`), used both by the config models and by
:class:`~syncd.core.models.Target`,
so the rules exist once and a target carries its whole schedule.

:func:`duration_seconds` is the grammar under all of them, and the only one
in syncd: :mod:`syncd.net.retry` reads a server's ``x-ratelimit-reset`` header
(``1m30s``, ``250ms``) with it too, under that header's own units.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, PlainValidator

# [0-9], not \d: \d takes other scripts' digits, which float() then reads.
_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
_PERCENT = re.compile(rf"({_NUMBER})%")
_BARE = re.compile(_NUMBER)


class Units:
    """A table of duration units (seconds each), and the pattern of one ``<number><unit>``."""

    def __init__(self, seconds: Mapping[str, float]) -> None:
        self.seconds = dict(seconds)
        # Longest first, so that "ms" is not read as "m" followed by junk.
        names = "|".join(re.escape(u) for u in sorted(seconds, key=len, reverse=True))
        self.part = re.compile(rf"({_NUMBER})({names})")


#: The units of durations in the config and the environment.
CONFIG_UNITS = Units({"s": 1, "m": 60, "h": 3600, "d": 86400})


def duration_seconds(
    text: str, units: Units = CONFIG_UNITS, *, compound: bool = False
) -> float | None:
    """Seconds in ``text``, a number and one of ``units``; None when it is not one.

    With ``compound``, several such parts add up (``1m30s``). Nothing else is
    read: no sign, no exponent, no space, no ``inf``.
    """
    if not compound:
        match = units.part.fullmatch(text)
        return float(match.group(1)) * units.seconds[match.group(2)] if match else None
    parts = units.part.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * units.seconds[u] for n, u in parts)


def parse_duration(value: object, *, unit: str = "s") -> float:
    """Seconds in ``value``: ``"30s"``, ``"5m"``, ``"1h"`` or ``"1d"``.

    A bare number (an int or float, or a string of digits) is refused with a
    message suggesting ``unit``, the unit it most likely means.
    """
    if isinstance(value, str):
        seconds = duration_seconds(value.strip())
        if seconds is not None:
            return seconds
    if (bare := _bare_number(value)) is not None:
        raise ValueError(f"{bare} (no unit): did you mean {bare}{unit}?")
    raise ValueError(f"invalid duration {value!r}; use a number and a unit, e.g. 30s, 5m, 1h, 1d")


def _bare_number(value: object) -> str | None:
    """``value`` as written when it is a number without a unit, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:g}" if math.isfinite(value) else None
    if isinstance(value, str) and _BARE.fullmatch(value.strip()):
        return value.strip()
    return None


def parse_jitter(value: object) -> tuple[float, bool]:
    """``(amount, relative)``: ``"10%"`` is ``(0.1, True)``, ``"30s"`` is ``(30.0, False)``."""
    if isinstance(value, str):
        match = _PERCENT.fullmatch(value.strip())
        if match:
            fraction = float(match.group(1)) / 100
            if fraction > 1:
                raise ValueError(f"invalid jitter {value!r}; a percentage must be at most 100%")
            return fraction, True
    if (bare := _bare_number(value)) is not None:
        raise ValueError(f"{bare} (no unit): did you mean {bare}s or {bare}%?")
    try:
        return parse_duration(value), False
    except ValueError:
        raise ValueError(
            f"invalid jitter {value!r}; use a percentage (10%) or a duration (30s)"
        ) from None


#: The shortest interval a target may have: a daemon must not hammer the provider.
MIN_INTERVAL = 10.0


def parse_interval(value: object) -> float:
    """Seconds in ``value`` (see :func:`parse_duration`), refused below :data:`MIN_INTERVAL`."""
    seconds = parse_duration(value)
    if seconds < MIN_INTERVAL:
        raise ValueError(f"interval must be at least {MIN_INTERVAL:g}s")
    return seconds


#: The shortest rotation period: each rotation resets a password at the provider.
MIN_ROTATION_PERIOD = 3600.0


def parse_rotation_period(value: object) -> float:
    """Seconds in ``value`` (see :func:`parse_duration`), refused below one hour.

    A bare number is refused suggesting days: rotation periods are counted in them.
    """
    seconds = parse_duration(value, unit="d")
    if seconds < MIN_ROTATION_PERIOD:
        raise ValueError("every must be at least 1h (each rotation resets a password)")
    return seconds


def jitter_seconds(interval: float, amount: float, relative: bool) -> float:
    """The jitter bound in seconds: a fraction of ``interval`` or absolute, at most ``interval``.

    Each run is delayed by a random ``0..bound`` seconds, so a fleet of daemons
    started together drifts apart; the cap keeps the gap between two runs at
    most twice the interval.
    """
    seconds = amount * interval if relative else amount
    return max(0.0, min(seconds, interval))


@dataclass(frozen=True)
class JitterRule:
    """A target's jitter: ``amount`` of its interval when ``relative``, else seconds."""

    amount: float = 0.1
    relative: bool = True

    @classmethod
    def parse(cls, value: object) -> JitterRule:
        """``"10%"``, ``"30s"``, or a :class:`JitterRule` as is."""
        if isinstance(value, JitterRule):
            return value
        return cls(*parse_jitter(value))

    def seconds(self, interval: float) -> float:
        """The bound in seconds for ``interval`` (see :func:`jitter_seconds`)."""
        return jitter_seconds(interval, self.amount, self.relative)

    def __str__(self) -> str:
        return f"{self.amount * 100:g}%" if self.relative else f"{self.amount:g}s"


#: Seconds between two regular runs of a target; at least :data:`MIN_INTERVAL`.
Interval = Annotated[float, BeforeValidator(parse_interval)]
#: Seconds between two rotations of a target's password; at least :data:`MIN_ROTATION_PERIOD`.
RotationPeriod = Annotated[float, BeforeValidator(parse_rotation_period)]
#: The random delay added to each run; written ``10%`` or ``30s`` in the config.
Jitter = Annotated[JitterRule, PlainValidator(JitterRule.parse), PlainSerializer(str)]

#: ``10%``: the jitter of a target that sets none and whose defaults set none.
DEFAULT_JITTER = JitterRule(0.1, relative=True)
