"""Tests for syncd.errors: one tree, drawn truthfully in its docstring, and ``transient`` on it."""

from __future__ import annotations

import inspect
import re

import pytest

from syncd import errors
from syncd.errors import RateLimited, SyncdError

CLASSES = {
    name: cls
    for name, cls in vars(errors).items()
    if inspect.isclass(cls) and issubclass(cls, BaseException) and cls.__module__ == errors.__name__
}

TRANSIENT = {
    "RateLimited",
    "TargetTimedOut",
    "Interrupted",
    "ProviderOperationFailed",
    "ProviderUnavailable",
    "ProviderUnreachable",
    "ProviderCircuitOpen",
    "SinkConflict",
    "SinkUnavailable",
    "SinkUnreachable",
    "SinkCircuitOpen",
    "SinkBusy",
}


def drawn_tree() -> dict[str, str]:
    """Each class in the module docstring's tree, mapped to the class drawn above it."""
    parents: dict[str, str] = {}
    stack: list[str] = []
    for line in (errors.__doc__ or "").splitlines():
        match = re.match(r"^\s{4}([│ ]*)(?:[├└]── )?([A-Z]\w+)(?:\s|$)", line)
        if match is None or (not match.group(1) and stack and "──" not in line):
            continue
        depth = 0 if "──" not in line else len(match.group(1)) // 4 + 1
        stack[depth:] = [match.group(2)]
        if depth:
            parents[match.group(2)] = stack[depth - 1]
    return parents


def test_every_error_derives_from_the_one_root() -> None:
    """Each exception class the module defines is a SyncdError."""
    assert set(CLASSES) - {"SyncdError"}
    assert all(issubclass(cls, SyncdError) for cls in CLASSES.values())


def test_the_docstring_draws_the_tree_as_it_is() -> None:
    """Every class appears in the module docstring's tree, under its real base class."""
    parents = drawn_tree()
    assert set(parents) == set(CLASSES) - {"SyncdError"}
    for name, parent in parents.items():
        assert CLASSES[name].__bases__ == (CLASSES[parent],), name


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_transient_says_whether_retrying_soon_can_help(name: str) -> None:
    """Timeouts, throttling, outages and conflicts are transient; config, auth and not-found are not."""
    assert CLASSES[name].transient is (name in TRANSIENT)


def test_transient_is_inherited_down_the_tree() -> None:
    """A subclass of a transient error is transient too, so a new leaf cannot forget it."""
    for cls in CLASSES.values():
        for base in cls.__mro__[1:]:
            if isinstance(base, type) and issubclass(base, SyncdError) and base.transient:
                assert cls.transient, cls.__name__


@pytest.mark.parametrize(("pause", "shown"), [(0.2, 1), (1.0, 1), (59.1, 60), (60.0, 60)])
def test_rate_limited_names_the_source_and_a_whole_pause(pause: float, shown: int) -> None:
    """The message names the provider or sink and the pause rounded up to a whole second; the value is kept."""
    exc = RateLimited("vault sink v", pause)
    assert str(exc) == f"rate limited by vault sink v; retry after {shown} s"
    assert exc.source == "vault sink v" and exc.retry_after == pause
