"""Rendering a connection into the documents applications read.

``json``
    An AWS-RDS-compatible secret (``engine``, ``host``, ``port``, ``username``,
    ``password``, ``dbname``) plus ``sslmode`` (and ``channel_binding`` when the
    URI has it), so a client that builds its connection from the fields keeps
    TLS, and ``uri``, ``pooled``, ``branch`` and ``project``, so existing RDS
    tooling and rotation-aware drivers read it.
``uri``
    The connection URI alone.
``env``
    ``DATABASE_URL=<uri>`` (variable name configurable), a line loadable by
    systemd ``EnvironmentFile=``, ``docker --env-file`` and python-dotenv; the
    value is not quoted because docker's parser takes quotes literally. It is
    not shell syntax: the ``&`` between query parameters means something else
    to ``sh``, so load it with one of those, not with ``. file``.

A binding's ``keys`` (or a ``preset``, a named set of keys) replace the
single URI of ``env`` and the RDS fields of ``json``: each ``NAME`` gets one
of :data:`FIELDS`, as a ``NAME=value`` line or a JSON string. A value those
three loaders would not read alike (a space, a quote, ``#``, ``$``, a
backslash, a control character: :func:`env_safe`) fails the binding rather
than being quoted, since no quoting reads the same in all three. Fields
holding a URI are percent-encoded and so always safe.

Every format is rendered from the validated parts of a
:class:`~syncd.core.models.ConnectionInfo` (never from a provider's text), and each
renderer also refuses, with :class:`~syncd.core.models.InvalidConnectionURI`, a
value it cannot hold on one line, so a second line, and with it a second
variable, can never be written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from urllib.parse import quote

from syncd.core.models import ConnectionInfo, Document, InvalidConnectionURI, SinkBinding

FORMATS = ("json", "uri", "env")
#: The formats that take ``keys`` or a ``preset``.
KEYED_FORMATS = ("env", "json")
ENV_VAR_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# What the uri and env formats may contain: printable ASCII without spaces or
# quotes, which is all a percent-encoded URI ever needs.
_ONE_LINE_URI = re.compile(r"[!#-&(-~]+")

#: A binding's ``keys``: ``(NAME, field)`` pairs, in the order written.
Keys = tuple[tuple[str, str], ...]

#: What a ``keys`` entry may name. ``uri`` is the target's own connection;
#: ``pooled_uri`` and ``direct_uri`` are the pooled and the direct one, one of
#: which is the target's and the other fetched with it; the rest are parts of
#: the target's connection (``jdbc_url`` names no credential).
FIELDS = (
    "uri",
    "pooled_uri",
    "direct_uri",
    "jdbc_url",
    "host",
    "port",
    "user",
    "password",
    "dbname",
    "sslmode",
)
# Only presets use it: left out when the URI has no channel_binding.
_CHANNEL_BINDING = "channel_binding"

#: Named sets of keys (``preset:``); see the README's "Using the secret from your application".
PRESETS: dict[str, Keys] = {
    "libpq": (
        ("PGHOST", "host"),
        ("PGPORT", "port"),
        ("PGUSER", "user"),
        ("PGPASSWORD", "password"),
        ("PGDATABASE", "dbname"),
        ("PGSSLMODE", "sslmode"),
        ("PGCHANNELBINDING", _CHANNEL_BINDING),
    ),
    "prisma": (("DATABASE_URL", "pooled_uri"), ("DIRECT_URL", "direct_uri")),
    "spring": (
        ("SPRING_DATASOURCE_URL", "jdbc_url"),
        ("SPRING_DATASOURCE_USERNAME", "user"),
        ("SPRING_DATASOURCE_PASSWORD", "password"),
    ),
}

# What an env value may hold so that systemd, docker and python-dotenv all read
# it as written: printable ASCII but space " # $ ' \ (quotes, comments,
# expansion and escapes differ between them), or a printable non-ASCII
# character that is not whitespace (python-dotenv strips Unicode whitespace).
_ENV_ASCII = re.compile(r"[!%&(-\[\]-~]")


class UnsafeEnvValue(ValueError):
    """A value cannot be written as an env line read alike everywhere; names the key only."""


def keys_of(binding: SinkBinding) -> Keys:
    """The ``(NAME, field)`` pairs ``binding`` writes: its preset's, its keys, or none."""
    if binding.preset is not None:
        return PRESETS[binding.preset]
    return binding.keys


def other_field(pooled: bool) -> str:
    """The field that needs the connection a target does not fetch itself."""
    return "direct_uri" if pooled else "pooled_uri"


def needs_other(binding: SinkBinding, *, pooled: bool) -> bool:
    """Whether ``binding`` of a target (``pooled`` or not) needs its other connection."""
    wanted = other_field(pooled)
    return any(field == wanted for _, field in keys_of(binding))


def env_safe(value: str) -> bool:
    """Whether ``value`` reads the same as an unquoted env value to all three loaders."""
    return bool(value) and all(
        _ENV_ASCII.fullmatch(ch) if ch.isascii() else ch.isprintable() and not ch.isspace()
        for ch in value
    )


def _one_line(fmt: str, uri: str) -> str:
    if not _ONE_LINE_URI.fullmatch(uri):
        raise InvalidConnectionURI(f"the {fmt} format cannot hold this URI on one line")
    return uri


def _sslmode(conn: ConnectionInfo) -> str:
    return dict(conn.params)["sslmode"]  # present: ConnectionInfo requires it


def _json(conn: ConnectionInfo, _env_var: str) -> Document:
    fields: dict[str, str | int | bool] = {
        "engine": "postgres",
        "host": conn.host,
        "port": conn.port,
        "username": conn.username,
        "password": conn.password.get_secret_value(),
        "dbname": conn.dbname,
        "sslmode": _sslmode(conn),
        "uri": _one_line("json", conn.uri.get_secret_value()),
        "pooled": conn.pooled,
        "branch": conn.branch,
        "project": conn.project,
    }
    channel_binding = dict(conn.params).get(_CHANNEL_BINDING)
    if channel_binding is not None:
        fields[_CHANNEL_BINDING] = channel_binding
    return Document("json", json.dumps(fields, sort_keys=True, separators=(",", ":")), fields)


def _uri(conn: ConnectionInfo, _env_var: str) -> Document:
    uri = _one_line("uri", conn.uri.get_secret_value())
    return Document("uri", uri, {"uri": uri})


def _env(conn: ConnectionInfo, env_var: str) -> Document:
    if not ENV_VAR_PATTERN.fullmatch(env_var):
        raise ValueError(f"env_var {env_var!r} is not a variable name")
    uri = _one_line("env", conn.uri.get_secret_value())
    return Document("env", f"{env_var}={uri}\n", {env_var: uri})


_RENDERERS: dict[str, Callable[[ConnectionInfo, str], Document]] = {
    "json": _json,
    "uri": _uri,
    "env": _env,
}


def _jdbc_url(conn: ConnectionInfo) -> str:
    """``jdbc:postgresql://host:port/db?sslmode=``: no credentials (pgjdbc decodes %-escapes)."""
    host = f"[{conn.host}]" if ":" in conn.host else conn.host
    return (
        f"jdbc:postgresql://{host}:{conn.port}/{quote(conn.dbname, safe='')}"
        f"?sslmode={quote(_sslmode(conn), safe='')}"
    )


def _pick(conn: ConnectionInfo, other: ConnectionInfo | None, *, pooled: bool) -> ConnectionInfo:
    for candidate in (conn, other):
        if candidate is not None and candidate.pooled is pooled:
            return candidate
    kind = "pooled" if pooled else "direct"
    raise ValueError(f"the {kind} connection was not fetched for this binding")


def _field(conn: ConnectionInfo, other: ConnectionInfo | None, name: str) -> str | None:
    """The value of field ``name``; None only for an absent ``channel_binding``."""
    if name == "uri":
        return conn.uri.get_secret_value()
    if name in ("pooled_uri", "direct_uri"):
        return _pick(conn, other, pooled=name == "pooled_uri").uri.get_secret_value()
    values: dict[str, Callable[[], str | None]] = {
        "jdbc_url": lambda: _jdbc_url(conn),
        "host": lambda: conn.host,
        "port": lambda: str(conn.port),
        "user": lambda: conn.username,
        "password": conn.password.get_secret_value,
        "dbname": lambda: conn.dbname,
        "sslmode": lambda: _sslmode(conn),
        _CHANNEL_BINDING: lambda: dict(conn.params).get(_CHANNEL_BINDING),
    }
    return values[name]()


def _keyed(fmt: str, conn: ConnectionInfo, keys: Keys, other: ConnectionInfo | None) -> Document:
    if fmt not in KEYED_FORMATS:
        raise ValueError(f"format {fmt} holds one URI; keys need format env or json")
    fields: dict[str, str | int | bool] = {}
    lines = []
    for name, field in keys:
        if not ENV_VAR_PATTERN.fullmatch(name):
            raise ValueError(f"key {name!r} is not a variable name")
        value = _field(conn, other, field)
        if value is None:
            continue
        if field.endswith(("uri", "url")):
            value = _one_line(fmt, value)
        if fmt == "env" and not env_safe(value):
            raise UnsafeEnvValue(
                f"the value of {name} cannot be an env line: it has a space, quote, '#', "
                "'$', backslash or control character, which systemd, docker and python-dotenv "
                "read differently (format json, or a key holding a URI, can hold it)"
            )
        fields[name] = value
        lines.append(f"{name}={value}\n")
    if fmt == "env":
        return Document("env", "".join(lines), fields)
    return Document("json", json.dumps(fields, sort_keys=True, separators=(",", ":")), fields)


def render(
    conn: ConnectionInfo,
    fmt: str,
    *,
    env_var: str = "DATABASE_URL",
    keys: Keys = (),
    other: ConnectionInfo | None = None,
) -> Document:
    """Render ``conn`` in format ``fmt`` (one of :data:`FORMATS`).

    With ``keys`` the document holds those names instead (``env`` or ``json``
    only); ``other`` is the target's other connection (pooled or direct), which
    ``pooled_uri`` or ``direct_uri`` may need. Raises ValueError (the message
    names keys and fields, never a value) when the document cannot be written.
    """
    if fmt not in _RENDERERS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if keys:
        return _keyed(fmt, conn, keys, other)
    return _RENDERERS[fmt](conn, env_var)
