"""Process exit codes, and how an error that stops a command becomes one.

0 every target succeeded; 1 one or more targets failed, or syncd could not
start a plugin; 2 usage or configuration error; 130 interrupted.
"""

from __future__ import annotations

import sys

from syncd.errors import ConfigError, PluginError, SyncdError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def report(exc: SyncdError) -> int:
    """Print ``exc`` as one line on stderr and return its exit code (no traceback)."""
    if isinstance(exc, ConfigError | PluginError):
        print(f"syncd: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"syncd: error: {exc}", file=sys.stderr)
    return EXIT_FAILED
