"""A systemd notifier for tests: it keeps what it would send."""

from __future__ import annotations

from syncd.daemon.sdnotify import Notifier


class RecordingNotifier(Notifier):
    """A Notifier that keeps what it would send instead of sending it."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        super().__init__(environ or {})
        self.sent: list[dict[str, str | int]] = []

    def notify(self, **fields: str | int) -> bool:
        self.sent.append(fields)
        return True

    def names(self) -> list[str]:
        return [key for fields in self.sent for key in fields]
