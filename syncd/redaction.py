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

_KEYS = (
    r"(?:pass(?:word|wd)?|pwd|token|secret(?:_?id|string)?|client_secret|api[_-]?key|jwt|"
    r"x-vault-token|x-amz-security-token|authorization)"
)
_VALUE = r"(?!\*\*\*)[^\s\"',&;}]+"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # scheme://user:password@host -> scheme://user:***@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s:/@\"'<>]*):[^\s@/\"'<>]+@"), rf"\1:{MASK}@"),
    # Authorization: Bearer xyz / Basic xyz / token xyz (the last only as a header scheme:
    # "the token itself" in prose must survive)
    (
        re.compile(r"(?i)(\bbearer|\bbasic|authorization:\s*token)(\s+)[A-Za-z0-9._~+/=\-]{6,}"),
        rf"\1\2{MASK}",
    ),
    # password=..., secret_id=xyz (assignments)
    (re.compile(rf"(?i)((?<![a-z0-9_-]){_KEYS}\s*=\s*[\"']?){_VALUE}"), rf"\1{MASK}"),
    # "password": "...", 'token': ... (quoted keys, as in JSON, YAML and Python reprs)
    (re.compile(rf"(?i)([\"']{_KEYS}[\"']\s*:\s*[\"']?){_VALUE}"), rf"\1{MASK}"),
    # X-Vault-Token: ..., Authorization: ... (headers)
    (
        re.compile(
            rf"(?i)((?<![a-z0-9_-])(?:x-vault-token|x-amz-security-token|authorization)\s*:\s*)"
            rf"{_VALUE}"
        ),
        rf"\1{MASK}",
    ),
)


class _Registry:
    """The bounded set of known credential strings, indexed for a linear-time scan.

    No regular expression is built from the values: a daemon registers a new
    credential at every rotation, and recompiling an alternation of thousands
    of values each time (which ``re`` would also keep in its cache) costs time
    and memory that grow with the fleet. Instead each value is indexed by its
    first :data:`_MIN_LENGTH` characters, and :meth:`mask` looks up every
    window of the text once: O(len(text)) per scrub, O(1) per registration.
    """

    def __init__(self) -> None:
        self._values: OrderedDict[str, None] = OrderedDict()
        # prefix -> values with that prefix, longest first; tuples are replaced, never
        # mutated, so a scan in another thread always sees a consistent snapshot.
        self._index: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        forms = {value, quote(value, safe=""), json.dumps(value)[1:-1]}
        with self._lock:
            for form in forms:
                if len(form) < _MIN_LENGTH:
                    continue
                if form in self._values:
                    self._values.move_to_end(form)
                    continue
                self._values[form] = None
                key = form[:_MIN_LENGTH]
                bucket = (*self._index.get(key, ()), form)
                self._index[key] = tuple(sorted(bucket, key=len, reverse=True))
            while len(self._values) > _MAX_KNOWN:
                oldest, _ = self._values.popitem(last=False)
                key = oldest[:_MIN_LENGTH]
                rest = tuple(v for v in self._index.get(key, ()) if v != oldest)
                if rest:
                    self._index[key] = rest
                else:
                    self._index.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._index = {}

    def __len__(self) -> int:
        return len(self._values)

    def mask(self, text: str) -> str:
        """Replace every known value in ``text``; longest match first at each position."""
        index = self._index
        if not index:
            return text
        parts: list[str] = []
        start = i = 0
        end = len(text) - _MIN_LENGTH
        while i <= end:
            candidates = index.get(text[i : i + _MIN_LENGTH])
            match = (
                next((v for v in candidates if text.startswith(v, i)), None) if candidates else None
            )
            if match is None:
                i += 1
                continue
            parts += (text[start:i], MASK)
            i = start = i + len(match)
        if not parts:
            return text
        parts.append(text[start:])
        return "".join(parts)


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
    text = _registry.mask(text)
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
