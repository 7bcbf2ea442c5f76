"""The lifecycle every local test server shares: start, stop, clean up, even if forgotten.

Why: each server is a child process with a private temp dir, and a test run must
leave neither behind, not even when a start fails half-way or a test forgets to
stop it. :class:`LocalServer` owns that part; a subclass only says how to bring
its own server up (:meth:`LocalServer._launch`).
"""

from __future__ import annotations

import atexit
import shutil
import signal
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

from .ports import LOOPBACK
from .process import ServerProcess, make_server_tempdir


class LocalServer(ABC):
    """A server process on 127.0.0.1 with a private temp dir, both removed by :meth:`stop`.

    Use as a context manager, or call :meth:`start` and :meth:`stop` (also run at
    interpreter exit if forgotten). ``port`` is 0 until :meth:`_launch` picks one.
    """

    host = LOOPBACK
    _stop_signal: ClassVar[signal.Signals] = signal.SIGTERM
    """What :meth:`stop` sends the process group first (SIGKILL follows after 5 s)."""

    def __init__(self) -> None:
        self.port = 0
        self._dir: Path | None = None
        self._process: ServerProcess | None = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Self:
        """Start the server; return ``self`` once it is ready.

        If the start fails, whatever it had set up is stopped and deleted.

        Raises:
            FileNotFoundError: the server's program is not installed.
            ServerStartError: the server exited or never became ready; the message has its log.
        """
        if self._dir is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        atexit.register(self.stop)
        try:
            self._launch()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server's whole process group and delete its temp dir. Idempotent."""
        atexit.unregister(self.stop)
        if self._process is not None:
            self._process.stop(self._stop_signal, timeout=5.0)
            self._process = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    @abstractmethod
    def _launch(self) -> None:
        """Bring the server up: make its dir with :meth:`_make_dir`, set ``port``,
        start ``_process`` and wait until it is ready. :meth:`stop` cleans up after failure.
        """

    def _make_dir(self, prefix: str, *, for_server_user: bool = False) -> Path:
        """Create the server's temp dir (deleted by :meth:`stop`) and return it.

        ``for_server_user``: the server runs as :data:`~.process.SERVER_USER` when
        we are root, so the dir must be reachable by and given to that user.
        """
        if for_server_user:
            self._dir = make_server_tempdir(prefix)
        else:
            self._dir = Path(tempfile.mkdtemp(prefix=prefix))
        return self._dir
