"""Scrubbing credentials out of anything that is about to be shown.

Two layers, because neither alone is enough:

* **Known values.** Every credential syncd handles (API keys, tokens, fetched
  passwords and URIs) is registered with :func:`register` the moment it is
  loaded; any later occurrence, in any encoding syncd knows of (raw, URL- and
  JSON-escaped), is replaced. This catches vendor debug output that embeds a
  request body, which no pattern could recognise reliably.
* **Patterns.** Credentials syncd never saw (a token in a vendor error, a URI
  typed by someone else) are caught by shape: URI user-info, ``Bearer``
  headers, and ``password=``/``token:``-style pairs.

:func:`scrub` applies both to one string; :func:`scrub_value` walks containers.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

MASK = "***"
#: Shorter strings are too likely to be ordinary words to replace everywhere.
_MIN_LENGTH = 6
#: Known values kept; the oldest are dropped first. Rotation adds new values,
#: so the registry must be bounded for a daemon that runs for months.
_MAX_KNOWN = 16384

SENSITIVE_KEY = re.compile(
    r"pass(word|wd)?|pwd|token|secret|api[_-]?key|authorization|jwt|credential|"
    r"connection_?uri|^uri$|database_url|dsn",
    re.IGNORECASE,
)

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # scheme://user:password@host -> scheme://user:***@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s:/@\"'<>]*):[^\s@/\"'<>]+@"), rf"\1:{MASK}@"),
    # Authorization: Bearer xyz, token xyz
    (re.compile(r"(?i)\b(bearer|token|basic)(\s+)[A-Za-z0-9._~+/=\-]{6,}"), rf"\1\2{MASK}"),
    # password=..., "password": "...", X-Vault-Token: ..., secret_id=...
    (
        re.compile(
            r"(?i)((?:pass(?:word|wd)?|pwd|token|secret(?:_?id|string)?|api[_-]?key|"
            r"x-amz-security-token|jwt|authorization)[\"']?\s*[:=]\s*[\"']?)"
            r"(?!\*\*\*)[^\s\"',&;}]+"
        ),
        rf"\1{MASK}",
    ),
)


class _Registry:
    """The bounded set of known credential strings and their compiled matcher."""

    def __init__(self) -> None:
        self._values: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str) -> None:
        forms = {value, quote(value, safe=""), json.dumps(value)[1:-1]}
        with self._lock:
            changed = False
            for form in forms:
                if len(form) < _MIN_LENGTH:
                    continue
                if form in self._values:
                    self._values.move_to_end(form)
                    continue
                self._values[form] = None
                changed = True
            while len(self._values) > _MAX_KNOWN:
                self._values.popitem(last=False)
                changed = True
            if changed:
                self._pattern = None

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = None

    def pattern(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._values:
                # Longest first so a URI is masked whole before its password is.
                alternatives = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(map(re.escape, alternatives)))
            return self._pattern


_registry = _Registry()


def register(*values: str | None) -> None:
    """Remember credentials so that :func:`scrub` masks them wherever they appear."""
    for value in values:
        if value:
            _registry.add(value)


def forget_all() -> None:
    """Drop every registered credential (for tests)."""
    _registry.clear()


def scrub(text: str) -> str:
    """Return ``text`` with every known and every credential-shaped value masked."""
    known = _registry.pattern()
    if known is not None:
        text = known.sub(MASK, text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def scrub_value(value: Any, key: str | None = None) -> Any:
    """Scrub strings inside ``value``, masking whole values under sensitive keys."""
    if key is not None and value and SENSITIVE_KEY.search(key) and not isinstance(value, bool):
        return MASK
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {k: scrub_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub_value(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub(str(value))
