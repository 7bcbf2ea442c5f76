"""The libpq connection URI grammar: what syncd accepts from a provider, and how it writes one.

A provider's URI is untrusted text that several parsers (libpq, psycopg,
JDBC drivers, ORMs) will read again once syncd has written it. :func:`split`
accepts only URIs that every one of them reads the same way, and :func:`check`
refuses parts that no renderer could write safely; :func:`render` writes the
parts back with every one percent-encoded.
:class:`~syncd.core.models.ConnectionInfo` holds the parts and calls all
three, so its URI and its fields never disagree.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import quote, unquote

#: sslmode values that refuse an unencrypted connection.
TLS_SSLMODES = frozenset({"require", "verify-ca", "verify-full"})
DEFAULT_PORT = 5432


class InvalidConnectionURI(ValueError):
    """A connection URI is unusable; the message never contains the URI."""


#: What :func:`split` returns, in this order: scheme, host (lower-cased), port,
#: whether the URI named the port, user, password, database, query parameters;
#: every part decoded. A plain tuple: it is unpacked at once, on every fetch.
Parts = tuple[str, str, int, bool, str, str, str, tuple[tuple[str, str], ...]]


def split(uri: str) -> Parts:
    """Validate ``uri`` and split it into its parts.

    Raises :class:`InvalidConnectionURI` unless the URI is ``postgres(ql)://``
    with a user, a password, a host and a database, is at most
    :data:`MAX_URI_LENGTH` characters, and reads the same to every parser: no
    control character, whitespace or non-ASCII character, exactly one
    unencoded ``@``, no ``:`` in the user, no fragment, no malformed query
    parameter, valid percent-encoding. What :func:`check` refuses (a repeated
    parameter, no TLS) is left to it.
    """
    if len(uri) > MAX_URI_LENGTH:
        raise InvalidConnectionURI(f"connection URI is longer than {MAX_URI_LENGTH} characters")
    if _CONTROL.search(uri):
        raise InvalidConnectionURI("connection URI contains a control character")
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme not in SCHEMES:
        raise InvalidConnectionURI("connection URI is not a postgres:// or postgresql:// URI")
    if not rest.isascii() or " " in rest:
        raise InvalidConnectionURI("connection URI contains a space or a non-ASCII character")
    if "#" in rest:
        raise InvalidConnectionURI("connection URI has a fragment (an unencoded '#')")
    authority, query_sep, query = rest.partition("?")
    authority, path_sep, path = authority.partition("/")
    if authority.count("@") > 1 or "@" in path or "@" in query:
        raise InvalidConnectionURI(
            "connection URI has an unencoded '@' (ambiguous user information)"
        )
    userinfo, at, hostport = authority.rpartition("@")
    user, _, password = userinfo.partition(":")
    host, port_text, port_given = _split_hostport(hostport)
    missing = [
        name
        for name, value in (
            ("user", at and user),
            ("password", at and password),
            ("host", host),
            ("database", path_sep and path),
        )
        if not value
    ]
    if missing:
        raise InvalidConnectionURI(f"connection URI has no {', '.join(missing)}")
    params = _parse_query(query) if query_sep else ()
    return (
        scheme,
        host.lower(),
        _parse_port(port_text) if port_given else DEFAULT_PORT,
        port_given,
        _decode(user, "user", _USERINFO),
        _decode(password, "password", _PASSWORD),
        _decode(path, "database", _PATH),
        params,
    )


def render(
    *,
    scheme: str,
    username: str,
    password: str,
    host: str,
    port: int,
    port_in_uri: bool,
    dbname: str,
    params: tuple[tuple[str, str], ...],
) -> str:
    """The canonical URI of the parts: every part percent-encoded.

    The port is named when the provider's URI named it, or when it is not 5432.
    """
    host = f"[{host}]" if ":" in host else host
    shown = f":{port}" if port_in_uri or port != DEFAULT_PORT else ""
    query = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in params)
    return f"{scheme}://{_enc(username)}:{_enc(password)}@{host}{shown}/{_enc(dbname)}?{query}"


def check(
    *,
    scheme: str,
    host: str,
    port: int,
    username: str,
    password: str,
    dbname: str,
    params: tuple[tuple[str, str], ...],
) -> None:
    """Refuse parts that no renderer could write safely, or that do not require TLS.

    Raises :class:`InvalidConnectionURI`.
    """
    if scheme not in SCHEMES:
        raise InvalidConnectionURI("connection URI is not a postgres:// or postgresql:// URI")
    _check_host(host)
    if not 1 <= port <= _MAX_PORT:
        raise InvalidConnectionURI("connection URI has an invalid port (need 1-65535)")
    for part, value in (("user", username), ("password", password), ("database", dbname)):
        if not value:
            raise InvalidConnectionURI(f"connection URI has no {part}")
        if _CONTROL.search(value):
            raise InvalidConnectionURI(f"connection URI's {part} contains a control character")
    _check_params(params)


#: The longest connection URI syncd accepts from a provider.
MAX_URI_LENGTH = 4096
SCHEMES = frozenset({"postgres", "postgresql"})
# C0 controls, DEL and the C1 controls: any of them could end a line or a field.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# What RFC 3986 allows unencoded, per part; the user gets no ':' (the first ':'
# ends it) and the database no '/'.
_PCT = r"%[0-9A-Fa-f]{2}"
_UNRESERVED_SUBDELIMS = r"[A-Za-z0-9\-._~!$&'()*+,;=]"
_USERINFO = re.compile(rf"(?:{_UNRESERVED_SUBDELIMS}|{_PCT})*")
_PATH = re.compile(rf"(?:{_UNRESERVED_SUBDELIMS}|{_PCT}|:)*")
_PASSWORD = _PATH
_QUERY_PART = re.compile(rf"(?:[A-Za-z0-9\-._~!$'()*+,;:/?]|{_PCT})*")
_PARAM_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")
_DNS_NAME = re.compile(
    r"(?=.{1,253}\.?\Z)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?"
)
_SSLMODE_WORD = re.compile(r"[a-z-]{1,16}")
_MAX_PORT = 65535


def _enc(value: str) -> str:
    return quote(value, safe="")


def _split_hostport(hostport: str) -> tuple[str, str, bool]:
    """Split ``host[:port]`` or ``[v6][:port]``; the host keeps no brackets."""
    if hostport.startswith("["):
        host, bracket, rest = hostport[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise InvalidConnectionURI("connection URI cannot be parsed: malformed IPv6 host")
        return host, rest[1:], bool(rest)
    host, colon, port = hostport.partition(":")
    return host, port, bool(colon)


def _parse_port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= _MAX_PORT:
        raise InvalidConnectionURI("connection URI cannot be parsed: invalid port (need 1-65535)")
    return int(text)


def _decode(raw: str, part: str, allowed: re.Pattern[str]) -> str:
    """Percent-decode one part, refusing characters its grammar does not allow."""
    if not allowed.fullmatch(raw):
        raise InvalidConnectionURI(
            f"connection URI has a character not allowed in the {part} "
            "(not percent-encoded, or a broken %-escape)"
        )
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise InvalidConnectionURI(f"connection URI's {part} is not UTF-8 once decoded") from None


def _parse_query(query: str) -> tuple[tuple[str, str], ...]:
    """Parse ``k=v&k=v`` the way libpq does: no '+' for space, no repeats."""
    params: list[tuple[str, str]] = []
    for item in query.split("&"):
        key, eq, value = item.partition("=")
        if not eq:
            raise InvalidConnectionURI("connection URI has a query parameter without '='")
        params.append(
            (
                _decode(key, "query parameter names", _QUERY_PART),
                _decode(value, "query parameter values", _QUERY_PART),
            )
        )
    return tuple(params)


def _check_params(params: tuple[tuple[str, str], ...]) -> None:
    seen: set[str] = set()
    for key, value in params:
        if not _PARAM_KEY.fullmatch(key):
            raise InvalidConnectionURI(
                "connection URI has a query parameter name that is not a libpq keyword "
                "(lower-case letters, digits, '_')"
            )
        if key in seen:
            raise InvalidConnectionURI(f"connection URI repeats the query parameter {key}")
        seen.add(key)
        if _CONTROL.search(value):
            raise InvalidConnectionURI(
                f"connection URI's query parameter {key} contains a control character"
            )
    sslmode = dict(params).get("sslmode", "")
    if sslmode not in TLS_SSLMODES:
        shown = sslmode if _SSLMODE_WORD.fullmatch(sslmode) else "unset" if not sslmode else "?"
        raise InvalidConnectionURI(
            f"connection URI does not require TLS (sslmode={shown}; need one of "
            f"{', '.join(sorted(TLS_SSLMODES))})"
        )


def _check_host(host: str) -> None:
    if ":" in host:
        if "%" in host:  # a zone id means nothing off this machine
            raise InvalidConnectionURI("connection URI cannot be parsed: malformed IPv6 host")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise InvalidConnectionURI(
                "connection URI cannot be parsed: malformed IPv6 host"
            ) from None
    elif not _DNS_NAME.fullmatch(host):
        raise InvalidConnectionURI(
            "connection URI has an invalid host (need a DNS name or an IP address)"
        )
