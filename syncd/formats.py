"""Rendering a connection into the documents applications read.

``json``
    An AWS-RDS-compatible secret (``engine``, ``host``, ``port``, ``username``,
    ``password``, ``dbname``) plus ``uri``, ``pooled``, ``branch`` and
    ``project``, so existing RDS tooling and rotation-aware drivers read it.
``uri``
    The connection URI alone.
``env``
    ``DATABASE_URL=<uri>`` (variable name configurable), a line loadable by
    systemd ``EnvironmentFile=``, ``docker --env-file`` and python-dotenv; the
    value is not quoted because docker's parser takes quotes literally. It is
    not shell syntax: the ``&`` between query parameters means something else
    to ``sh``, so load it with one of those, not with ``. file``.

Every format is rendered from the validated parts of a
:class:`~syncd.models.ConnectionInfo` (never from a provider's text), and each
renderer also refuses, with :class:`~syncd.models.InvalidConnectionURI`, a
value it cannot hold on one line, so a second line, and with it a second
variable, can never be written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from syncd.models import ConnectionInfo, Document, InvalidConnectionURI

FORMATS = ("json", "uri", "env")
ENV_VAR_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# What the uri and env formats may contain: printable ASCII without spaces or
# quotes, which is all a percent-encoded URI ever needs.
_ONE_LINE_URI = re.compile(r"[!#-&(-~]+")


def _one_line(fmt: str, uri: str) -> str:
    if not _ONE_LINE_URI.fullmatch(uri):
        raise InvalidConnectionURI(f"the {fmt} format cannot hold this URI on one line")
    return uri


def _json(conn: ConnectionInfo, _env_var: str) -> Document:
    fields: dict[str, str | int | bool] = {
        "engine": "postgres",
        "host": conn.host,
        "port": conn.port,
        "username": conn.username,
        "password": conn.password.get_secret_value(),
        "dbname": conn.dbname,
        "uri": _one_line("json", conn.uri.get_secret_value()),
        "pooled": conn.pooled,
        "branch": conn.branch,
        "project": conn.project,
    }
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


def render(conn: ConnectionInfo, fmt: str, *, env_var: str = "DATABASE_URL") -> Document:
    """Render ``conn`` in format ``fmt`` (one of :data:`FORMATS`)."""
    try:
        renderer = _RENDERERS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}") from None
    return renderer(conn, env_var)
