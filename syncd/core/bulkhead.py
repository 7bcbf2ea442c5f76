"""Bulkheads: no provider or sink may hold more than its share of the workers.

The workers (``concurrency`` of them) are shared by every target. Without a
bound, a provider or store that hangs collects them one by one: each target
that reaches it waits out its timeout, and the targets of every other
provider and sink wait in the queue behind. So each provider and each sink
has a :class:`Compartment` of slots, ``share`` of the workers (at least one):

* **Providers** are gated where targets are dispatched, so a worker never
  waits for a provider's slot. A one-shot run (:func:`syncd.core.fanout.fan_out`
  with a ``gate``) starts the next target whose provider has a free slot,
  and leaves the others queued; the daemon defers a due target whose
  provider is full by a moment (:data:`DEFER`) and lets its worker go.
* **Sinks** are entered by a target's bindings, one at a time. The engine
  writes first to the sinks that are neither full nor suspect (a breaker
  that counted a timeout), so a stuck store delays no other sink of the same
  target. Entering a full sink waits for a slot while the sink makes
  progress; when no slot has come free for :data:`STALL` seconds it is
  stalled, and the binding fails at once (:class:`~syncd.errors.SinkBusy`,
  transient) instead of holding the worker.

The default share is half of the workers when more than one provider (or
sink) is configured, and all of them when there is one: one dependency
cannot starve itself. ``worker_share`` in the config sets it for all.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator

from syncd.core import timebox
from syncd.errors import SinkBusy

#: The share of the workers a provider or sink may hold when more than one is configured.
DEFAULT_SHARE = 0.5
#: Seconds without a freed slot after which a full sink counts as stalled.
STALL = 5.0
#: Seconds the daemon defers a due target whose provider has no free slot.
DEFER = 1.0


def slots(concurrency: int, share: float | None, configured: int) -> int:
    """The slots of one compartment: ``share`` of ``concurrency``, at least 1.

    ``share`` None is the default: :data:`DEFAULT_SHARE` when ``configured``
    (the number of providers, or of sinks) is more than one, else all.
    """
    if share is None:
        share = DEFAULT_SHARE if configured > 1 else 1.0
    return max(1, math.floor(concurrency * share + 1e-9))


class Compartment:
    """The slots of one provider or sink. Thread-safe.

    ``clock`` (monotonic seconds) measures stalls; tests inject a fake one.
    """

    def __init__(
        self,
        kind: str,
        name: str,
        capacity: int,
        *,
        stall: float = STALL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"a compartment needs at least one slot, not {capacity}")
        self.kind = kind
        self.name = name
        self.capacity = capacity
        self.stall = stall
        self._clock = clock
        self._cond = threading.Condition()
        self._held = 0
        self._freed = clock()

    @property
    def held(self) -> int:
        """Slots in use now."""
        with self._cond:
            return self._held

    @property
    def full(self) -> bool:
        """Whether every slot is in use."""
        with self._cond:
            return self._held >= self.capacity

    def try_enter(self) -> bool:
        """Take a slot if one is free; never waits."""
        with self._cond:
            if self._held >= self.capacity:
                return False
            self._held += 1
            return True

    def enter(self) -> None:
        """Take a slot, waiting while the compartment makes progress.

        Raises:
            SinkBusy: every slot is held and none has come free for ``stall``
                seconds (the constructor's), or before the time box's deadline.
            Interrupted: syncd is stopping.

        """
        box = timebox.current()
        with self._cond:
            while self._held >= self.capacity:
                box.ensure_running()
                quiet = self._clock() - self._freed
                wait = min(self.stall - quiet, box.left())
                if wait <= 0:
                    raise SinkBusy(
                        f"{self.kind} {self.name} is stalled: all {self.capacity} of its "
                        f"workers have been busy for {quiet:.3g}s; not written this time"
                    )
                # Short waits, so a stop signal is noticed within a fraction of a second.
                self._cond.wait(min(wait, 0.25))
            self._held += 1

    def leave(self) -> None:
        """Give a slot back."""
        with self._cond:
            self._held -= 1
            self._freed = self._clock()
            self._cond.notify()

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """Hold a slot (:meth:`enter`) for the block."""
        self.enter()
        try:
            yield
        finally:
            self.leave()


class Bulkheads:
    """The compartments of one runtime's providers and sinks, made on first use. Thread-safe."""

    def __init__(
        self,
        concurrency: int,
        *,
        share: float | None = None,
        providers: Iterable[str] = (),
        sinks: Iterable[str] = (),
        stall: float = STALL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.concurrency = concurrency
        self.share = share
        self._stall = stall
        self._clock = clock
        self._counts = {"provider": len(set(providers)), "sink": len(set(sinks))}
        self._lock = threading.Lock()
        self._compartments: dict[tuple[str, str], Compartment] = {}

    def provider(self, name: str) -> Compartment:
        """The compartment of provider ``name``."""
        return self._get("provider", name)

    def sink(self, name: str) -> Compartment:
        """The compartment of sink ``name``."""
        return self._get("sink", name)

    def _get(self, kind: str, name: str) -> Compartment:
        with self._lock:
            found = self._compartments.get((kind, name))
            if found is None:
                capacity = slots(self.concurrency, self.share, self._counts[kind])
                found = Compartment(kind, name, capacity, stall=self._stall, clock=self._clock)
                self._compartments[kind, name] = found
            return found
