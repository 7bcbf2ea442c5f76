"""Tests for syncd.config.settings: sources, precedence, and errors that name the problem."""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncd.config import file as configfile
from syncd.config import settings as config
from syncd.config.durations import JitterRule
from syncd.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]

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


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    """A missing file and a non-UTF-8 file are one-line errors."""
    with pytest.raises(ConfigError, match=r"no config file at .*absent\.yaml"):
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


def test_instance_defaults_validates_and_comes_from_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`instance` defaults to "default", rejects names with '/', and SYNCD_INSTANCE sets it."""
    assert config.load(write(tmp_path, MINIMAL)).settings.instance == "default"
    assert "instance" in error_of(tmp_path, {**MINIMAL, "instance": "team/a"})
    monkeypatch.setenv("SYNCD_INSTANCE", "prod-eu-1")
    assert config.load(write(tmp_path, MINIMAL)).settings.instance == "prod-eu-1"


BASE = """\
providers:
  casedev:
    type: casedev
sinks:
  local:
    type: file
    directory: /tmp/x
targets:
  - name: app
    provider: casedev
    project: p1
    sinks:
      - sink: local
        secret: app.env
"""

BOMB = """a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_alias_bomb_in_a_plugin_section_is_refused_quickly(tmp_path: Path) -> None:
    """A billion-laughs alias bomb is refused within seconds instead of expanding."""
    bomb = "\n".join("    " + line for line in BOMB.splitlines())
    text = BASE.replace("    directory: /tmp/x\n", f"    directory: /tmp/x\n    extra:\n{bomb}\n")
    started = time.monotonic()
    message = error_of(tmp_path, text)
    assert time.monotonic() - started < 10
    assert "aliases (*name) expand this file beyond 250,000 values" in message


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    """An alias inside its own anchor is refused, not followed forever."""
    assert "nested more than 64 levels" in error_of(tmp_path, BASE + "defaults: &d {x: *d}\n")


def test_plain_aliases_and_merge_keys_still_work(tmp_path: Path) -> None:
    """Aliases that expand a little (as YAML writers emit for shared values) stay allowed."""
    text = BASE + (
        "  - &t\n    name: two\n    provider: casedev\n    project: p2\n"
        "    sinks: [{sink: local, secret: two.env}]\n"
        "  - <<: *t\n    name: three\n    sinks: [{sink: local, secret: three.env}]\n"
    )
    cfg = config.load(write(tmp_path, text))
    assert [(t.name, t.project) for t in cfg.targets] == [
        ("app", "p1"),
        ("two", "p2"),
        ("three", "p2"),
    ]


def test_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    """A config file over 1 MiB is refused with its size named."""
    text = BASE + "#" * (1024 * 1024) + "\n"
    assert "config file is too large (1,048,786 bytes); the limit is 1,048,576 bytes (1 MiB)" in error_of(tmp_path, text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            BASE + "log:\n  level: info\nlog:\n  level: debug\n",
            "line 17: duplicate key 'log' (first at line 15)",
        ),
        (
            BASE.replace("    project: p1\n", "    project: p1\n    project: p2\n"),
            "line 12: duplicate key 'project' (first at line 11)",
        ),
    ],
)
def test_duplicate_keys_are_refused(tmp_path: Path, text: str, expected: str) -> None:
    """A key given twice in one mapping is an error naming file and lines, not last-one-wins."""
    assert expected in error_of(tmp_path, text)


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


YAML_SAMPLES = (
    "a: ~\nb: 2001-12-14\nc: 0x1f\nd: .inf\ne: '1'\n1: x\nfalse: y\n",
    "f: [&q {a: 1, b: [x, 'y']}, *q, !!str 3, !!float 2]\ng: {h: {i: [[], {}]}}\n",
    "base: &b {x: 1, y: [1, 2]}\nt:\n  - <<: *b\n    y: 3\n  - {<<: [*b, {x: 9, w: true}], k: 1.5}\n",
    "a: !!binary aGVsbG8=\nb: !!set {x}\nc: !!omap [{k: 1}]\n",
)


@pytest.mark.parametrize("text", YAML_SAMPLES)
def test_parsed_data_is_what_pyyaml_builds(text: str) -> None:
    """The config reader yields exactly PyYAML's data, for plain documents and unusual ones."""
    expected = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    assert configfile.parse(text, "x.yaml").data == expected


def test_invalid_date_is_one_line_with_its_line_number() -> None:
    """A value PyYAML cannot build (month 13) is a config error naming the line, not a traceback."""
    with pytest.raises(ConfigError, match=r"^x.yaml: line 2: invalid value \(month must be in 1..12\)$"):
        configfile.parse("a: 1\nb: 2001-13-45\n", "x.yaml")


def test_garbage_collector_is_back_on_after_a_refused_config() -> None:
    """Reading a config pauses the garbage collector only while it parses, errors included."""
    assert gc.isenabled()
    with pytest.raises(ConfigError):
        configfile.parse("a: 1\na: 2\n", "x.yaml")
    assert gc.isenabled()
    with configfile.gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


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
