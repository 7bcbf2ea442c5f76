"""Tests for syncd.config.settings: sources, precedence, and errors that name the problem."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncd.config import settings as config
from syncd.config.durations import JitterRule
from tests.support.configfiles import BASE, MINIMAL, error_of, with_target, write

ROOT = Path(__file__).resolve().parents[3]


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
        (
            "log: [unclosed",
            "invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence that starts at line 1)",
        ),
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
            "unknown provider type 'nope'; available: casedev, neon",
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


def test_instance_defaults_validates_and_comes_from_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`instance` defaults to "default", rejects names with '/', and SYNCD_INSTANCE sets it."""
    assert config.load(write(tmp_path, MINIMAL)).settings.instance == "default"
    assert "instance" in error_of(tmp_path, {**MINIMAL, "instance": "team/a"})
    monkeypatch.setenv("SYNCD_INSTANCE", "prod-eu-1")
    assert config.load(write(tmp_path, MINIMAL)).settings.instance == "prod-eu-1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the config file is empty; define at least one under 'targets:'"),
        ("# rendered from nothing\n", "the config file is empty"),
        (BASE.split("targets:", maxsplit=1)[0], "no targets are configured"),
    ],
)
def test_config_without_targets_is_an_error(tmp_path: Path, text: str, expected: str) -> None:
    """An empty file or one without targets must not load as a healthy, idle config."""
    assert expected in error_of(tmp_path, text)


def test_locate_says_how_the_path_was_chosen() -> None:
    """The config path comes from --config, then $SYNCD_CONFIG, then the default, and says which."""
    assert config.locate(Path("/a.yaml"), {"SYNCD_CONFIG": "/b.yaml"}) == config.Located(
        Path("/a.yaml"), "given by --config"
    )
    assert config.locate(None, {"SYNCD_CONFIG": "/b.yaml"}).origin.startswith("from $SYNCD_CONFIG")
    assert "$SYNCD_CONFIG is not set" in config.locate(None, {}).origin


def test_large_config_loads_in_reasonable_time(tmp_path: Path) -> None:
    """A 2,000-target config under the size cap parses and validates (libyaml keeps it quick)."""
    data = yaml.safe_load(yaml.safe_dump(MINIMAL))
    data["targets"] = [
        {**data["targets"][0], "name": f"t{i}", "sinks": [{"sink": "local", "secret": f"t{i}.env"}]}
        for i in range(2000)
    ]
    started = time.monotonic()
    cfg = config.load(write(tmp_path, data))
    assert len(cfg.targets) == 2000 and time.monotonic() - started < 30


def test_each_target_carries_its_whole_schedule() -> None:
    """A target holds its interval and its jitter (its own, else the defaults', else 10%)."""
    data = with_target(interval="20m", jitter="30s")
    data["targets"].append({**MINIMAL["targets"][0], "name": "other", "sinks": []})
    data["targets"][1]["sinks"] = [{"sink": "local", "secret": "other.env"}]
    data["defaults"] = {"jitter": "5%"}
    first, second = config.load(None, data=data).targets
    assert (first.interval, first.jitter, first.jitter.seconds(first.interval)) == (
        1200,
        JitterRule(30.0, relative=False),
        30.0,
    )
    assert (second.interval, second.jitter.seconds(second.interval)) == (900, 45.0)
    assert config.load(None, data=MINIMAL).targets[0].jitter == JitterRule(0.1, relative=True)


def test_loaded_config_keeps_one_copy_of_the_targets(tmp_path: Path) -> None:
    """After loading, the targets live only as Target objects, not also as validated models."""
    cfg = config.load(write(tmp_path, MINIMAL))
    assert cfg.targets
    assert cfg.settings.targets == []


@pytest.mark.parametrize(
    ("binding", "expected"),
    [
        (
            {"format": "env", "preset": "prsma"},
            "targets.0.sinks.0.preset: unknown preset; use one of libpq, prisma, spring "
            "(did you mean 'prisma'?) (got 'prsma')",
        ),
        (
            {"format": "env", "keys": {"DB": "pooled_url"}},
            "targets.0.sinks.0.keys.DB: unknown field; use one of uri, pooled_uri, direct_uri, "
            "jdbc_url, host, port, user, password, dbname, sslmode (did you mean 'pooled_uri'?)",
        ),
        (
            {"format": "env", "keys": {"1DB": "uri"}},
            "targets.0.sinks.0.keys: '1DB' is not a variable name",
        ),
        ({"format": "env", "keys": {}}, "targets.0.sinks.0.keys: is empty"),
        (
            {"format": "env", "keys": {"DB": "uri"}, "preset": "libpq"},
            "targets.0.sinks.0: preset and keys exclude each other; use one",
        ),
        (
            {"format": "uri", "preset": "libpq"},
            "targets.0.sinks.0: format uri holds one URI; keys and preset need format env or json",
        ),
        (
            {"format": "env", "preset": "spring", "env_var": "X"},
            "targets.0.sinks.0: env_var names the one variable of a plain env binding",
        ),
    ],
)
def test_keys_and_presets_mistakes_are_one_line_each(
    tmp_path: Path, binding: dict[str, Any], expected: str
) -> None:
    """A wrong preset or field name, or a combination that cannot work, is one line with a hint."""
    message = error_of(tmp_path, with_target(sinks=[{"sink": "local", "secret": "a.env", **binding}]))
    assert "\n" not in message
    assert expected in message


def test_a_keys_value_is_never_echoed(tmp_path: Path) -> None:
    """A password pasted as a keys value is not repeated in the error."""
    binding = {"sink": "local", "secret": "a.env", "format": "env", "keys": {"PGPASSWORD": "hunter2-xyz"}}
    message = error_of(tmp_path, with_target(sinks=[binding]))
    assert "keys.PGPASSWORD: unknown field" in message and "hunter2" not in message


def test_keys_and_presets_need_a_keyed_default_format(tmp_path: Path) -> None:
    """With defaults.format uri, a binding with a preset must set its own format."""
    data = with_target(sinks=[{"sink": "local", "secret": "a.env", "preset": "libpq"}])
    data["defaults"] = {"format": "uri"}
    assert "targets.0.sinks.0.preset: needs format env or json, and defaults.format is uri" in (
        error_of(tmp_path, data)
    )


def test_keys_and_presets_load_into_bindings() -> None:
    """keys keep their order; a preset is kept by name; the format defaults as before."""
    data = with_target(
        sinks=[
            {"sink": "local", "secret": "a.env", "format": "env", "keys": {"Z": "uri", "A": "port"}},
            {"sink": "local", "secret": "b.json", "preset": "prisma"},
        ]
    )
    keyed, preset = config.load(None, data=data).targets[0].sinks
    assert (keyed.format, keyed.keys, keyed.preset) == ("env", (("Z", "uri"), ("A", "port")), None)
    assert (preset.format, preset.keys, preset.preset) == ("json", (), "prisma")
