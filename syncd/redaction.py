"""Scrubbing credentials out of anything that is about to be shown.

Two layers, because neither alone is enough:

* **Known values.** Every credential syncd handles (API keys, tokens, AWS
  keys, fetched passwords and URIs) is registered with :func:`register` the
  moment it is loaded; any later occurrence, in every encoding a log line can
  carry it in, is replaced: raw, URL-encoded, JSON-escaped once and twice (a
  JSON document inside a JSON request body), as a Python ``str``/``bytes``
  repr of any of those (how botocore prints a body), and base64 (which a
  hostile server can echo: base64-looking runs are decoded at every offset
  and masked whole when they hold a known value, so base64 costs no stored
  form). This catches vendor debug output that embeds a
  request body, which no pattern could recognise reliably. A known value of
  any length is masked: one of 6 characters or more wherever it appears, a
  shorter one only as a whole token (its neighbours are not letters, digits
  or ``_``), so that a 3-character password does not eat every word it is
  part of.
* **Patterns.** Credentials syncd never saw (a token in a vendor error, a URI
  typed by someone else) are caught by shape: URI user-info, ``Bearer``
  headers, and ``password=``/``token:``-style pairs.

Lifetimes: long-lived credentials (API keys, Vault and AWS tokens) are
registered ``pinned=True`` and never evicted. A credential that changes over
time is registered under a ``slot`` naming what holds it, which keeps its
current and previous value: a target's database password (one slot per
provider, target and role, so every credential any target holds now is
masked, at any number of targets), an AWS session token, a Vault login.
Other values (a provider's raw answer, a reset's password) age out of a
bounded LRU.

:func:`scrub` applies both to one string; :func:`scrub_value` walks containers.
The known values' encodings and their index are :mod:`syncd.knownvalues`.
Which mapping keys hold credentials (:data:`SENSITIVE_KEY`) is precise: a key
names a credential (``password``, ``api_key``, ``session_token``), not merely
contains a word such as ``secret``: secret *names* are identifiers and stay
readable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from syncd.knownvalues import MASK, Registry, encodings

__all__ = [
    "MASK",
    "SENSITIVE_KEY",
    "connection_slot",
    "encodings",
    "forget_all",
    "forget_target",
    "register",
    "scrub",
    "scrub_value",
]

_CREDENTIAL_KEYS = (
    r"pass(?:word|wd|phrase)?|pwd|token|api_?key|secret_?(?:id|key|string|access_key)|"
    r"client_?secret|authorization|jwt|credentials?|private_?key|cookie|"
    r"connection_?(?:uri|string)|uri|dsn|database_?url"
)
#: A mapping key whose value is a credential: the key *ends* with a credential word,
#: after a separator or a camelCase hump (``password``, ``db_password``,
#: ``X-Amz-Security-Token``, ``sessionToken``), but not ``secret`` (a name),
#: ``secret_name`` or ``api_key_file`` (a path).
SENSITIVE_KEY = re.compile(
    rf"(?:^|[_.\-]|(?-i:(?<=[a-z0-9])(?=[A-Z])))(?:{_CREDENTIAL_KEYS})$", re.IGNORECASE
)

_KEYS = (
    r"(?:pass(?:word|wd)?|pwd|token|secret_id|secret_?string|client_secret|api[_-]?key|jwt|"
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
    # "password": "...", 'token': ..., 'X-Amz-Security-Token': b'...' (quoted keys, as in
    # JSON, YAML and Python reprs, bytes values included)
    (re.compile(rf"(?i)([\"']{_KEYS}[\"']\s*:\s*(?:b?[\"'])?){_VALUE}"), rf"\1{MASK}"),
    # X-Vault-Token: ..., Authorization: ... (headers)
    (
        re.compile(
            rf"(?i)((?<![a-z0-9_-])(?:x-vault-token|x-amz-security-token|authorization)\s*:\s*)"
            rf"(?:b?[\"'])?{_VALUE}"
        ),
        rf"\1{MASK}",
    ),
)

#: For each of _PATTERNS, substrings (lower case) one of which every match contains.
_NEEDLES: tuple[tuple[str, ...], ...] = (
    ("://",),
    ("bearer", "basic", "authorization"),
    ("=",),
    (":",),
    (":",),
)


_registry = Registry()


def register(*values: str | None, pinned: bool = False, slot: str | None = None) -> None:
    """Remember credentials so that :func:`scrub` masks them wherever they appear.

    By default the values age out after many newer registrations (fetched
    database credentials). ``pinned=True`` keeps them for the process's life
    (API keys, static tokens). ``slot`` names one credential that a library
    refreshes (``"aws:<sink>"``): each call with new values starts a generation,
    and only the latest :data:`~syncd.knownvalues.SLOT_GENERATIONS` are kept.
    """
    present = [value for value in values if value]
    if present:
        _registry.add(present, pinned=pinned, slot=slot)


def connection_slot(provider: str, target: str, role: str) -> str:
    """The slot of the password ``target`` holds as ``role``, fetched from ``provider``."""
    return f"conn:{provider}:{target}:{role}"


def forget_target(provider: str, target: str) -> int:
    """Forget the passwords of a target that is gone (a reload removed it); how many slots.

    Its credentials are no longer held by syncd, so keeping them known would
    only grow the registry with every reload.
    """
    return _registry.drop_slots(f"conn:{provider}:{target}:")


def forget_all() -> None:
    """Drop every registered credential (for tests)."""
    _registry.clear()


def scrub(text: str) -> str:
    """Return ``text`` with every known and every credential-shaped value masked."""
    text = _registry.mask(text)
    # Most text (a report row, a log line) holds none of the words a pattern needs:
    # a substring test is far cheaper than a regular expression. Only for ASCII text,
    # where lower() agrees with the patterns' IGNORECASE (Unicode folding does not).
    lowered = text.lower() if text.isascii() else None
    for (pattern, replacement), needles in zip(_PATTERNS, _NEEDLES, strict=True):
        if lowered is None or any(needle in lowered for needle in needles):
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
