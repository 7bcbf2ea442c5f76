"""A dependency-free client for systemd's notification protocol (``sd_notify(3)``).

With ``Type=notify`` systemd passes the address of a datagram socket in
``NOTIFY_SOCKET``; the service reports readiness, status text, watchdog pings
and shutdown by sending ``KEY=VALUE`` lines to it. Outside systemd (a shell, a
container) the variable is unset and every method here does nothing, so
callers never need to ask where they run.

A notification that cannot be delivered is logged as ``sd_notify_failed`` and
otherwise ignored: losing a status line must not stop the daemon, and a
missed watchdog ping is already handled by systemd restarting the service.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping

import structlog

__all__ = ["Notifier"]


class Notifier:
    """Sends service state to the manager named by ``NOTIFY_SOCKET``.

    ``environ`` defaults to ``os.environ``; tests pass a mapping instead. The
    address is either a filesystem path or, starting with ``@``, a socket in
    the abstract namespace. Any other form (for example ``vsock:``) disables
    the notifier with a logged warning rather than an error.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._display = env.get("NOTIFY_SOCKET", "")
        self._address = _parse_address(self._display)
        if self._display and self._address is None:
            structlog.get_logger().warning(
                "sd_notify_failed", socket=self._display, error="unsupported NOTIFY_SOCKET address"
            )
        self._watchdog_usec = env.get("WATCHDOG_USEC")
        self._watchdog_pid = env.get("WATCHDOG_PID")

    @property
    def enabled(self) -> bool:
        """Whether notifications are sent anywhere."""
        return self._address is not None

    def ready(self) -> bool:
        """Report that start-up finished: systemd marks the unit active."""
        return self.notify(READY=1)

    def reloading(self) -> bool:
        """Report that a configuration reload began; follow with :meth:`ready`."""
        # MONOTONIC_USEC lets systemd >= 253 match the reload to this message.
        return self.notify(RELOADING=1, MONOTONIC_USEC=time.monotonic_ns() // 1000)

    def status(self, text: str) -> bool:
        """Publish a one-line status shown by ``systemctl status``."""
        return self.notify(STATUS=text)

    def watchdog(self) -> bool:
        """Ping the watchdog; send at least every :meth:`watchdog_interval` seconds."""
        return self.notify(WATCHDOG=1)

    def stopping(self) -> bool:
        """Report that a graceful shutdown began."""
        return self.notify(STOPPING=1)

    def notify(self, **fields: str | int) -> bool:
        """Send ``fields`` as one datagram of ``KEY=VALUE`` lines, in the given order.

        Returns whether the message was handed to the socket; ``False`` when
        notifications are disabled or sending failed (the failure is logged).
        Newlines in values are replaced by spaces, so a value can never add a
        field of its own.

        Raises:
            ValueError: a field name is empty or contains ``=`` or a newline;
                that is a bug in the caller, not a runtime condition.

        """
        for key in fields:
            if not key or "=" in key or "\n" in key:
                raise ValueError(f"invalid sd_notify field name: {key!r}")
        if self._address is None:
            return False
        payload = "".join(f"{key}={_one_line(value)}\n" for key, value in fields.items())
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(payload.encode(), self._address)
        except OSError as exc:
            structlog.get_logger().warning(
                "sd_notify_failed", socket=self._display, fields=list(fields), error=str(exc)
            )
            return False
        return True

    def watchdog_interval(self) -> float | None:
        """Seconds between watchdog pings, or ``None`` when no watchdog is armed.

        Half of ``WATCHDOG_USEC``, as ``sd_watchdog_enabled(3)`` recommends, so
        one late ping does not get the service killed. ``WATCHDOG_PID``, when
        set, must name this process: the variables may have been inherited
        from a parent that is the real watched service.
        """
        if self._watchdog_pid is not None:
            try:
                pid = int(self._watchdog_pid)
            except ValueError:
                return None
            if pid != os.getpid():
                return None
        try:
            usec = int(self._watchdog_usec or "")
        except ValueError:
            return None
        if usec <= 0:
            return None
        return usec / 2 / 1_000_000


def _parse_address(value: str) -> str | None:
    if value.startswith("/"):
        return value
    if value.startswith("@") and len(value) > 1:
        # Linux spells abstract socket names with a leading NUL byte.
        return "\0" + value[1:]
    return None


def _one_line(value: str | int) -> str:
    return str(value).replace("\n", " ")
