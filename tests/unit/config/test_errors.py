"""Tests for config error messages: one line naming where, what, and the closest valid choice."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.config import errors as configerrors
from syncd.config import settings as config
from syncd.errors import ConfigError
from tests.support.configfiles import BASE, MINIMAL, error_of, write


def test_secret_values_are_not_echoed(tmp_path: Path) -> None:
    """A wrong value under a secret-looking key is reported without showing it."""
    data = {
        **MINIMAL,
        "providers": {"casedev": {"type": "casedev", "api_key_file": ["s3cr3t-value"]}},
    }
    assert "s3cr3t-value" not in error_of(tmp_path, data)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            BASE.replace("  casedev:\n    type: casedev", "  casedev:\n  type: casedev"),
            "line 2: providers.casedev: nothing is set here; expected a mapping of keys (check indentation)",
        ),
        (
            BASE.replace("  casedev:\n    type: casedev", "  casedev:\n  type: casedev"),
            "line 3: providers.type: expected a mapping of keys, not the text 'casedev' (check indentation)",
        ),
        (
            BASE + "jitter: 10%\n",
            "line 15: jitter: unknown key 'jitter' here; it belongs under defaults or targets[] (check indentation)",
        ),
        (
            BASE + "        pooled: true\n",
            "line 15: targets.0.sinks.0.pooled: unknown key 'pooled' here; it belongs under targets[] (check indentation)",
        ),
        (
            BASE.replace(
                "      - sink: local\n        secret: app.env\n",
                "      sink: local\n      secret: app.env\n",
            ),
            "line 12: targets.0.sinks: expected a list of '- ' items, not a mapping (check indentation)",
        ),
        (
            BASE + "log: debug\n",
            "line 15: log: expected a mapping of keys, not the text 'debug' (check indentation)",
        ),
        (
            "log:\n  level: info\n   format: json\n",
            "line 3: a 'key: value' cannot start here (check indentation)",
        ),
        (
            "targets:\n  - name: a\n   - name: b\n",
            "line 3: this line does not line up with the list above it (check indentation)",
        ),
        (
            "a:\n    b: 1\n  c: 2\n",
            "line 3: this line does not line up with the keys above it (check indentation)",
        ),
        ("log:\n\tlevel: info\n", "line 2: a tab character indents this line"),
    ],
)
def test_indentation_mistakes_say_line_and_check_indentation(
    tmp_path: Path, text: str, expected: str
) -> None:
    """Mis-indentation reads as a line number and a hint, never a model name or raw parser text."""
    message = error_of(tmp_path, text)
    assert expected in message
    assert "PluginSection" not in message and "instance of" not in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            BASE.replace("    project: p1\n", "    project: p1\n    intervl: 5m\n"),
            "line 12: targets.0.intervl: unknown key 'intervl' (did you mean 'interval'?)",
        ),
        (
            BASE.replace("    type: casedev\n", "    type: casedev\n    base_ur: http://x\n"),
            "line 4: providers.casedev.base_ur: unknown key 'base_ur' (did you mean 'base_url'?)",
        ),
        (
            BASE.replace("    provider: casedev", "    provider: casedv"),
            "line 10: targets.0.provider: 'casedv' is not defined under providers (defined: casedev) (did you mean 'casedev'?)",
        ),
        (
            BASE.replace("      - sink: local", "      - sink: locl"),
            "line 13: targets.0.sinks.0.sink: 'locl' is not defined under sinks (defined: local) (did you mean 'local'?)",
        ),
        (
            BASE.replace("    type: casedev\n", "    type: casedv\n"),
            "unknown provider type 'casedv'; available: casedev, neon (did you mean 'casedev'?)",
        ),
        (
            BASE.replace("    project: p1\n", "    project: p1\n    interval: 5s\n"),
            "line 12: targets.0.interval: interval must be at least 10s (got '5s')",
        ),
    ],
)
def test_unknown_keys_and_names_suggest_the_closest(
    tmp_path: Path, text: str, expected: str
) -> None:
    """An unknown key or name is reported at its line with the closest valid one."""
    assert expected in error_of(tmp_path, text)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("SYNCD_CONCURRENCY", "abc", "SYNCD_CONCURRENCY: Input should be a valid integer"),
        ("SYNCD_LOG__LEVEL", "loud", "SYNCD_LOG__LEVEL: Input should be 'debug'"),
        (
            "SYNCD_LOG__LEVELL",
            "x",
            "SYNCD_LOG__LEVELL: unknown key 'levell' (did you mean 'level'?)",
        ),
        ("SYNCD_LOG", '{"level": "x"}', "SYNCD_LOG: level: Input should be"),
        (
            "SYNCD_PROVIDERS__CASEDEV__TIMEOUT",
            "abc",
            "SYNCD_PROVIDERS__CASEDEV__TIMEOUT: Input should be a valid number",
        ),
        (
            "SYNCD_LOG",
            "{bad",
            "SYNCD_LOG: not valid JSON (Expecting property name enclosed in double quotes at column 2)",
        ),
        (
            "SYNCD_METRICS",
            '{\n  "a": }',
            "SYNCD_METRICS: not valid JSON (Expecting value at line 2 column 8)",
        ),
    ],
)
def test_bad_environment_value_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    """A bad value from a SYNCD_ variable is reported against the variable, not the file."""
    path = write(tmp_path, BASE)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        config.load(path)
    message = str(info.value)
    assert message.startswith(expected) and str(path) not in message
    assert len(message.splitlines()) == 1


def test_unknown_environment_variables_are_listed_with_the_closest() -> None:
    """SYNCD_ variables that set nothing are found, with the nearest real one; SYNCD_CONFIG is not."""
    environ = {
        "SYNCD_CONCURENCY": "4",
        "SYNCD_CONFIG": "/x.yaml",
        "SYNCD_LOG__LEVEL": "info",
        "SYNCD_ZZZ": "1",
        "HOME": "/root",
    }
    assert config.unknown_environment(environ) == [
        ("SYNCD_CONCURENCY", "SYNCD_CONCURRENCY"),
        ("SYNCD_ZZZ", ""),
    ]


def test_suggest_names_the_closest_choice_or_nothing() -> None:
    """A near miss gets the closest choice in a hint; a word like none of them gets no hint."""
    assert configerrors.suggest("intervl", ["interval", "jitter"]) == " (did you mean 'interval'?)"
    assert configerrors.suggest("zzz", ["interval", "jitter"]) == ""


def test_syncd_environment_keeps_only_settings_variables() -> None:
    """Only SYNCD_ variables, in upper case and whatever case they came in, minus SYNCD_CONFIG, are settings."""
    environ = {"syncd_log__level": "info", "SYNCD_CONFIG": "/x.yaml", "HOME": "/root"}
    assert configerrors.syncd_environment(environ) == {"SYNCD_LOG__LEVEL": "info"}
