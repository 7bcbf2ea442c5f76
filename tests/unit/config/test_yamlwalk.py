"""Tests for walking a YAML node tree: aliases and nesting are bounded, merge keys still work."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from syncd.config import file as configfile
from syncd.config import settings as config
from syncd.config import yamlwalk
from syncd.errors import ConfigError
from tests.support.configfiles import BASE, error_of, write

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


def test_nesting_up_to_the_limit_is_read() -> None:
    """A document nested exactly MAX_DEPTH levels deep is still read."""
    depth = yamlwalk.MAX_DEPTH - 1  # inside the mapping: exactly the limit
    text = "[" * depth + "1" + "]" * depth
    data = configfile.parse(f"a: {text}\n", "x.yaml").data
    for _ in range(depth + 1):
        data = data["a"] if isinstance(data, dict) else data[0]
    assert data == 1


def test_nesting_past_the_limit_is_refused() -> None:
    """One level past MAX_DEPTH is a config error, not a recursion error."""
    depth = yamlwalk.MAX_DEPTH  # inside the mapping: one level too many
    text = "[" * depth + "1" + "]" * depth
    with pytest.raises(ConfigError, match="nested more than 64 levels"):
        configfile.parse(f"a: {text}\n", "x.yaml")


def test_an_alias_expanding_past_the_node_limit_is_refused() -> None:
    """A list of aliases worth more than MAX_NODES values is refused, however small the file."""
    text = "a: &a [" + ", ".join(["x"] * 1000) + "]\nb: [" + ", ".join(["*a"] * 300) + "]\n"
    with pytest.raises(ConfigError, match="beyond 250,000 values"):
        configfile.parse(text, "x.yaml")
