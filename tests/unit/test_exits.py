"""Tests for syncd.exits: the one place where an error becomes an exit code and a message."""

from __future__ import annotations

import pytest

from syncd import exits
from syncd.errors import (
    ConfigError,
    ListenError,
    PluginError,
    ProviderUnavailable,
    SinkAuthError,
    SyncdError,
    UsageError,
)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigError("x"), 2),
        (PluginError("x"), 2),
        (UsageError("x"), 2),
        (ListenError("x"), 2),
        (ProviderUnavailable("x"), 1),
        (SinkAuthError("x"), 1),
        (SyncdError("x"), 1),
    ],
)
def test_each_error_maps_to_its_documented_exit_code(error: SyncdError, code: int) -> None:
    """Usage, config, plugin and listener errors exit 2; every other SyncdError exits 1."""
    assert exits.code_for(error) == code


def test_every_line_of_a_multi_line_error_carries_the_prefix(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A config error with several problems prints each on its own prefixed line."""
    assert exits.report(ConfigError("first problem\nsecond problem")) == 2
    assert capsys.readouterr().err.splitlines() == [
        "syncd: config error: first problem",
        "syncd: config error: second problem",
    ]


def test_other_errors_are_one_plain_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    """A runtime error is printed as ``syncd: error: ...`` and exits 1."""
    assert exits.report(SinkAuthError("aws sink a: denied")) == 1
    assert capsys.readouterr().err == "syncd: error: aws sink a: denied\n"
