"""A one-line progress counter on a terminal: ``syncd: 37/500 targets``.

With hundreds of targets an unchanged run logs nothing per target at info
level, so a person at a terminal would see nothing until the final table.
The counter is only for people: it is shown when the stream is a TTY and
logs are rendered for the console, never in JSON mode. Each update ends with
a carriage return, so the cursor rests at the start of the line and a log
line written meanwhile simply overwrites the counter; :meth:`Progress.close`
erases it.
"""

from __future__ import annotations

import threading
from typing import TextIO

_ERASE = "\r\x1b[K"


class Progress:
    """Counts finished targets on ``stream``; pass it as the engine's ``on_outcome``."""

    def __init__(self, stream: TextIO, total: int) -> None:
        self._stream = stream
        self._total = total
        self._done = 0
        self._lock = threading.Lock()  # the engine reports from its worker threads
        self._show(0)

    @staticmethod
    def wanted(stream: TextIO, log_format: str) -> bool:
        """Whether a counter belongs on ``stream``: a terminal with console logs."""
        isatty = getattr(stream, "isatty", None)
        return log_format == "console" and callable(isatty) and bool(isatty())

    def __call__(self, _finished: object) -> None:
        """Count one finished target (a run's outcome or a check's finding)."""
        with self._lock:
            self._done += 1
            self._show(self._done)

    def close(self) -> None:
        """Erase the counter line."""
        with self._lock:
            self._stream.write(_ERASE)
            self._stream.flush()

    def _show(self, done: int) -> None:
        self._stream.write(f"{_ERASE}syncd: {done}/{self._total} targets\r")
        self._stream.flush()
