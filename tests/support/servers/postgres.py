"""A throwaway PostgreSQL cluster for end-to-end tests.

Why: syncd's product is a connection string, and the only convincing check of
one is to connect with it. This cluster behaves like a managed provider's in the
ways that matter: TCP only on 127.0.0.1 and only over TLS (``hostssl``),
SCRAM-SHA-256 passwords, one database plus owner role per (project, branch),
and password rotation. The superuser connects over the Unix socket (trust).

Durability is switched off (``fsync=off`` etc.) so a cluster starts in about a
second; ``stop()`` shuts it down immediately and deletes every file. As root the
server runs as the ``postgres`` user, since PostgreSQL refuses root.
"""

from __future__ import annotations

import glob
import re
import secrets
import shutil
import signal
import string
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

from .base import LocalServer
from .ports import free_port, port_open
from .process import (
    ServerProcess,
    ServerStartError,
    give_to_server_user,
    run_checked,
    server_env,
    wait_until,
)
from .tls import TlsFiles, write_self_signed

SUPERUSER = "postgres"
_INSTALL_HINT = "install the Debian package 'postgresql' (apt-get install postgresql)"
_PASSWORD_ALPHABET = string.ascii_letters + string.digits
_MAX_IDENTIFIER = 63  # NAMEDATALEN - 1: PostgreSQL truncates longer names silently
_START_TIMEOUT = 30.0


@dataclass(frozen=True)
class BranchCredentials:
    """The owner role, its password and the database created for one branch."""

    role: str
    password: str = field(repr=False)
    database: str


def random_password(length: int = 32) -> str:
    """Return a random password of ASCII letters and digits (safe in URIs and shells)."""
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(length))


def find_bindir() -> Path:
    """Return the directory holding ``initdb`` and ``postgres``.

    ``pg_config --bindir`` is asked first; on Debian that may come from libpq-dev
    without a server, so ``/usr/lib/postgresql/<newest>/bin`` is the fallback.

    Raises:
        FileNotFoundError: no PostgreSQL server is installed.
    """
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        result = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        )
        if result.returncode == 0:
            candidates.append(Path(result.stdout.strip()))
    versioned = glob.glob("/usr/lib/postgresql/*/bin")  # noqa: PTH207 - a plain pattern
    candidates += sorted(
        (Path(p) for p in versioned),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in ("initdb", "postgres")):
            return bindir
    raise FileNotFoundError(f"PostgreSQL server binaries not found; {_INSTALL_HINT}")


def branch_identifier(project: str, branch: str) -> str:
    """Return a unique, valid, lower-case identifier ``p_<project>_<branch>_<random>``."""
    base = re.sub(r"[^a-z0-9]", "_", f"p_{project}_{branch}".lower())
    suffix = "_" + secrets.token_hex(3)
    # Leave room for the role's "_owner" so both names stay within 63 bytes.
    return base[: _MAX_IDENTIFIER - len(suffix) - len("_owner")] + suffix


class PostgresServer(LocalServer):
    """A private PostgreSQL cluster on 127.0.0.1 with TLS and SCRAM passwords.

    Use as a context manager, or call :meth:`start` and :meth:`stop` (also run
    at interpreter exit if forgotten). Attributes once started: ``host``,
    ``port``, ``admin_dsn``, ``tls`` (its certificate can be used as
    ``sslrootcert``). :meth:`stop` shuts it down immediately.
    """

    # SIGQUIT is what ``pg_ctl stop -m immediate`` sends: exit at once, no
    # checkpoint. Sent to the process group, it reaches every backend too.
    _stop_signal = signal.SIGQUIT

    def __init__(self) -> None:
        super().__init__()
        self._tls: TlsFiles | None = None

    # -- connection strings --------------------------------------------------

    @property
    def tls(self) -> TlsFiles:
        """The server's self-signed certificate and key."""
        if self._tls is None:
            raise RuntimeError("PostgresServer not started")
        return self._tls

    @property
    def admin_dsn(self) -> str:
        """A libpq DSN for the superuser over the Unix socket (no password)."""
        return self.admin_dsn_for("postgres")

    def admin_dsn_for(self, database: str) -> str:
        """Like :attr:`admin_dsn`, for another database."""
        return psycopg.conninfo.make_conninfo(
            host=str(self._socket_dir), port=self.port, user=SUPERUSER, dbname=database
        )

    def admin_connect(self, database: str = "postgres") -> psycopg.Connection[Any]:
        """Open an autocommit superuser connection; the caller closes it (``with``)."""
        return psycopg.connect(self.admin_dsn_for(database), autocommit=True)

    def direct_uri(self, creds: BranchCredentials) -> str:
        """Return ``postgresql://role:password@127.0.0.1:PORT/database?sslmode=require``."""
        return postgres_uri(self.host, self.port, creds)

    # -- branches ------------------------------------------------------------

    def create_branch(self, project: str, branch: str) -> BranchCredentials:
        """Create a database and its owner LOGIN role with a random password.

        Names come from :func:`branch_identifier` (the role adds ``_owner``), so
        repeated or colliding (project, branch) pairs still get fresh names.
        """
        database = branch_identifier(project, branch)
        creds = BranchCredentials(
            role=f"{database}_owner", password=random_password(), database=database
        )
        with self.admin_connect() as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(creds.role), sql.Literal(creds.password)
                )
            )
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(creds.database), sql.Identifier(creds.role)
                )
            )
        return creds

    def rotate_password(self, role: str) -> str:
        """Give ``role`` a new random password and return it.

        New connections need the new password at once; open sessions survive.
        """
        password = random_password()
        with self.admin_connect() as conn:
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )
        return password

    # -- internals -----------------------------------------------------------

    @property
    def _data_dir(self) -> Path:
        assert self._dir is not None
        return self._dir / "data"

    @property
    def _socket_dir(self) -> Path:
        if self._dir is None:
            raise RuntimeError("PostgresServer not started")
        return self._dir / "socket"

    def _launch(self) -> None:
        """Run initdb, write the config and start the cluster; wait until it accepts connections.

        Raises:
            FileNotFoundError: PostgreSQL is not installed.
            ServerStartError: initdb or the server failed; the message has its log.
        """
        bindir = find_bindir()
        root = self._make_dir("syncd-pg-", for_server_user=True)
        self._socket_dir.mkdir()
        self._tls = write_self_signed(root)
        give_to_server_user(root)
        run_checked(
            [
                str(bindir / "initdb"),
                "-D",
                str(self._data_dir),
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ],
            cwd=root,
            what="initdb",
            env=server_env(root),
            as_server_user=True,
        )
        self.port = free_port()
        self._write_config()
        self._process = ServerProcess(
            [str(bindir / "postgres"), "-D", str(self._data_dir)],
            log_path=root / "postgres.log",
            cwd=root,
            env=server_env(root),
            as_server_user=True,
        )
        wait_until(
            self._accepting,
            timeout=_START_TIMEOUT,
            what=f"PostgreSQL on port {self.port}",
            process=self._process,
        )
        if not port_open(self.host, self.port):
            raise ServerStartError(f"PostgreSQL is up but not listening on {self.port}")

    def _write_config(self) -> None:
        tls = self.tls
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self._socket_dir}'",
            "ssl": "on",
            "ssl_cert_file": f"'{tls.cert}'",
            "ssl_key_file": f"'{tls.key}'",
            "password_encryption": "'scram-sha-256'",
            # Throwaway data: trade durability for start-up and test speed.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "wal_level": "minimal",
            "max_wal_senders": "0",
            "autovacuum": "off",
            "shared_buffers": "16MB",
            # PgBouncer keeps idle server connections per database and role for a
            # while, and every test makes its own pair.
            "max_connections": "200",
            "logging_collector": "off",
        }
        with (self._data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# syncd test server\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        (self._data_dir / "pg_hba.conf").write_text(
            f"local all {SUPERUSER} trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n"
        )

    def _accepting(self) -> bool:
        try:
            with psycopg.connect(self.admin_dsn, connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False


def postgres_uri(host: str, port: int, creds: BranchCredentials) -> str:
    """Return a ``postgresql://...?sslmode=require`` URI with user and password percent-encoded."""
    user = quote(creds.role, safe="")
    password = quote(creds.password, safe="")
    database = quote(creds.database, safe="")
    return f"postgresql://{user}:{password}@{host}:{port}/{database}?sslmode=require"
