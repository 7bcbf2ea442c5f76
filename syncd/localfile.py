"""Reading a local file someone else may have planted: no links, no blocking, bounded.

A path syncd reads back (a file sink's secret or sidecar, the previous
``--metrics-file``) may hold anything by the time it is read: a FIFO (an
open for reading waits for a writer forever), a symbolic link to
``/dev/zero`` (endless), a device or a directory. :func:`read` opens with
``O_NOFOLLOW | O_NONBLOCK`` and reads regular files only, at most ``limit``
bytes; :func:`problem` says up front why a path is not a regular file.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


class NotRegular(Exception):
    """The path holds something syncd will not read; the message says what it is."""


def kind(mode: int) -> str:
    """What a non-regular file of ``st_mode`` ``mode`` is, in words ("FIFO", "directory")."""
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def problem(path: Path) -> str | None:
    """Why ``path`` is not a regular file ("is a FIFO, not a regular file"), or None.

    None when it is one, or when nothing is there. Nothing is opened or
    followed. Raises OSError when ``path`` cannot be examined.
    """
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "is a symbolic link"
    return f"is a {kind(mode)}, not a regular file"


def read(path: Path, limit: int, *, follow: bool = False) -> bytes | None:
    """The content of the regular file ``path``, or None when it is larger than ``limit`` bytes.

    Raises FileNotFoundError, :class:`NotRegular` (a symlink, FIFO, device
    or directory) or another OSError. With ``follow`` a symbolic link is
    followed to the regular file it names (a Kubernetes ConfigMap volume is
    made of links); a loop of links is then an OSError with ``errno.ELOOP``.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow:
            raise NotRegular("is a symbolic link") from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegular(f"is a {kind(mode)}, not a regular file")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(65536, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    return None if size > limit else b"".join(chunks)
