"""The rotation lease: one writer per target's password reset, recorded in the secret stores.

A reset that two processes both start (a CronJob run and a manual ``syncd
rotate``, two overlapping CronJob runs) kills the password the other one
publishes. So before a reset, :mod:`syncd.core.rotation` takes a lease next to the
target's first secret (the first binding whose sink is a
:class:`~syncd.sinks.base.Leaser`), using the compare-and-set that store
offers. The lease is state in the stores, not on a disk: it works from a
CronJob pod with nothing local, and across pods and hosts.

A lease records:

* ``holder``: a random id of one rotation attempt (one process, one target);
* ``expires``: when others may take it over without asking. It is longer than
  the rotation's own deadline (:data:`TTL` > ``rotation.DEADLINE``), so a
  holder that is still working never loses it;
* ``intent``: the role whose password the holder is about to reset, and when
  (a :class:`~syncd.core.models.RotationMark`). It is recorded in the same
  compare-and-set as the lease itself, before the reset, so a run that finds
  the lease of a holder that died knows which rotation to finish;
* ``host`` and ``process``: where the holder runs, for messages, and the
  identity of its process (kernel boot, PID namespace, PID, start time). A
  lease whose process is provably gone (same kernel and PID namespace, and
  that PID no longer runs that process) is abandoned before it expires, so a
  holder killed on the same machine does not block the next run for
  :data:`TTL`. Elsewhere only expiry tells, with :data:`CLOCK_SKEW` of slack.

Every field is read from a store, so it is hostile input: :meth:`Lease.decode`
accepts only the exact shape :meth:`Lease.encode` writes. A record that does
not decode has no expiry to wait for, so it counts as abandoned: garbage in a
store must not block rotation forever. Taking it over is still a
compare-and-set on the store's own token for that record (:class:`Record`),
so two runs cannot both take it.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from syncd.core.models import RotationMark

#: How long a lease holds: longer than the rotation deadline (10 minutes) plus slack.
TTL = timedelta(minutes=15)
#: Clocks of different hosts may disagree by this much: a lease counts as expired
#: only this long after its ``expires``.
CLOCK_SKEW = timedelta(minutes=1)
#: The longest encoded lease: it must fit an AWS tag value (256 characters).
MAX_ENCODED = 256
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_HOLDER = re.compile(r"[0-9a-f]{16}")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_HOST = re.compile(r"[A-Za-z0-9._-]{1,40}")
_PROCESS = re.compile(r"[0-9a-f]{32}:[0-9]{1,20}:[0-9]{1,10}:[0-9]{1,20}")
_NONE = "-"


@dataclass(frozen=True)
class Lease:
    """One holder's claim on a target's rotation; see the module docstring."""

    holder: str
    expires: datetime
    intent: RotationMark | None = None
    host: str = _NONE
    process: str = _NONE

    def encode(self) -> str:
        """One line of space-separated fields, at most :data:`MAX_ENCODED` characters."""
        at, role = self.intent.encode() if self.intent is not None else (_NONE, _NONE)
        return " ".join(
            ("v1", self.holder, _format(self.expires), at, role, self.host, self.process)
        )

    @classmethod
    def decode(cls, text: str | None) -> Lease | None:  # noqa: PLR0911 - one None per check
        """Parse :meth:`encode` output; None for anything else (see the module docstring)."""
        if not text or len(text) > MAX_ENCODED:
            return None
        fields = text.split(" ")
        if len(fields) != 7 or fields[0] != "v1":  # noqa: PLR2004 - the encoded shape
            return None
        _, holder, expires, at, role, host, process = fields
        when = _parse(expires)
        if not _HOLDER.fullmatch(holder) or when is None:
            return None
        intent = None
        if (at, role) != (_NONE, _NONE):
            intent = RotationMark.decode(at, role)
            if intent is None:
                return None
        if host != _NONE and not _HOST.fullmatch(host):
            return None
        if process != _NONE and not _PROCESS.fullmatch(process):
            return None
        return cls(holder, when, intent, host, process)

    def expired(self, now: datetime) -> bool:
        """Whether ``now`` is past the expiry by more than :data:`CLOCK_SKEW`."""
        return now > self.expires + CLOCK_SKEW

    def abandoned(self, now: datetime) -> bool:
        """Whether another run may take this lease over: expired, or its process is gone."""
        return self.expired(now) or _gone(self.process)

    def describe(self) -> str:
        """Who holds it, for messages: ``holder <id> on <host> until <time>``."""
        return f"holder {self.holder} on {self.host} until {_format(self.expires)}"


@dataclass(frozen=True)
class Record:
    """What a store holds as a target's lease: its compare-and-set token, and the lease.

    ``token`` is the store's own (AWS: the version id carrying the lease label;
    Vault: the KV version; file: the lease file's text). ``lease`` is None when
    the record does not decode, and is then treated as abandoned.
    """

    token: str
    lease: Lease | None

    def abandoned(self, now: datetime) -> bool:
        """Whether a run may take this record over (see :meth:`Lease.abandoned`)."""
        return self.lease is None or self.lease.abandoned(now)


def new(now: datetime, intent: RotationMark | None, *, ttl: timedelta = TTL) -> Lease:
    """A fresh lease for this process, expiring ``ttl`` after ``now``."""
    return Lease(
        holder=secrets.token_hex(8),
        expires=(now + ttl).astimezone(UTC).replace(microsecond=0),
        intent=intent,
        host=_hostname(),
        process=this_process(),
    )


def this_process() -> str:
    """``<boot id>:<pid namespace>:<pid>:<start time>`` of this process, or ``-`` off Linux."""
    return _identity(os.getpid()) or _NONE


def _identity(pid: int) -> str | None:
    boot = _boot_id()
    namespace = _pid_namespace()
    started = _start_time(pid)
    if boot is None or namespace is None or started is None:
        return None
    return f"{boot}:{namespace}:{pid}:{started}"


def _gone(process: str) -> bool:
    """Whether ``process`` ran on this kernel, in this PID namespace, and runs no more."""
    if not _PROCESS.fullmatch(process):
        return False
    boot, namespace, pid, started = process.split(":")
    if boot != _boot_id() or namespace != _pid_namespace():
        return False  # another machine or container: only expiry can tell
    return _start_time(int(pid)) != started


def _boot_id() -> str | None:
    try:
        text = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    boot = text.replace("-", "")
    return boot if re.fullmatch(r"[0-9a-f]{32}", boot) else None


def _pid_namespace() -> str | None:
    try:
        link = str(Path("/proc/self/ns/pid").readlink())
    except OSError:
        return None
    match = re.fullmatch(r"pid:\[([0-9]{1,20})\]", link)
    return match.group(1) if match else None


def _start_time(pid: int) -> str | None:
    """Field 22 of ``/proc/<pid>/stat``: when the process started, in clock ticks since boot."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat.rpartition(")")[2].split()
    started = fields[19] if len(fields) > 19 else None  # noqa: PLR2004 - field 22 of proc(5)
    return started if started is not None and started.isdigit() else None


def _hostname() -> str:
    name = socket.gethostname().split(".")[0]
    return name[:40] if _HOST.fullmatch(name[:40]) else _NONE


def _format(when: datetime) -> str:
    return when.astimezone(UTC).strftime(_TIME_FORMAT)


def _parse(text: str) -> datetime | None:
    if not _TIME.fullmatch(text):
        return None
    try:
        return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


__all__ = ["CLOCK_SKEW", "MAX_ENCODED", "TTL", "Lease", "Record", "new", "this_process"]
