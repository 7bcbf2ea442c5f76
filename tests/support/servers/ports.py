"""Loopback port helpers: pick a free TCP port and wait until something listens on one.

The test servers bind only to 127.0.0.1, each on a port the kernel hands out, so
several test runs (or several servers in one run) never collide on fixed ports.
"""

from __future__ import annotations

import socket
import time

LOOPBACK = "127.0.0.1"
_MAX_PORT = 65535


def free_port(host: str = LOOPBACK, *, span: int = 1) -> int:
    """Return a TCP port on ``host`` that was free a moment ago, with ``span - 1`` free after it.

    ``span=2`` suits servers that also bind the next port (Vault's dev mode puts
    its cluster listener on port + 1). The ports are released before returning,
    so another process could take one first; the kernel rotates through
    ephemeral ports, which makes that rare.
    """
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as first:
            first.bind((host, 0))
            port: int = first.getsockname()[1]
            if all(_bindable(host, port + offset) for offset in range(1, span)):
                return port
    raise OSError(f"found no {span} consecutive free ports on {host}")


def _bindable(host: str, port: int) -> bool:
    if port > _MAX_PORT:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    """Return whether a TCP connection to ``host:port`` is accepted right now."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    """Block until ``host:port`` accepts TCP connections.

    Raises:
        TimeoutError: nothing listened there within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while not port_open(host, port):
        if time.monotonic() >= deadline:
            raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.1f}s")
        time.sleep(0.02)
