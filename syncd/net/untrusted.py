"""Text and JSON that come from outside syncd: flattened, capped, parsed within bounds.

A provider's or a store's answer, an error page, an SDK's error message: any
of it may hold newlines (one log event would print as several lines, one
report row as several rows), be as long as the server likes, or be JSON
nested deep enough that :func:`json.loads`, which recurses once per level,
raises :class:`RecursionError` instead of :class:`ValueError`. Everything here
is a leaf module (it imports nothing of syncd), so providers and sinks can
share it without an import cycle.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: How much outside text (an error message, a branch) a message may quote.
MAX_QUOTED = 200
#: The deepest JSON syncd parses from outside; real answers nest four or five levels.
MAX_JSON_DEPTH = 32

# Control characters, including the C1 set, and Unicode line/paragraph separators.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# A JSON string (escapes included), skipped whole so brackets inside it do not count.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
_OPENING = frozenset(b"[{")


class TooDeep(ValueError):
    """JSON nested deeper than allowed; a ValueError, so "not JSON" handlers catch it too."""


def one_line(text: str, limit: int = MAX_QUOTED) -> str:
    """``text`` as one line of at most ``limit`` characters, safe to quote in a message."""
    flat = _UNPRINTABLE.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def loads(raw: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """:func:`json.loads`, refusing nesting deeper than ``max_depth`` before parsing.

    Raises :class:`TooDeep` for deeper nesting and ValueError for anything
    that is not JSON. The depth is counted without recursing: strings are
    skipped by one regular expression, the brackets left are counted in a
    loop that stops at the first level too deep.
    """
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if data.count(b"[") + data.count(b"{") > max_depth:
        depth = 0
        for byte in _NOT_BRACKET.sub(b"", _STRING.sub(b"", data)):
            if byte in _OPENING:
                depth += 1
                if depth > max_depth:
                    raise TooDeep(f"nested deeper than {max_depth} levels")
            else:
                depth -= 1
    return json.loads(raw)
