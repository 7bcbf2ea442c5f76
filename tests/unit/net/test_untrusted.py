"""Outside text and JSON (syncd.net.untrusted): one line, capped, parsed within a depth limit."""

from __future__ import annotations

import json
import time

import pytest

from syncd.net import untrusted
from syncd.net.untrusted import MAX_JSON_DEPTH, TooDeep, loads, one_line


@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_json_nested_100000_deep_is_refused_quickly(opening: str) -> None:
    """100,000 levels of arrays or objects are TooDeep (a ValueError), not a RecursionError."""
    raw = (opening * 100_000).encode()
    started = time.monotonic()
    with pytest.raises(TooDeep, match=f"deeper than {MAX_JSON_DEPTH} levels"):
        loads(raw)
    assert time.monotonic() - started < 1
    assert issubclass(TooDeep, ValueError)


def test_depth_up_to_the_limit_parses() -> None:
    """Exactly MAX_JSON_DEPTH levels parse; one more is refused."""
    ok = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert loads(ok) == json.loads(ok)
    deeper = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    with pytest.raises(TooDeep):
        loads(deeper)


def test_brackets_inside_strings_do_not_count() -> None:
    """Brackets and escaped quotes inside strings are text, not nesting."""
    text = '{"a": "' + "[{" * 5000 + '\\"[[[", "b": ["x\\\\", "]]"]}'
    assert loads(text) == json.loads(text)
    assert loads(text.encode()) == json.loads(text)


def test_many_shallow_items_parse() -> None:
    """A wide answer (many small objects) is not mistaken for a deep one."""
    wide = json.dumps({"Tags": [{"Key": f"k{i}", "Value": "[v]"} for i in range(5000)]})
    assert loads(wide)["Tags"][4999] == {"Key": "k4999", "Value": "[v]"}


def test_not_json_is_still_a_value_error() -> None:
    """Malformed input fails as json.loads does, whatever its brackets."""
    for raw in (b"<html>", b"]" * 100 + b"[" * 100, b'"unterminated [[[[' + b"[" * 40):
        with pytest.raises(ValueError):
            loads(raw)


def test_one_line_flattens_and_caps() -> None:
    """Line breaks, control characters and Unicode separators become spaces; long text is cut."""
    assert one_line("a\nb\r\n\tc\u2028d\x85e") == "a b c d e"
    assert one_line("x" * 500, 20) == "x" * 17 + "..."
    assert untrusted.MAX_QUOTED == 200
