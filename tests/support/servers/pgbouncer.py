"""A PgBouncer in front of a :class:`~.postgres.PostgresServer`, for pooled connection strings.

Why: providers hand out a pooled URI beside the direct one, and syncd must get
both right. This pooler is set up the way managed ones are: TLS to clients and
to the server, transaction pooling, a wildcard database entry, and passwords
looked up live with ``auth_query`` rather than copied into a userlist, so a
password rotated with :meth:`PostgresServer.rotate_password` takes effect
through the pooler at once.

The lookup follows PgBouncer's own advice: a non-superuser ``auth_user`` calls
a ``SECURITY DEFINER`` function that reads ``pg_authid``. PgBouncer 1.18
(Debian 12) runs ``auth_query`` inside the *target* database and has no
``auth_dbname``, so the function is installed into every database, template1
included, so that databases created later by ``create_branch`` inherit it. It
refuses superusers. Clients going through transaction pooling must not use
server-side prepared statements: with psycopg pass ``prepare_threshold=None``.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from psycopg import sql

from .base import LocalServer
from .ports import free_port, port_open
from .postgres import BranchCredentials, PostgresServer, postgres_uri, random_password
from .process import (
    ServerProcess,
    give_to_server_user,
    require_binary,
    server_env,
    wait_until,
)
from .tls import TlsFiles, write_self_signed

_INSTALL_HINT = "install the Debian package 'pgbouncer' (apt-get install pgbouncer)"
_START_TIMEOUT = 15.0
_LOOKUP_FUNCTION = "pgbouncer.user_lookup"
_INSTALL_LOOKUP = """
CREATE SCHEMA IF NOT EXISTS pgbouncer;
CREATE OR REPLACE FUNCTION pgbouncer.user_lookup(p_user text, OUT uname text, OUT phash text)
RETURNS record
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
    SELECT rolname::text, rolpassword
    FROM pg_catalog.pg_authid
    WHERE rolname = p_user AND rolcanlogin AND NOT rolsuper
$$;
REVOKE ALL ON FUNCTION pgbouncer.user_lookup(text) FROM PUBLIC;
"""


class PgBouncer(LocalServer):
    """PgBouncer on 127.0.0.1 (TLS required, transaction pooling, auth_query).

    Use as a context manager, or :meth:`start` / :meth:`stop`, while the
    :class:`PostgresServer` it fronts is running. :meth:`stop` sends SIGTERM,
    which PgBouncer takes as immediate shutdown.
    """

    def __init__(self, postgres: PostgresServer) -> None:
        super().__init__()
        self.postgres = postgres
        self.auth_user = f"pgbouncer_auth_{secrets.token_hex(3)}"
        self._tls: TlsFiles | None = None

    @property
    def tls(self) -> TlsFiles:
        """PgBouncer's own self-signed certificate (clients verify it like PostgreSQL's)."""
        if self._tls is None:
            raise RuntimeError("PgBouncer not started")
        return self._tls

    def _launch(self) -> None:
        """Set up the auth user and lookup function, start PgBouncer, wait for its port.

        Raises:
            FileNotFoundError: PgBouncer is not installed.
            ServerStartError: PgBouncer exited or did not listen; the message has its log.
        """
        binary = require_binary("pgbouncer", install_hint=_INSTALL_HINT)
        root = self._make_dir("syncd-pgbouncer-", for_server_user=True)
        password = random_password()
        self._install_auth_lookup(password)
        config = self._write_config(root, password)
        self._process = ServerProcess(
            [binary, str(config)],
            log_path=root / "pgbouncer.log",
            cwd=root,
            env=server_env(root),
            as_server_user=True,
        )
        wait_until(
            lambda: port_open(self.host, self.port),
            timeout=_START_TIMEOUT,
            what=f"PgBouncer on port {self.port}",
            process=self._process,
        )

    def pooled_uri(self, creds: BranchCredentials) -> str:
        """Return ``postgresql://role:password@127.0.0.1:BOUNCER_PORT/database?sslmode=require``."""
        return postgres_uri(self.host, self.port, creds)

    def _install_auth_lookup(self, password: str) -> None:
        auth_user = sql.Identifier(self.auth_user)
        with self.postgres.admin_connect() as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(auth_user, sql.Literal(password))
            )
            databases = [
                row[0]
                for row in conn.execute(
                    "SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname"
                )
            ]
        for database in databases:
            with self.postgres.admin_connect(database) as conn:
                conn.execute(_INSTALL_LOOKUP)
                conn.execute(sql.SQL("GRANT USAGE ON SCHEMA pgbouncer TO {}").format(auth_user))
                conn.execute(
                    sql.SQL("GRANT EXECUTE ON FUNCTION pgbouncer.user_lookup(text) TO {}").format(
                        auth_user
                    )
                )

    def _write_config(self, root: Path, auth_password: str) -> Path:
        tls = self._tls = write_self_signed(root, name="pgbouncer")
        userlist = root / "userlist.txt"
        # Only the auth_user itself is listed; every other user comes from auth_query.
        userlist.write_text(f'"{self.auth_user}" "{auth_password}"\n')
        userlist.chmod(0o600)
        self.port = free_port()
        config = root / "pgbouncer.ini"
        config.write_text(
            f"""\
[databases]
* = host={self.postgres.host} port={self.postgres.port}

[pgbouncer]
listen_addr = {self.host}
listen_port = {self.port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {userlist}
auth_user = {self.auth_user}
auth_query = SELECT uname, phash FROM {_LOOKUP_FUNCTION}($1)
pool_mode = transaction
max_client_conn = 100
default_pool_size = 5
; every test makes its own database and role: idle server connections of
; finished tests must not pile up against the server's max_connections
server_idle_timeout = 5
server_login_retry = 1
ignore_startup_parameters = extra_float_digits
client_tls_sslmode = require
client_tls_cert_file = {tls.cert}
client_tls_key_file = {tls.key}
server_tls_sslmode = require
"""
        )
        give_to_server_user(root)
        return config
