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
    value is not quoted because docker's parser takes quotes literally, and a
    URI never contains whitespace or newlines.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from syncd.models import ConnectionInfo, Document

FORMATS = ("json", "uri", "env")
ENV_VAR_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _json(conn: ConnectionInfo, _env_var: str) -> Document:
    fields: dict[str, str | int | bool] = {
        "engine": "postgres",
        "host": conn.host,
        "port": conn.port,
        "username": conn.username,
        "password": conn.password.get_secret_value(),
        "dbname": conn.dbname,
        "uri": conn.uri.get_secret_value(),
        "pooled": conn.pooled,
        "branch": conn.branch,
        "project": conn.project,
    }
    return Document("json", json.dumps(fields, sort_keys=True, separators=(",", ":")), fields)


def _uri(conn: ConnectionInfo, _env_var: str) -> Document:
    uri = conn.uri.get_secret_value()
    return Document("uri", uri, {"uri": uri})


def _env(conn: ConnectionInfo, env_var: str) -> Document:
    uri = conn.uri.get_secret_value()
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
