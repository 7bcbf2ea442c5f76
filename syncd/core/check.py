"""``syncd check``: find what ``run --once`` would hit, without writing a secret.

For every target the check fetches the connection (both, pooled and direct,
when a binding needs both: :mod:`syncd.core.pair`), then for *every* sink
binding (also when the fetch failed) inspects the secret, decides what a run
would do (:func:`syncd.core.planning.decide`) and asks the sink's optional
:class:`~syncd.sinks.base.Preflight` whether the write would be allowed. A
sink without it is reported as not checked, never as failed. For a rotating
target it also checks what a rotation verifies before its reset: no other
rotator on any secret, a sink that can hold the lease, and (alternate) both
roles. Problems make the check fail; notes say what could not be verified.
Each target is checked within the engine's deadline
(:data:`syncd.core.planning.TARGET_DEADLINE`, :mod:`syncd.core.timebox`), and SIGTERM or
SIGINT ends every wait at once, as for a run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import structlog

from syncd.core.fanout import fan_out
from syncd.core.models import Action, ConnectionInfo, Owner, RotationMode, SinkBinding, Target
from syncd.core.pair import fetch_pair
from syncd.core.planning import (
    TARGET_DEADLINE,
    check_owner,
    decide,
    provider_crashed,
    render_binding,
    sink_crashed,
    time_box,
    where,
)
from syncd.core.rotation import NO_LEASE_SINK, missing_role
from syncd.errors import SyncdError
from syncd.providers.base import Provider, Rotator
from syncd.sinks.base import DEFAULT_INSTANCE, Leaser, Preflight, Sink

log = structlog.get_logger("syncd.check")

NO_PREFLIGHT = "permissions not checked (sink has no preflight)"
_WOULD = {
    Action.CREATE: "would create",
    Action.UPDATE: "would update",
    Action.DRIFT: "would repair drift",
    Action.UNCHANGED: "unchanged",
}


@dataclass(frozen=True)
class BindingCheck:
    """What the check found for one sink binding of one target.

    ``action`` is None when it cannot be known: the secret exists and the
    provider failed, so there is no value to compare with.
    """

    target: str
    sink: str
    secret: str
    action: Action | None = None
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether a run would get through this binding, as far as the check can tell."""
        return not self.problems

    @property
    def result(self) -> str:
        """The RESULT column: ``ok (<action>)`` and any notes, or ``FAILED: <problems>``."""
        if self.problems:
            return "FAILED: " + "; ".join(self.problems)
        # "ok (<action>)" stays a prefix of its own, as before notes existed.
        what = _WOULD[self.action] if self.action is not None else "exists, not compared"
        return "; ".join((f"ok ({what})", *self.notes))


@dataclass(frozen=True)
class TargetCheck:
    """What the check found for one target: the fetch and every binding."""

    target: str
    bindings: tuple[BindingCheck, ...] = ()
    error: SyncdError | None = None
    #: What would stop this target's rotation before its reset (rotating targets only).
    rotation: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the fetch, the rotation's preconditions and every binding passed."""
        return self.error is None and not self.rotation and all(b.ok for b in self.bindings)


@dataclass(frozen=True)
class CheckReport:
    """Every target's check, for printing and the exit code."""

    targets: tuple[TargetCheck, ...]
    duration: float

    @property
    def ok(self) -> bool:
        """Whether every target passed."""
        return all(t.ok for t in self.targets)


class Checker:
    """Checks targets against the given providers and sinks (looked up by name)."""

    def __init__(
        self,
        providers: Mapping[str, Provider],
        sinks: Mapping[str, Sink],
        *,
        concurrency: int = 8,
        instance: str = DEFAULT_INSTANCE,
        on_target: Callable[[TargetCheck], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.providers = providers
        self.sinks = sinks
        self.concurrency = concurrency
        self.instance = instance
        self.stop = stop if stop is not None else threading.Event()
        self._on_target = on_target

    def run(self, targets: Iterable[Target]) -> CheckReport:
        """Check ``targets``, at most ``concurrency`` at a time; never raises for a finding."""
        started = time.monotonic()
        checks = fan_out(
            self.check_target,
            list(targets),
            concurrency=self.concurrency,
            stop=self.stop,
            thread_name_prefix="syncd-check",
        )
        report = CheckReport(tuple(checks), time.monotonic() - started)
        log.info(
            "check_finished",
            targets_ok=sum(t.ok for t in checks),
            targets_failed=sum(not t.ok for t in checks),
            duration_s=round(report.duration, 3),
        )
        return report

    def check_target(self, target: Target) -> TargetCheck:
        """Fetch (both connections when needed), then check every binding, fetched or not."""
        with (
            structlog.contextvars.bound_contextvars(target=target.name),
            time_box(target, TARGET_DEADLINE, stop=self.stop),
        ):
            error: SyncdError | None = None
            other: ConnectionInfo | None = None
            try:
                conn, other = fetch_pair(self.providers[target.provider].fetch, target)
            except SyncdError as exc:
                error = exc
            except Exception as exc:  # noqa: BLE001 - a broken plugin is a finding, not a crash
                error = provider_crashed(target.provider, exc)
            if error is not None:
                log.error("check_fetch_failed", provider=target.provider, error=str(error))
            rotates = target.rotation is not None and target.rotation.rotates
            bindings = tuple(
                self._check_binding(
                    target, b, None if error is not None else conn, rotates, other=other
                )
                for b in target.sinks
            )
            rotation = self._check_rotation(target) if rotates else ()
        checked = TargetCheck(target.name, bindings, error, rotation)
        if self._on_target is not None:
            self._on_target(checked)
        return checked

    def _check_rotation(self, target: Target) -> tuple[str, ...]:
        """What a rotation needs beyond the bindings: a lease holder, the roles (alternate).

        The prover (psycopg) is checked before anything runs (:mod:`syncd.core.runtime`),
        ownership and other rotators per binding.
        """
        rotation = target.rotation
        assert rotation is not None and rotation.role is not None  # noqa: S101 - rotates
        problems = []
        if not any(isinstance(self.sinks[b.sink], Leaser) for b in target.sinks):
            problems.append(NO_LEASE_SINK)
        provider = self.providers[target.provider]
        if not isinstance(provider, Rotator):
            return (*problems, f"provider {target.provider} cannot rotate")
        if rotation.mode is RotationMode.ALTERNATE:
            second = rotation.alternate_role or f"{rotation.role}_b"
            for role in (rotation.role, second):
                try:
                    if not provider.role_exists(target, role):
                        problems.append(missing_role(target, role))
                except SyncdError as exc:
                    problems.append(f"cannot tell whether role {role} exists: {exc}")
                    break
        if problems:
            log.error("check_rotation_failed", problems=problems)
        return tuple(problems)

    def _check_binding(
        self,
        target: Target,
        binding: SinkBinding,
        conn: ConnectionInfo | None,
        rotates: bool,
        *,
        other: ConnectionInfo | None = None,
    ) -> BindingCheck:
        ids = {"target": target.name, "sink": binding.sink, "secret": binding.secret}
        named = where(binding)
        sink = self.sinks[binding.sink]
        action: Action | None = None
        owner = Owner(self.instance, target.name)
        try:
            state = sink.inspect(binding.secret)
            if conn is not None:
                document = render_binding(conn, binding, named, other=other)
                action = decide(state, document.text, adopt=binding.adopt, where=named, owner=owner)
            elif not state.exists:
                action = Action.CREATE
            else:  # no value to compare with, but ownership can still be checked
                check_owner(state, binding, owner)
            if isinstance(sink, Preflight):
                found = sink.preflight(binding.secret, state)
                problems, notes = found.problems, found.notes
            else:
                problems, notes = (), (NO_PREFLIGHT,)
            if rotates and state.foreign_rotation is not None:
                problems = (
                    *problems,
                    f"{named} is rotated by someone else: {state.foreign_rotation}; syncd "
                    "would not rotate this target",
                )
        except SyncdError as exc:
            problems, notes = (str(exc),), ()
        except Exception as exc:
            log.exception("sink_crashed", error_type=type(exc).__name__, **ids)
            problems = (str(sink_crashed(named, exc)),)
            notes = ()
        if problems:
            log.error("check_sink_failed", problems=list(problems), **ids)
        return BindingCheck(**ids, action=action, problems=problems, notes=notes)
