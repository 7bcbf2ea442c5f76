"""Proving a credential: connect with it and run ``SELECT 1`` before anyone is given it.

Rotation publishes a password only after this succeeded, so applications
never read a credential that does not work. psycopg 3 is imported here and
only here, when a rotation first proves something (the ``rotation`` extra).
The connection uses the URI's own ``sslmode`` (and ``channel_binding``), as
an application would.

psycopg's error text names the host, port, user and the server's reason, not
the password; it is scrubbed anyway (the provider registered the password
with :mod:`syncd.redaction`, and the password is cut out here too), so a
failed proof can be logged and printed as it is.
"""

from __future__ import annotations

from syncd import redaction
from syncd.core.models import ConnectionInfo
from syncd.errors import ConfigError, ConnectionProofFailed

#: Seconds to wait for the server; libpq counts whole seconds and treats < 2 as 2.
CONNECT_TIMEOUT = 5
_MAX_REASON = 300


def available() -> bool:
    """Whether psycopg, the prover's driver, can be imported here."""
    try:
        import psycopg  # noqa: F401, PLC0415 - the import is the check
    except ImportError:
        return False
    return True


def require() -> None:
    """Raise :class:`ConfigError` unless the prover can run: checked before any reset.

    A reset whose new password cannot be proved must never start: it would
    leave the old password dead and the new one unpublished.
    """
    if not available():
        raise ConfigError(MISSING)


#: Why rotation cannot run without psycopg, and how to fix it.
MISSING = (
    "rotation proves each new credential with psycopg, which is not installed; "
    "install syncd[rotation]"
)


def prove(conn: ConnectionInfo, *, timeout: int = CONNECT_TIMEOUT) -> None:
    """Connect as ``conn`` says and run ``SELECT 1``; raise if anything fails.

    Raises:
        ConnectionProofFailed: the server refused the credential or could not
            be reached; the message holds role, host and reason, no password.
        ConfigError: psycopg is not installed (the ``rotation`` extra).

    """
    try:
        import psycopg  # noqa: PLC0415 - only rotation needs a database driver
    except ImportError:
        raise ConfigError(MISSING) from None
    password = conn.password.get_secret_value()
    redaction.register(password)
    try:
        with psycopg.connect(
            conn.uri.get_secret_value(),
            connect_timeout=timeout,
            autocommit=True,
            prepare_threshold=None,  # PgBouncer in transaction mode has no prepared statements
        ) as db:
            db.execute("SELECT 1").fetchone()
    except psycopg.Error as exc:
        reason = _reason(str(exc), password)
        raise ConnectionProofFailed(
            f"test connection as role {conn.username} to {_host(conn)} failed: {reason}"
        ) from None


def _reason(text: str, password: str) -> str:
    """The driver's message on one line, without the password, capped."""
    flat = " ".join(redaction.scrub(text.replace(password, "[REDACTED]")).split())
    return flat if len(flat) <= _MAX_REASON else flat[: _MAX_REASON - 3] + "..."


def _host(conn: ConnectionInfo) -> str:
    host = f"[{conn.host}]" if ":" in conn.host else conn.host
    return f"{host}:{conn.port}/{conn.dbname}"
