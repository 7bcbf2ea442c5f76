"""The sync algorithm: fetch, render, compare, write, report.

For each target the engine fetches the connection once (and its other one,
pooled or direct, when a binding needs it: :mod:`syncd.core.pair`), then for each
of its sink bindings renders the document, asks the sink for the secret's state
(never its value) and decides what to do (:func:`syncd.core.planning.decide`,
whose table a rotation and ``syncd check`` follow too).

One binding's failure never stops the others, nor other targets. The engine
is the same for ``run --once``, ``check``, ``--dry-run`` and the daemon.
A target whose ``rotation`` resets passwords is handed to the ``rotate`` hook
instead (:class:`syncd.core.rotation.Rotations`, which owns that order).

Each target runs in a time box (:mod:`syncd.core.timebox`): its whole sync, the
fetch and every sink write, must end within :data:`TARGET_DEADLINE` seconds,
so no server can hold a worker, or a run, longer than that. Every limiter
wait and retry checks it; past it nothing more is sent and the target fails
(:class:`~syncd.errors.TargetTimedOut`, transient). A rotating target gets the
rotation's own, longer box instead (:data:`syncd.core.rotation.TARGET_DEADLINE`).
The box carries the engine's ``stop`` event, which a signal sets: every wait
of every target then ends at once (:mod:`syncd.core.fanout`).

Every fetch, inspect and write goes through its provider's or sink's circuit
breaker (:mod:`syncd.core.breaker`): once a server has left several calls in a row
without an answer, the calls for it fail fast instead of each waiting out its
timeout, so the workers stay free for the other providers' and sinks' targets.
And no provider or sink may hold more than its share of the workers
(:mod:`syncd.core.bulkhead`): a cycle starts the targets whose provider has a free
slot (:meth:`Engine.admit`), and a target writes first to the sinks that are
neither full nor suspect, so a stuck store delays none of its other sinks.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import structlog

from syncd.core import timebox
from syncd.core.breaker import Breakers
from syncd.core.bulkhead import Bulkheads
from syncd.core.fanout import Release, fan_out
from syncd.core.models import (
    Action,
    ConnectionInfo,
    Owner,
    SinkBinding,
    SinkOutcome,
    Target,
    TargetOutcome,
)
from syncd.core.pair import fetch_pair
from syncd.core.planning import (
    TARGET_DEADLINE,
    decide,
    failure,
    provider_crashed,
    render_binding,
    sink_crashed,
    time_box,
    where,
    write_request,
)
from syncd.errors import SyncdError
from syncd.providers.base import Provider
from syncd.sinks.base import DEFAULT_INSTANCE, Sink

log = structlog.get_logger("syncd.engine")
# Checked before building a debug event: a structlog call costs its processors
# even when the stdlib level then drops it, and the engine makes two per target.
_debug_enabled = logging.getLogger("syncd.engine").isEnabledFor

_WRITTEN_EVENTS = {
    Action.CREATE: "secret_created",
    Action.UPDATE: "secret_updated",
    Action.DRIFT: "secret_drift_repaired",
}


@dataclass(frozen=True)
class CycleReport:
    """What one cycle did, for the summary event, the CLI and metrics."""

    outcomes: tuple[TargetOutcome, ...]
    duration: float
    dry_run: bool = False
    counts: Counter[str] = field(default_factory=Counter, init=False, compare=False)

    def __post_init__(self) -> None:
        for target in self.outcomes:
            self.counts["targets_ok" if target.ok else "targets_failed"] += 1
            for outcome in target.sinks:
                if outcome.error is not None:
                    self.counts["sink_errors"] += 1
                elif outcome.action is not None:
                    self.counts[outcome.action.value] += 1

    @property
    def ok(self) -> bool:
        """Whether every target succeeded."""
        return all(t.ok for t in self.outcomes)


class Engine:
    """Syncs targets through the given providers and sinks (looked up by name)."""

    def __init__(
        self,
        providers: Mapping[str, Provider],
        sinks: Mapping[str, Sink],
        *,
        concurrency: int = 8,
        dry_run: bool = False,
        on_outcome: Callable[[TargetOutcome], None] | None = None,
        instance: str = DEFAULT_INSTANCE,
        rotate: Callable[[Target], TargetOutcome] | None = None,
        stop: threading.Event | None = None,
        target_deadline: float | None = TARGET_DEADLINE,
        clock: Callable[[], float] = time.monotonic,
        breakers: Breakers | None = None,
        bulkheads: Bulkheads | None = None,
    ) -> None:
        self.providers = providers
        self.sinks = sinks
        self.instance = instance
        self.concurrency = concurrency
        self.dry_run = dry_run
        #: Set by a signal (or the daemon's shutdown): every wait of every target ends.
        self.stop = stop if stop is not None else threading.Event()
        self.target_deadline = target_deadline
        self._clock = clock
        #: One breaker per provider and per sink (:mod:`syncd.core.breaker`); the
        #: runtime passes its own, so they outlive one engine.
        self.breakers = breakers if breakers is not None else Breakers()
        #: The share of the workers each provider and sink may hold (:mod:`syncd.core.bulkhead`).
        self.bulkheads = (
            bulkheads
            if bulkheads is not None
            else Bulkheads(concurrency, providers=providers, sinks=sinks)
        )
        self._on_outcome = on_outcome
        self._rotate = rotate

    def sync_target(self, target: Target) -> TargetOutcome:
        """Sync one target into all its sinks, within its deadline; never raises for a failure."""
        if self._rotate is not None and target.rotation is not None and target.rotation.rotates:
            return self._rotated(target, self._rotate)
        with (
            structlog.contextvars.bound_contextvars(target=target.name),
            self._time_box(target, self.target_deadline),
        ):
            try:
                provider = self.providers[target.provider]
                breaker = self.breakers.provider(target.provider)
                conn, other = fetch_pair(lambda t: breaker.call(provider.fetch, t), target)
            except SyncdError as exc:
                log.error(  # noqa: TRY400 - an expected failure: its message is the story
                    "fetch_failed",
                    provider=target.provider,
                    project=target.project,
                    branch=target.branch,
                    error=str(exc),
                    transient=exc.transient,
                )
                outcome = TargetOutcome(target.name, error=exc)
            except Exception as exc:
                log.exception(
                    "provider_crashed", provider=target.provider, error_type=type(exc).__name__
                )
                outcome = TargetOutcome(target.name, error=provider_crashed(target.provider, exc))
            else:
                outcome = TargetOutcome(target.name, self._sync_bindings(target, conn, other))
                # At info an unchanged target says nothing; at debug each one reports.
                if _debug_enabled(logging.DEBUG):
                    actions = Counter(
                        o.action.value for o in outcome.sinks if o.action and not o.error
                    )
                    failed = sum(o.error is not None for o in outcome.sinks)
                    log.debug("target_synced", ok=outcome.ok, sink_errors=failed, **actions)
        if self._on_outcome is not None:
            self._on_outcome(outcome)
        return outcome

    def admit(self, provider: str) -> Release | None:
        """A slot of ``provider``, as the release that frees it; None while all are taken.

        A provider whose breaker fails calls fast needs no slot: its targets
        are admitted at once, fail at once and free their worker.
        """
        if self.breakers.provider(provider).rejecting():
            return _no_slot
        compartment = self.bulkheads.provider(provider)
        return compartment.leave if compartment.try_enter() else None

    def _rotated(self, target: Target, rotate: Callable[[Target], TargetOutcome]) -> TargetOutcome:
        """A rotation-enabled target: the hook decides and runs it (never raises).

        The hook opens the rotation's own time box; this one only carries ``stop``.
        """
        with (
            structlog.contextvars.bound_contextvars(target=target.name),
            self._time_box(target, None),
        ):
            outcome = rotate(target)
        if self._on_outcome is not None:
            self._on_outcome(outcome)
        return outcome

    def run_cycle(self, targets: Iterable[Target]) -> CycleReport:
        """Sync ``targets`` with at most ``concurrency`` in flight; log one summary event."""
        started = time.monotonic()
        # Interrupted (Ctrl-C, SIGTERM): waits end at once, requests in flight finish
        # (sink writes are atomic), targets not started yet are not started.
        outcomes = fan_out(
            self.sync_target,
            list(targets),
            concurrency=self.concurrency,
            stop=self.stop,
            gate=_ProviderGate(self),
        )
        report = CycleReport(tuple(outcomes), time.monotonic() - started, self.dry_run)
        log.log(
            logging.INFO if report.ok else logging.ERROR,
            "cycle_finished",
            dry_run=self.dry_run,
            targets_ok=report.counts["targets_ok"],
            targets_failed=report.counts["targets_failed"],
            created=report.counts["create"],
            updated=report.counts["update"],
            drift_repaired=report.counts["drift"],
            rotated=report.counts["rotate"],
            unchanged=report.counts["unchanged"],
            duration_s=round(report.duration, 3),
        )
        return report

    def _time_box(
        self, target: Target, seconds: float | None
    ) -> AbstractContextManager[timebox.TimeBox]:
        return time_box(target, seconds, stop=self.stop, clock=self._clock)

    def _sync_bindings(
        self, target: Target, conn: ConnectionInfo, other: ConnectionInfo | None
    ) -> tuple[SinkOutcome, ...]:
        """Every binding of ``target``, the full or suspect sinks last; outcomes in config order."""
        bindings = target.sinks
        if len(bindings) == 1:
            return (self._sync_binding(target, bindings[0], conn, other),)
        order = sorted(range(len(bindings)), key=lambda i: self._later(bindings[i].sink))
        done = {i: self._sync_binding(target, bindings[i], conn, other) for i in order}
        return tuple(done[i] for i in range(len(bindings)))

    def _later(self, sink: str) -> bool:
        """Whether to write to ``sink`` after the others: its slots are full, or it hangs."""
        return self.breakers.sink(sink).suspect or self.bulkheads.sink(sink).full

    def _sink_slot(self, sink: str) -> AbstractContextManager[None]:
        """A slot of ``sink`` for one binding; none when its breaker fails calls fast anyway."""
        if self.breakers.sink(sink).rejecting():
            return contextlib.nullcontext()
        return self.bulkheads.sink(sink).holding()

    def _sync_binding(
        self,
        target: Target,
        binding: SinkBinding,
        conn: ConnectionInfo,
        other: ConnectionInfo | None = None,
    ) -> SinkOutcome:
        ids = {"sink": binding.sink, "secret": binding.secret}
        named = where(binding)
        sink = self.sinks[binding.sink]
        breaker = self.breakers.sink(binding.sink)
        action: Action | None = None
        try:
            document = render_binding(conn, binding, named, other=other)
            with self._sink_slot(binding.sink):
                state = breaker.call(sink.inspect, binding.secret)
                owner = Owner(self.instance, target.name)
                action = decide(state, document.text, adopt=binding.adopt, where=named, owner=owner)
                if action is Action.UNCHANGED or self.dry_run:
                    if _debug_enabled(logging.DEBUG):
                        log.debug(
                            "secret_checked", action=action.value, dry_run=self.dry_run, **ids
                        )
                    return SinkOutcome(target.name, binding.sink, binding.secret, action)
                request = write_request(
                    target, binding, document, state, action, instance=self.instance
                )
                version = breaker.call(sink.write, request)
        except SyncdError as exc:
            log.error(  # noqa: TRY400 - an expected failure: its message is the story
                "sync_failed", **failure(exc), **ids
            )
            return SinkOutcome(target.name, binding.sink, binding.secret, action, error=exc)
        except Exception as exc:
            log.exception("sink_crashed", error_type=type(exc).__name__, **ids)
            error = sink_crashed(named, exc)
            return SinkOutcome(target.name, binding.sink, binding.secret, action, error=error)
        log.info(_WRITTEN_EVENTS[action], version=version, **ids)
        return SinkOutcome(target.name, binding.sink, binding.secret, action, written=True)


def _no_slot() -> None:
    """The release of a target admitted without a slot (its provider fails fast)."""


class _ProviderGate:
    """The engine's :class:`~syncd.core.fanout.Gate`: targets by provider, admitted by its slots."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def key(self, target: Target) -> str:
        return target.provider

    def admit(self, key: Hashable) -> Release | None:
        return self._engine.admit(str(key))
