"""Signals for the daemon's main thread: stop on SIGTERM/SIGINT, reload on SIGHUP.

Signal handlers only get the C-level wakeup-fd write (``signal.set_wakeup_fd``),
which is async-signal-safe; the main thread blocks in :meth:`Inbox.wait` until
a signal number arrives, so there is no polling and no busy loop. Other
threads (tests, the soak benchmark) post the same requests with
:meth:`Inbox.post`, without a real signal.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import time
from collections.abc import Callable, Iterable
from types import FrameType

import structlog

#: Signals that end the daemon; SIGHUP reloads the config.
STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})
HANDLED_SIGNALS = (*sorted(STOP_SIGNALS), signal.SIGHUP)

log = structlog.get_logger("syncd.signals")


_Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers


def _ignore(_signum: int, _frame: FrameType | None) -> None:
    """Does nothing: the wakeup fd already carries the signal to the main loop."""


class Inbox:
    """Signals and requests for the main thread, through one socket pair (see the module doc)."""

    def __init__(self) -> None:
        self._recv, self._send = socket.socketpair()
        self._send.setblocking(False)
        self._saved: dict[int, _Handler] = {}
        self._saved_fd: int | None = None

    def install(self, signals: Iterable[int]) -> None:
        """Route ``signals`` here (main thread only); :meth:`uninstall` restores."""
        self._saved_fd = signal.set_wakeup_fd(self._send.fileno(), warn_on_full_buffer=False)
        for signum in signals:
            # A Python-level handler must exist for the wakeup fd to be written.
            previous = signal.signal(signum, _ignore)
            self._saved[signum] = signal.SIG_DFL if previous is None else previous

    def uninstall(self) -> None:
        """Restore the handlers and wakeup fd that were there before."""
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)
        self._saved.clear()
        if self._saved_fd is not None:
            signal.set_wakeup_fd(self._saved_fd)
            self._saved_fd = None

    def post(self, signum: int) -> None:
        """Queue ``signum`` as if it had been received (any thread)."""
        # The buffer holds thousands of bytes; when it is full the loop is awake anyway.
        with contextlib.suppress(BlockingIOError):
            self._send.send(bytes([signum]))

    def wait(self, timeout: float | None) -> bytes:
        """Block until something arrives or ``timeout`` passes; return the signal numbers."""
        self._recv.settimeout(timeout)
        try:
            return self._recv.recv(256)
        except TimeoutError:
            return b""

    def serve(
        self,
        *,
        tick: float | None,
        on_tick: Callable[[], None],
        on_reload: Callable[[], object],
        install: bool = True,
    ) -> None:
        """Wait until a stop signal arrives, calling ``on_reload`` on SIGHUP.

        ``on_tick`` runs every ``tick`` seconds (the systemd watchdog), if set.
        ``install`` routes real signals here (main thread only); without it only
        :meth:`post` reaches the loop.
        """
        if install:
            self.install(HANDLED_SIGNALS)
        next_tick = time.monotonic()
        try:
            while True:
                if tick is not None and time.monotonic() >= next_tick:
                    on_tick()
                    next_tick = time.monotonic() + tick
                timeout = None if tick is None else max(0.0, next_tick - time.monotonic())
                received = self.wait(timeout)
                stop = [s for s in received if s in STOP_SIGNALS]
                if stop:
                    log.info("stop_requested", signal=signal.Signals(stop[0]).name)
                    return
                if signal.SIGHUP in received:
                    on_reload()
        finally:
            if install:
                self.uninstall()

    def close(self) -> None:
        """Close the socket pair."""
        self._recv.close()
        self._send.close()
