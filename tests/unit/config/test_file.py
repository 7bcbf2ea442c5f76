"""Tests for reading a config file: size and encoding bounds, duplicate keys, exactly PyYAML's data."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
import yaml

from syncd.config import file as configfile
from syncd.config import settings as config
from syncd.errors import ConfigError
from tests.support.configfiles import BASE, error_of


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    """A missing file and a non-UTF-8 file are one-line errors."""
    with pytest.raises(ConfigError, match=r"no config file at .*absent\.yaml"):
        config.load(tmp_path / "absent.yaml")
    bad = tmp_path / "bin.yaml"
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not UTF-8"):
        config.load(bad)


def test_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    """A config file over 1 MiB is refused with its size named."""
    text = BASE + "#" * (1024 * 1024) + "\n"
    assert (
        "config file is too large (1,048,786 bytes); the limit is 1,048,576 bytes (1 MiB)"
        in error_of(tmp_path, text)
    )


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
    with pytest.raises(
        ConfigError, match=r"^x.yaml: line 2: invalid value \(month must be in 1..12\)$"
    ):
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
