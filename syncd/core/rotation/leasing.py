"""One writer per target: taking the rotation lease, waiting for another holder, letting go.

The lease (:mod:`syncd.core.lease`) lives next to the target's first secret
whose sink can hold one, and is taken with a compare-and-set. Which lease
this process is using right now is remembered here: a lease recorded for
this process by a holder not among them was left by a rotation that failed
after its reset, and the next run finishes it instead of waiting for itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from syncd.core import lease
from syncd.core.lease import Record
from syncd.core.models import RotationMark
from syncd.core.rotation.job import LOGGER, Job, View
from syncd.errors import ProviderUnavailable, SinkConflict, SyncdError
from syncd.sinks.base import Leaser

log = structlog.get_logger(LOGGER)

#: Seconds between looks at a lease another run holds.
LEASE_POLL = 1.0


@dataclass
class Held:
    """The lease this run holds: where, and every holder id it has recorded."""

    sink: Leaser
    secret: str
    record: Record
    holders: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.record.lease is not None:
            self.holders.add(self.record.lease.holder)

    @property
    def holder(self) -> str:
        """The holder id recorded now."""
        assert self.record.lease is not None  # noqa: S101 - we wrote it
        return self.record.lease.holder

    def let_go(self, *, keep: bool) -> None:
        """Release the lease, unless ``keep``: then the next run finishes what it records."""
        if keep:
            log.warning("lease_kept", secret=self.secret, reason="the reset's outcome is unknown")
            return
        try:
            self.sink.release_lease(self.secret, self.record)
        except SyncdError as exc:  # it expires anyway
            log.warning("lease_release_failed", error=str(exc))


def who(record: Record | None) -> str:
    """The holder ``record`` names, for a log event or a message."""
    return record.lease.describe() if record is not None and record.lease else "unknown holder"


class Leases:
    """The rotation leases of one process: found, read, taken, waited for and let go."""

    def __init__(
        self,
        *,
        now: Callable[[], datetime],
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        ttl: timedelta,
    ) -> None:
        self._now = now
        self._clock = clock
        self._sleep = sleep
        self._ttl = ttl
        #: Holders of the leases this process is using now (see the module doc).
        self._active: set[str] = set()
        self._lock = threading.Lock()

    @staticmethod
    def find(job: Job) -> View | None:
        """The binding that holds the target's lease: the first whose sink can."""
        for view in job.views:
            if isinstance(view.sink, Leaser):
                return view
        return None

    @staticmethod
    def read(view: View) -> Record | None:
        """The lease record next to ``view``'s secret, if any."""
        sink = view.sink
        assert isinstance(sink, Leaser)  # noqa: S101 - find() checked
        try:
            return sink.read_lease(view.binding.secret)
        except SinkConflict:
            return None  # the secret is gone: so is any lease on it

    def abandoned(self, record: Record) -> bool:
        """Whether ``record`` may be taken over: abandoned, or left by this process.

        A lease of this very process whose holder is not running here now was
        kept by a rotation that failed after its reset (see :meth:`Held.let_go`):
        the daemon's next cycle finishes it instead of waiting for itself.
        """
        if record.abandoned(self._now()):
            return True
        held = record.lease
        if held is None or held.process != lease.this_process():
            return False
        with self._lock:
            return held.holder not in self._active

    def take(self, view: View, intent: RotationMark, record: Record | None) -> Held:
        """Take the lease at ``view`` for ``intent`` over ``record``; SinkConflict if lost."""
        sink = view.sink
        assert isinstance(sink, Leaser)  # noqa: S101 - find() checked
        secret = view.binding.secret
        ours = lease.new(self._now(), intent, ttl=self._ttl)
        return Held(sink, secret, sink.take_lease(secret, ours, record))

    def hold(self, held: Held) -> None:
        """Mark ``held`` as in use by this process (until :meth:`let_go`)."""
        with self._lock:
            self._active.add(held.holder)

    def retake(self, held: Held, intent: RotationMark) -> None:
        """Replace our own record with a new ``intent``, compare-and-set as ever."""
        new = lease.new(self._now(), intent, ttl=self._ttl)
        with self._lock:
            self._active.add(new.holder)
        held.holders.add(new.holder)
        held.record = held.sink.take_lease(held.secret, new, held.record)

    def let_go(self, held: Held, *, keep: bool) -> None:
        """No longer in use here; release the lease unless ``keep`` (see :meth:`Held.let_go`)."""
        with self._lock:
            self._active.difference_update(held.holders)
        held.let_go(keep=keep)

    def outwait(self, job: Job, view: View, record: Record | None, until: float) -> None:
        """Wait for the holder of ``record`` to end (polling, until ``clock()`` passes ``until``).

        Raises :class:`~syncd.errors.ProviderUnavailable` when it is still
        held, by a live holder, at ``until``.
        """
        holder = who(record)
        log.info("rotation_held_elsewhere", lease=holder)
        while record is not None and record.lease is not None:
            if self.abandoned(record) or self._clock() >= until:
                break
            self._sleep(min(LEASE_POLL, max(0.0, until - self._clock())))
            latest = self.read(view)
            if latest is None or latest.token != record.token:
                record = None
                break
        if record is not None and record.lease is not None and not self.abandoned(record):
            raise ProviderUnavailable(
                f"target {job.target.name}: another run holds the rotation lease "
                f"({holder}); nothing was reset here, retried next run"
            )
