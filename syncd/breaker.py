"""Circuit breakers: one per provider and one per sink, so a hung server fails fast.

A server that accepts connections and never answers makes every call wait its
timeout, on every attempt; the workers pile up on it and the targets of other
providers and sinks starve. A breaker counts consecutive calls that got no
answer at all (:class:`~syncd.errors.ProviderUnreachable`,
:class:`~syncd.errors.SinkUnreachable`: a timeout or a connection failure).
After :data:`FAILURES` of them it opens, and calls fail at once, without being
sent, with :class:`~syncd.errors.ProviderCircuitOpen` or
:class:`~syncd.errors.SinkCircuitOpen` (transient). While it is open, one call
every :data:`PROBE_INTERVAL` seconds is let through as a probe; the first call
that gets an answer closes it.

What a call's outcome does:

=====================================  =====================================
outcome                                effect
=====================================  =====================================
success, or a permanent error (an      an answer: the count resets and an
answer such as 401, 404)               open breaker closes
timeout, connection failure            counted; the breaker opens at the Nth
any other error (429, 5xx, a rate      nothing: it says nothing about
limiter's refusal, a deadline)         whether the server answers
=====================================  =====================================

Breakers live as long as the runtime (:class:`syncd.runtime.Runtime`); a
reload builds a new runtime, whose breakers start closed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, ParamSpec, TypeVar

from syncd.errors import (
    ProviderCircuitOpen,
    ProviderUnreachable,
    SinkCircuitOpen,
    SinkUnreachable,
    SyncdError,
)

#: Consecutive calls without an answer after which a breaker opens.
FAILURES = 3
#: Seconds between the probe calls an open breaker lets through.
PROBE_INTERVAL = 30.0

Kind = Literal["provider", "sink"]

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class OpenCircuit:
    """An open breaker, as readiness reports it: what, and since when (UTC)."""

    kind: Kind
    name: str
    since: datetime


class Breaker:
    """The circuit breaker of one provider or sink. Thread-safe.

    ``clock`` (monotonic seconds) spaces the probes; ``wall`` (epoch seconds)
    only dates the opening for messages. Tests inject fake ones.
    """

    def __init__(
        self,
        kind: Kind,
        name: str,
        *,
        failures: int = FAILURES,
        probe_interval: float = PROBE_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.kind = kind
        self.name = name
        self.failures = failures
        self.probe_interval = probe_interval
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._count = 0
        self._since: datetime | None = None
        self._next_probe = 0.0
        self._probing = False

    @property
    def since(self) -> datetime | None:
        """When the breaker opened (UTC), or None while it is closed."""
        with self._lock:
            return self._since

    def call(self, func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call ``func`` through the breaker; fail fast instead while it is open.

        Raises:
            ProviderCircuitOpen, SinkCircuitOpen: the breaker is open and no
                probe is due; ``func`` was not called.
            Whatever ``func`` raises, unchanged.

        """
        probe = self._admit()
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            self._settle(exc, probe=probe)
            raise
        self._settle(None, probe=probe)
        return result

    def _admit(self) -> bool:
        """Whether the call is a probe; raises when the breaker is open and none is due."""
        with self._lock:
            if self._since is None:
                return False
            now = self._clock()
            if self._probing or now < self._next_probe:
                raise self._open_error(self._since)
            self._probing = True
            self._next_probe = now + self.probe_interval
            return True

    def _settle(self, exc: BaseException | None, *, probe: bool) -> None:
        with self._lock:
            if probe:
                self._probing = False
            if isinstance(exc, (ProviderUnreachable, SinkUnreachable)):
                self._count += 1
                if self._since is None and self._count >= self.failures:
                    self._since = datetime.fromtimestamp(self._wall(), UTC)
                    self._next_probe = self._clock() + self.probe_interval
            elif exc is None or (isinstance(exc, SyncdError) and not exc.transient):
                self._count = 0
                self._since = None

    def _open_error(self, since: datetime) -> SyncdError:
        shown = since.strftime("%Y-%m-%d %H:%M:%S UTC")
        message = f"{self.kind} {self.name} unavailable (circuit open since {shown})"
        if self.kind == "provider":
            return ProviderCircuitOpen(message)
        return SinkCircuitOpen(message)


class Breakers:
    """The breakers of one runtime, made on first use, by kind and name. Thread-safe."""

    def __init__(
        self,
        *,
        failures: int = FAILURES,
        probe_interval: float = PROBE_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._failures = failures
        self._probe_interval = probe_interval
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._breakers: dict[tuple[Kind, str], Breaker] = {}

    def provider(self, name: str) -> Breaker:
        """The breaker of provider ``name``."""
        return self._get("provider", name)

    def sink(self, name: str) -> Breaker:
        """The breaker of sink ``name``."""
        return self._get("sink", name)

    def _get(self, kind: Kind, name: str) -> Breaker:
        with self._lock:
            breaker = self._breakers.get((kind, name))
            if breaker is None:
                breaker = Breaker(
                    kind,
                    name,
                    failures=self._failures,
                    probe_interval=self._probe_interval,
                    clock=self._clock,
                    wall=self._wall,
                )
                self._breakers[kind, name] = breaker
            return breaker

    def all(self) -> list[Breaker]:
        """Every breaker made so far, sorted by kind and name."""
        with self._lock:
            return [self._breakers[key] for key in sorted(self._breakers)]

    def open(self) -> list[OpenCircuit]:
        """The open breakers, sorted by kind and name."""
        found = []
        for breaker in self.all():
            since = breaker.since
            if since is not None:
                found.append(OpenCircuit(breaker.kind, breaker.name, since))
        return found
