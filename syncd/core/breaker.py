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

A call that retries (a provider's fetch, botocore's attempts) reports each
attempt that got no answer as it happens (:func:`keep_trying`), so a hung
server opens the breaker after :data:`FAILURES` timed-out *attempts*, not
calls; the calls still in their retries then stop at once instead of waiting
out their remaining attempts. A call that counted its attempts is not counted
again when it fails.

Breakers live as long as the runtime (:class:`syncd.core.runtime.Runtime`); a
reload builds a new runtime, whose breakers start closed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
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


@dataclass
class _Call:
    """A call in progress through a breaker, for :func:`keep_trying`."""

    breaker: Breaker
    probe: bool
    #: Attempts of this call already counted as unanswered.
    counted: int = field(default=0)


_CALL: ContextVar[_Call | None] = ContextVar("syncd_breaker_call", default=None)


def keep_trying() -> bool:
    """Count an attempt that got no answer; whether the call in progress may try again.

    Called by retry loops (outside any breaker call it only says yes). False
    once the breaker is open, or when the call is the probe of an open one:
    one unanswered probe attempt is its answer.
    """
    call = _CALL.get()
    if call is None:
        return True
    call.counted += 1
    return call.breaker._unanswered_attempt(probe=call.probe)


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
        #: Called with kind and name when an open breaker closes (outside its lock).
        self.on_close: Callable[[Kind, str], None] | None = None

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
        call = _Call(self, probe)
        token = _CALL.set(call)
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            self._settle(exc, probe=probe, counted=call.counted > 0)
            raise
        finally:
            _CALL.reset(token)
        self._settle(None, probe=probe)
        return result

    def rejecting(self) -> bool:
        """Whether a call now would fail fast: open, and no probe due (or one under way)."""
        with self._lock:
            if self._since is None:
                return False
            return self._probing or self._clock() < self._next_probe

    @property
    def suspect(self) -> bool:
        """Whether the last calls or attempts went unanswered (the breaker may be open)."""
        with self._lock:
            return self._count > 0 or self._since is not None

    def _unanswered_attempt(self, *, probe: bool) -> bool:
        with self._lock:
            self._count_unanswered()
            return self._since is None and not probe

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

    def _settle(self, exc: BaseException | None, *, probe: bool, counted: bool = False) -> None:
        closed = False
        with self._lock:
            if probe:
                self._probing = False
            if isinstance(exc, (ProviderUnreachable, SinkUnreachable)):
                if not counted:
                    self._count_unanswered()
            elif exc is None or (isinstance(exc, SyncdError) and not exc.transient):
                self._count = 0
                closed, self._since = self._since is not None, None
        if closed and self.on_close is not None:
            self.on_close(self.kind, self.name)

    def _count_unanswered(self) -> None:
        """Count one unanswered call or attempt; open at the Nth (the lock is held)."""
        self._count += 1
        if self._since is None and self._count >= self.failures:
            self._since = datetime.fromtimestamp(self._wall(), UTC)
            self._next_probe = self._clock() + self.probe_interval

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
        self._on_close: Callable[[Kind, str], None] | None = None

    def listen(self, on_close: Callable[[Kind, str], None]) -> None:
        """Call ``on_close(kind, name)`` whenever one of the breakers closes (any thread)."""
        with self._lock:
            self._on_close = on_close
            for breaker in self._breakers.values():
                breaker.on_close = on_close

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
                breaker.on_close = self._on_close
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
