"""Tests for syncd.config: sources, precedence, and errors that name the problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from syncd import config
from syncd.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]

MINIMAL: dict[str, Any] = {
    "providers": {"casedev": {"type": "casedev"}},
    "sinks": {"local": {"type": "file", "directory": "/tmp/x"}},
    "targets": [
        {
            "name": "app",
            "provider": "casedev",
            "project": "proj_1",
            "sinks": [{"sink": "local", "secret": "app.env"}],
        }
    ],
}


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "syncd.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def error_of(tmp_path: Path, data: Any) -> str:
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        config.load(path)
    message = str(info.value)
    assert str(path) in message
    return message


def with_target(**changes: Any) -> dict[str, Any]:
    data = yaml.safe_load(yaml.safe_dump(MINIMAL))
    data["targets"][0].update(changes)
    return data


def test_example_config_is_valid() -> None:
    """The shipped, commented example loads and has the documented shape."""
    cfg = config.load(ROOT / "config" / "syncd.example.yaml")
    assert [t.name for t in cfg.targets] == ["app-main", "app-main-pooled"]
    main = cfg.targets[0]
    assert main.interval == 300 and main.sinks[1].format == "env"
    assert cfg.targets[1].interval == 900 and cfg.targets[1].sinks[0].format == "json"


def test_defaults_fill_in() -> None:
    """Branch main, direct, json and 15m are the defaults."""
    cfg = config.load(None, data=MINIMAL)
    target = cfg.targets[0]
    assert (target.branch, target.pooled, target.interval, target.sinks[0].format) == (
        "main",
        False,
        900,
        "json",
    )
    assert cfg.settings.concurrency == 8


def test_environment_overrides_file_and_cli_overrides_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CLI flags beat SYNCD_* variables, which beat the file."""
    path = write(tmp_path, {**MINIMAL, "concurrency": 3, "log": {"level": "warning"}})
    monkeypatch.setenv("SYNCD_CONCURRENCY", "5")
    monkeypatch.setenv("SYNCD_LOG__LEVEL", "error")
    monkeypatch.setenv("SYNCD_CONFIG", str(path))  # read by the CLI, not a setting: must not break
    cfg = config.load(path, {"log": {"level": "debug"}})
    assert cfg.settings.concurrency == 5
    assert cfg.settings.log.level == "debug"


def test_default_path_follows_syncd_config() -> None:
    """--config falls back to $SYNCD_CONFIG, then /etc/syncd/syncd.yaml."""
    assert config.default_path({"SYNCD_CONFIG": "/x.yaml"}) == Path("/x.yaml")
    assert config.default_path({}) == Path("/etc/syncd/syncd.yaml")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("log: [unclosed", "invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence that starts at line 1)"),
        ("- just\n- a list\n", "top level must be a mapping"),
        ({**MINIMAL, "concurency": 4}, "concurency: unknown key"),
        ({**MINIMAL, "log": {"level": "loud"}}, "log.level: Input should be"),
        (with_target(interval="5 minutes"), "interval: invalid duration '5 minutes'"),
        (with_target(interval="5s"), "interval must be at least 10s"),
        (with_target(jitter="200%"), "at most 100%"),
        (with_target(provider="neon"), "'neon' is not defined under providers"),
        (
            with_target(sinks=[{"sink": "vault", "secret": "x"}]),
            "'vault' is not defined under sinks",
        ),
        (with_target(project="../../admin"), "targets.0.project: String should match pattern"),
        (with_target(project="proj%2F"), "targets.0.project"),
        (
            with_target(sinks=[{"sink": "local", "secret": "../etc/passwd"}]),
            "invalid for sink 'local'",
        ),
        (
            with_target(sinks=[{"sink": "local", "secret": "a.env", "format": "xml"}]),
            "format: Input should be",
        ),
        (with_target(sinks=[{"sink": "local", "secret": "a.env", "env_var": "1BAD"}]), "env_var"),
        (with_target(sinks=[]), "sinks: List should have at least 1 item"),
        (
            with_target(pooled="maybe"),
            "targets.0.pooled: Input should be a valid boolean, unable to interpret input (got 'maybe')",
        ),
        ({**MINIMAL, "targets": MINIMAL["targets"] * 2}, "duplicate target name 'app'"),
        (
            {**MINIMAL, "providers": {"casedev": {"type": "casedev", "api_key": "x"}}},
            "providers.casedev.api_key: unknown key",
        ),
        (
            {**MINIMAL, "providers": {"casedev": {"type": "nope"}}},
            "unknown provider type 'nope'; available: casedev",
        ),
        (
            {**MINIMAL, "sinks": {"local": {"type": "file"}}},
            "sinks.local.directory: Field required",
        ),
    ],
)
def test_bad_config_names_key_and_value(tmp_path: Path, data: Any, expected: str) -> None:
    """Each kind of mistake is one message naming the file, the key and the value."""
    assert expected in error_of(tmp_path, data)


def test_two_targets_writing_one_secret(tmp_path: Path) -> None:
    """Two targets may not write the same secret of the same sink."""
    second = {**MINIMAL["targets"][0], "name": "other"}
    data = {**MINIMAL, "targets": [MINIMAL["targets"][0], second]}
    assert "'app.env' in sink 'local' is already written by target 'app'" in error_of(
        tmp_path, data
    )


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    """A missing file and a non-UTF-8 file are one-line errors."""
    with pytest.raises(ConfigError, match="no config file at .*absent.yaml"):
        config.load(tmp_path / "absent.yaml")
    bad = tmp_path / "bin.yaml"
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not UTF-8"):
        config.load(bad)


def test_secret_values_are_not_echoed(tmp_path: Path) -> None:
    """A wrong value under a secret-looking key is reported without showing it."""
    data = {
        **MINIMAL,
        "providers": {"casedev": {"type": "casedev", "api_key_file": ["s3cr3t-value"]}},
    }
    assert "s3cr3t-value" not in error_of(tmp_path, data)
