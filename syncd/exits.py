"""Process exit codes, and how an error or a signal that stops a command becomes one.

0 every target succeeded; 1 one or more targets failed, or syncd could not
start a plugin; 2 usage or configuration error; 130 interrupted (SIGINT,
Ctrl-C); 143 terminated (SIGTERM) during ``run --once`` or ``check``.

A one-shot run turns SIGTERM into the same unwinding as Ctrl-C
(:func:`sigterm_interrupts`): requests already in flight finish (each sink
write is atomic, so nothing is left half-written), targets sleeping in a wait
(a rate limiter's pause, a backoff) stop at once (:mod:`syncd.core.fanout`), targets
not yet started are not started, and the process exits 143 after one
``interrupted`` log line.
The daemon handles its signals itself (:mod:`syncd.daemon.signals`).

Every error that ends a command is turned into its exit code and its message
here (:func:`report`), so the command line has one exit path: usage, config,
plugin and listener errors exit 2, any other :class:`~syncd.errors.SyncdError` 1.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

from syncd.errors import ConfigError, ListenError, PluginError, SyncdError, UsageError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so a one-shot run unwinds as on Ctrl-C."""


def code_for(exc: SyncdError) -> int:
    """The exit code a command that failed with ``exc`` ends with."""
    if isinstance(exc, ConfigError | PluginError | UsageError | ListenError):
        return EXIT_USAGE
    return EXIT_FAILED


def report(exc: SyncdError) -> int:
    """Print ``exc`` on stderr, one prefixed line per line of its message; return its exit code.

    A config can have several problems, so a :class:`ConfigError` may hold
    several lines; each is printed with the prefix (never a traceback).
    """
    config = isinstance(exc, ConfigError | PluginError)
    prefix = "syncd: config error:" if config else "syncd: error:"
    for line in str(exc).splitlines() or [""]:
        print(f"{prefix} {line}", file=sys.stderr)
    return code_for(exc)


def for_result(ok: bool) -> int:
    """0 when every target succeeded, else 1 (the others were still synced)."""
    return EXIT_OK if ok else EXIT_FAILED


def interrupted(exc: KeyboardInterrupt) -> int:
    """Report an interruption in one line (a log event once logging is set up).

    Returns the exit code: 143 for SIGTERM, 130 for SIGINT.
    """
    terminated = isinstance(exc, Terminated)
    name, code = ("SIGTERM", EXIT_TERMINATED) if terminated else ("SIGINT", EXIT_INTERRUPTED)
    # Not imported yet means not configured: `syncd --help` stays light.
    structlog = sys.modules.get("structlog")
    if structlog is not None and structlog.is_configured():
        structlog.get_logger(__name__).warning("interrupted", signal=name, exit_code=code)
    else:
        print(f"syncd: interrupted by {name}", file=sys.stderr)
    return code


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread (once)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def handler(_signum: int, _frame: FrameType | None) -> None:
        # A second SIGTERM must not cut short the unwinding the first one started.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
