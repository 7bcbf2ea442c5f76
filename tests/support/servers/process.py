"""Child-process plumbing shared by the test servers.

Why this exists: PostgreSQL and PgBouncer refuse to run as root, yet CI runs as
root. When root, those servers run as the Debian ``postgres`` user (``subprocess``
switches user between fork and exec) and their files are handed to that user;
otherwise they run as the current user. Each server runs in its own session
(process group) with its output in a log file, so stopping it takes every
process it spawned along, and a failed start shows the server's own words.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

SERVER_USER = "postgres"
"""The unprivileged account that runs PostgreSQL and PgBouncer when we are root."""


_SBIN_DIRS = "/usr/local/sbin:/usr/sbin:/sbin"


class ServerStartError(RuntimeError):
    """A test server did not come up; the message carries its log tail."""


def require_binary(name: str, *, install_hint: str) -> str:
    """Return the absolute path of ``name`` on PATH, or else in ``/usr/sbin``.

    Debian installs daemons such as pgbouncer in ``/usr/sbin``, which a
    non-root user's PATH often lacks.

    Raises:
        FileNotFoundError: it is not installed; the message says how to install it.
    """
    path = shutil.which(name) or shutil.which(name, path=_SBIN_DIRS)
    if path is None:
        raise FileNotFoundError(f"{name!r} not found on PATH; {install_hint}")
    return path


def running_as_root() -> bool:
    """Return whether this process has an effective uid of 0."""
    return os.geteuid() == 0


def server_user_options() -> dict[str, Any]:
    """Return ``subprocess`` keyword arguments that drop to :data:`SERVER_USER` when root.

    ``Popen(user=..., group=..., extra_groups=[])`` switches user between fork and
    exec, so the child *is* the server: signals reach it directly. (``runuser``
    would sit in between and, on SIGTERM, wait two seconds before SIGKILLing it.)

    Raises:
        LookupError: we are root and the server user does not exist.
    """
    if not running_as_root():
        return {}
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise LookupError(
            f"user {SERVER_USER!r} does not exist; it comes with the Debian package "
            "'postgresql' (apt-get install postgresql)"
        ) from None
    return {"user": SERVER_USER, "group": SERVER_USER, "extra_groups": []}


def make_server_tempdir(prefix: str) -> Path:
    """Create a private temp dir that the server user owns and can reach.

    As root the directory lives under the temp root only if every ancestor is
    traversable by others (a ``TMPDIR`` under ``/root`` is not), else under
    ``/tmp``; it is then chowned to :data:`SERVER_USER`.
    """
    base = Path(tempfile.gettempdir())
    if running_as_root() and not _traversable_by_others(base):
        base = Path("/tmp")
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    give_to_server_user(path)
    return path


def give_to_server_user(path: Path) -> None:
    """Chown ``path`` (recursively) to :data:`SERVER_USER` when root; no-op otherwise."""
    if not running_as_root():
        return
    shutil.chown(path, SERVER_USER, SERVER_USER)
    if path.is_dir():
        for child in path.rglob("*"):
            shutil.chown(child, SERVER_USER, SERVER_USER)


def server_env(home: Path) -> dict[str, str]:
    """Return our environment with ``HOME``/``USER``/``LOGNAME`` fit for the server user."""
    env = dict(os.environ)
    if running_as_root():
        env.update(HOME=str(home), USER=SERVER_USER, LOGNAME=SERVER_USER)
    return env


def run_checked(
    argv: Sequence[str],
    *,
    cwd: Path,
    what: str,
    env: Mapping[str, str] | None = None,
    as_server_user: bool = False,
) -> None:
    """Run a short command; raise :class:`ServerStartError` with its output if it fails."""
    result = subprocess.run(
        argv,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        env=dict(env) if env is not None else None,
        **(server_user_options() if as_server_user else {}),
    )
    if result.returncode != 0:
        raise ServerStartError(
            f"{what} failed (exit {result.returncode}): {' '.join(argv)}\n"
            f"{result.stdout}{result.stderr}"
        )


class ServerProcess:
    """A long-running child in its own process group, logging to a file."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        log_path: Path,
        cwd: Path,
        env: Mapping[str, str] | None = None,
        as_server_user: bool = False,
    ) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        with log_path.open("ab") as log:
            # The child keeps its own copy of the descriptor; ours closes here.
            self._popen = subprocess.Popen(
                self.argv,
                cwd=cwd,
                env=dict(env) if env is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **(server_user_options() if as_server_user else {}),
            )

    @property
    def pid(self) -> int:
        """The process id (also the process-group id) of the child."""
        return self._popen.pid

    def alive(self) -> bool:
        """Return whether the child has not exited yet (without reaping it)."""
        if self._popen.returncode is not None:
            return False
        try:
            # WNOWAIT leaves an exited child a zombie, so its pid, which is also
            # the process-group id, cannot be reused before stop() signals the group.
            flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
            return os.waitid(os.P_PID, self._popen.pid, flags) is None
        except ChildProcessError:
            return False

    def log_tail(self, lines: int = 40) -> str:
        """Return the last ``lines`` lines of the child's output."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "<no log>"
        return "\n".join(text.splitlines()[-lines:])

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the child to exit; return whether it did."""
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 10.0) -> None:
        """Signal the whole process group, SIGKILL whatever lingers, and reap the child.

        Idempotent. Children that outlive the leader (e.g. PostgreSQL backends
        after a crash) are killed too, since they share its process group.
        """
        if self._popen.returncode is not None:
            return
        if self.alive():
            self._signal_group(sig)
            self.wait(timeout)
        self._signal_group(signal.SIGKILL)
        self._popen.wait()

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._popen.pid, sig)


def wait_until(
    condition: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    process: ServerProcess | None = None,
    interval: float = 0.02,
) -> None:
    """Poll ``condition`` until it holds.

    Raises:
        ServerStartError: ``process`` exited first, or ``timeout`` passed; the
            message names ``what`` and carries the process's log tail.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and not process.alive():
            raise ServerStartError(
                f"{what}: process exited early (argv {process.argv})\n{process.log_tail()}"
            )
        if time.monotonic() >= deadline:
            tail = process.log_tail() if process is not None else ""
            raise ServerStartError(f"{what}: not ready after {timeout:.1f}s\n{tail}")
        time.sleep(interval)


def _traversable_by_others(path: Path) -> bool:
    return all(part.stat().st_mode & stat.S_IXOTH for part in (path, *path.parents))
