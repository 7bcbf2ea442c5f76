"""Rotating a target's password: decide when, reset, prove, publish, converge.

For a target whose ``rotation.mode`` is reset or alternate, this module owns
the order of every step; sinks only offer operations (``inspect``, ``write``
and, optionally, :class:`~syncd.sinks.base.Stager`'s stage/promote/discard),
and the provider offers :class:`~syncd.providers.base.Rotator`'s.

**When.** A target is due when any of its secrets has no rotation mark, or a
mark older than ``every`` (or more than a day in the future: a clock that
cannot be trusted). Marks live in the sinks, so no local state is needed.
``syncd rotate`` forces a rotation.

**reset.** Reset the role's password, wait for the provider's operations,
fetch the role's URI again (not the reset's answer: when two processes reset,
the provider's current one is the one that works), stage it on Stager sinks,
prove it (:func:`syncd.connect.prove`), then promote the staged versions and
write the other sinks, each with the new mark. A verify loop then fetches the
current URI again and publishes it if it changed meanwhile (another writer
reset), until it is stable.

**alternate.** The published role is the newest mark's (default: the
target's ``role``). Reset the other role, prove it, publish it: the
credential applications hold stays valid for a whole period.

**Every run.** Unless a reset is due, the sinks are converged to the
provider's current credential for the published role (proved before it is
published), and a stale pending version is discarded: a crash at any step
ends in sinks that agree and work. In alternate mode the convergence runs
even when due, so a reset never hits a role some sink still publishes.

A failed proof never promotes: staged versions are discarded, the sinks keep
what they had, the target fails, and the next run tries again (the marks did
not move, so it is still due).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from syncd import connect
from syncd.engine import decide, render_binding
from syncd.errors import (
    ConfigError,
    ConnectionProofFailed,
    ProviderNotFound,
    SinkConflict,
    SinkError,
    SyncdError,
)
from syncd.fingerprint import Fingerprint
from syncd.models import (
    Action,
    ConnectionInfo,
    Owner,
    Rotation,
    RotationMark,
    RotationMode,
    SecretState,
    SinkBinding,
    SinkOutcome,
    Target,
    TargetOutcome,
)
from syncd.providers.base import Provider, Rotator
from syncd.sinks.base import DEFAULT_INSTANCE, Sink, Stager, WriteRequest

log = structlog.get_logger(__name__)

#: Publishing rounds when a concurrent writer changes a secret under us.
PUBLISH_ROUNDS = 4
#: How often the verify loop re-checks the provider after publishing.
VERIFY_ROUNDS = 3
#: A mark further in the future than this is not trusted (the target is due).
FUTURE_SLACK = timedelta(days=1)
#: Seconds allowed for the provider's operations after a reset.
OPERATION_TIMEOUT = 300.0
#: Connection attempts per proof: a password can take a moment to apply everywhere.
PROOF_ATTEMPTS = 3

Key = tuple[str, str]


@dataclass(frozen=True)
class _View:
    """One binding as the store described it."""

    binding: SinkBinding
    sink: Sink
    state: SecretState

    @property
    def key(self) -> Key:
        return (self.binding.sink, self.binding.secret)


def is_due(states: list[SecretState], every: float, now: datetime) -> bool:
    """Whether any secret lacks a trustworthy mark younger than ``every`` seconds."""
    for state in states:
        mark = state.rotation
        if mark is None or mark.rotated_at > now + FUTURE_SLACK:
            return True
        if (now - mark.rotated_at).total_seconds() >= every:
            return True
    return False


def published_role(target: Target, states: list[SecretState]) -> str:
    """The role applications are given now: the newest mark's, if it is one of the target's."""
    assert target.role is not None and target.rotation is not None  # noqa: S101 - config checked
    roles = {target.role, target.rotation.alternate_role or target.role}
    marks = [s.rotation for s in states if s.rotation is not None and s.rotation.role in roles]
    if not marks:
        return target.role
    return max(marks, key=lambda m: m.rotated_at).role


class Rotations:
    """Runs rotation-enabled targets; called by the engine in place of a plain sync."""

    def __init__(
        self,
        providers: Mapping[str, Provider],
        sinks: Mapping[str, Sink],
        *,
        instance: str = DEFAULT_INSTANCE,
        dry_run: bool = False,
        force: frozenset[str] = frozenset(),
        prove: Callable[[ConnectionInfo], None] = connect.prove,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        operation_timeout: float = OPERATION_TIMEOUT,
        proof_attempts: int = PROOF_ATTEMPTS,
    ) -> None:
        self.providers = providers
        self.sinks = sinks
        self.instance = instance
        self.dry_run = dry_run
        #: Targets rotated now, whatever the schedule (``syncd rotate``).
        self.force = force
        self._prove = prove
        self._now = now
        self._clock = clock
        self._sleep = sleep
        self._operation_timeout = operation_timeout
        self._proof_attempts = proof_attempts

    def __call__(self, target: Target) -> TargetOutcome:
        """Run ``target``'s rotation check; never raises for a rotation failure."""
        outcomes: dict[Key, SinkOutcome] = {}
        try:
            self._run(target, outcomes)
        except SyncdError as exc:
            log.error(  # noqa: TRY400 - an expected failure: its message is the story
                "rotation_failed",
                error=str(exc),
                error_type=type(exc).__name__,
                transient=exc.transient,
            )
            return TargetOutcome(target.name, self._ordered(target, outcomes), error=exc)
        except Exception as exc:
            log.exception("rotation_crashed", error_type=type(exc).__name__)
            error = SyncdError(f"rotation of target {target.name}: unexpected {type(exc).__name__}")
            return TargetOutcome(target.name, self._ordered(target, outcomes), error=error)
        return TargetOutcome(target.name, self._ordered(target, outcomes))

    # -- the decision ---------------------------------------------------------

    def _run(self, target: Target, outcomes: dict[Key, SinkOutcome]) -> None:
        rotation = target.rotation
        assert rotation is not None and target.role is not None  # noqa: S101 - engine checked
        provider = self.providers[target.provider]
        if not isinstance(provider, Rotator):
            raise ConfigError(f"target {target.name}: provider {target.provider} cannot rotate")
        views = self._inspect(target, outcomes)
        if len(views) < len(target.sinks):
            raise SinkError(
                f"target {target.name}: not every secret could be inspected; nothing was "
                "rotated (a rotation must be able to publish to every sink)"
            )
        states = [v.state for v in views]
        role = published_role(target, states)
        forced = target.name in self.force
        due = forced or is_due(states, rotation.every, self._now())
        log.debug("rotation_checked", due=due, forced=forced, role=role, mode=rotation.mode.value)
        if self.dry_run:
            self._dry_run(target, views, provider, role=role, due=due, outcomes=outcomes)
            return
        if not due or rotation.mode is RotationMode.ALTERNATE:
            # Converge on what the provider hands out now (after a crash, a concurrent
            # writer, a drift), with the newest mark for that role so the sinks agree.
            marks = [s.rotation for s in states if s.rotation and s.rotation.role == role]
            mark = max(marks, key=lambda m: m.rotated_at) if marks else None
            self._publish(target, provider.connection(target, role=role), mark, outcomes)
        if due:
            self._rotate(target, provider, rotation, role, outcomes)

    def _rotate(
        self,
        target: Target,
        provider: Rotator,
        rotation: Rotation,
        published: str,
        outcomes: dict[Key, SinkOutcome],
    ) -> None:
        assert target.role is not None  # noqa: S101 - config checked
        role = target.role
        if rotation.mode is RotationMode.ALTERNATE:
            second = rotation.alternate_role or f"{target.role}_b"
            role = second if published == target.role else target.role
            if not provider.role_exists(target, role):
                raise ProviderNotFound(_missing_role(target, role))
        started = self._clock()
        reset = provider.reset_password(target, role)
        log.info("password_reset", role=role, mode=rotation.mode.value)
        provider.wait_for_operations(
            target.project, reset.operation_ids, self._clock() + self._operation_timeout
        )
        conn = provider.connection(target, role=role)
        mark = RotationMark(self._now(), role)
        self._publish(target, conn, mark, outcomes)
        for _ in range(VERIFY_ROUNDS):
            latest = provider.connection(target, role=role)
            if latest.uri.get_secret_value() == conn.uri.get_secret_value():
                break
            log.info("rotation_superseded", role=role)  # another writer reset meanwhile
            conn = latest
            self._publish(target, conn, mark, outcomes)
        failed = [o for o in outcomes.values() if o.error is not None]
        log.info(
            "rotation_published",
            role=role,
            mode=rotation.mode.value,
            window_s=round(self._clock() - started, 3),
            sink_errors=len(failed),
        )

    # -- the steps ------------------------------------------------------------

    def _inspect(self, target: Target, outcomes: dict[Key, SinkOutcome]) -> list[_View]:
        views = []
        for binding in target.sinks:
            sink = self.sinks[binding.sink]
            try:
                state = sink.inspect(binding.secret)
            except SyncdError as exc:
                outcomes[(binding.sink, binding.secret)] = self._failed(target, binding, None, exc)
                continue
            views.append(_View(binding, sink, state))
        return views

    def _publish(
        self,
        target: Target,
        conn: ConnectionInfo,
        mark: RotationMark | None,
        outcomes: dict[Key, SinkOutcome],
    ) -> None:
        """Bring every sink to ``conn``: stage, prove once, promote or write; retry conflicts."""
        proved = False
        for _ in range(PUBLISH_ROUNDS):
            views = self._inspect(target, outcomes)
            changes: list[tuple[_View, WriteRequest]] = []
            for view in views:
                request = self._request(target, view, conn, mark, outcomes)
                if request is not None:
                    changes.append((view, request))
                elif view.state.pending is not None and isinstance(view.sink, Stager):
                    self._discard(view, view.state.pending)
            if not changes:
                return
            staged = self._stage(target, changes, outcomes)
            if not proved:
                try:
                    self._proof(conn)
                except ConnectionProofFailed:
                    for view, version in staged.items():
                        self._discard(view, version)
                    raise
                proved = True
            conflicts = self._commit(target, changes, staged, outcomes)
            if not conflicts:
                return
        raise SinkConflict(
            f"target {target.name}: secrets kept changing while publishing; retried next run"
        )

    def _request(
        self,
        target: Target,
        view: _View,
        conn: ConnectionInfo,
        mark: RotationMark | None,
        outcomes: dict[Key, SinkOutcome],
    ) -> WriteRequest | None:
        """The write that brings ``view`` to ``conn``, or None when it holds it already."""
        binding = view.binding
        where = f"secret {binding.secret} in sink {binding.sink}"
        try:
            document = render_binding(conn, binding, where)
            owner = Owner(self.instance, target.name)
            action = decide(
                view.state, document.text, adopt=binding.adopt, where=where, owner=owner
            )
        except SyncdError as exc:
            outcomes[view.key] = self._failed(target, binding, None, exc)
            return None
        if action is Action.UNCHANGED:
            outcomes.setdefault(
                view.key, SinkOutcome(target.name, binding.sink, binding.secret, action)
            )
            return None
        return WriteRequest(
            target=target.name,
            secret=binding.secret,
            document=document,
            fingerprint=Fingerprint.of(document.text),
            observed=view.state,
            action=action,
            instance=self.instance,
            rotation=mark,
        )

    def _stage(
        self,
        target: Target,
        changes: list[tuple[_View, WriteRequest]],
        outcomes: dict[Key, SinkOutcome],
    ) -> dict[_View, str]:
        staged = {}
        for view, request in changes:
            if not isinstance(view.sink, Stager) or not view.state.exists:
                continue
            try:
                staged[view] = view.sink.stage(request)
            except SyncdError as exc:
                outcomes[view.key] = self._failed(target, view.binding, request.action, exc)
                continue
            log.info("secret_staged", sink=view.binding.sink, secret=view.binding.secret)
        return staged

    def _commit(
        self,
        target: Target,
        changes: list[tuple[_View, WriteRequest]],
        staged: dict[_View, str],
        outcomes: dict[Key, SinkOutcome],
    ) -> bool:
        """Promote or write each change; True when a concurrent writer got in the way."""
        conflicts = False
        for view, request in changes:
            binding = view.binding
            ids = {"sink": binding.sink, "secret": binding.secret}
            if isinstance(view.sink, Stager) and view.state.exists and view not in staged:
                continue  # staging failed: recorded already; the old version stays current
            try:
                if view in staged:
                    assert isinstance(view.sink, Stager)  # noqa: S101 - staged implies it
                    view.sink.promote(request, staged[view])
                    version: str | None = staged[view]
                else:
                    version = view.sink.write(request)
            except SinkConflict:
                log.info("publish_conflict", **ids)
                if view in staged:
                    self._discard(view, staged[view])
                conflicts = True
                continue
            except SyncdError as exc:
                outcomes[view.key] = self._failed(target, binding, request.action, exc)
                continue
            log.info("secret_rotated", version=version, action=request.action.value, **ids)
            outcomes[view.key] = SinkOutcome(
                target.name, binding.sink, binding.secret, request.action, written=True
            )
        return conflicts

    def _discard(self, view: _View, version: str) -> None:
        assert isinstance(view.sink, Stager)  # noqa: S101 - callers checked
        try:
            view.sink.discard(view.binding.secret, version)
        except SyncdError as exc:
            # A leftover pending label is harmless to consumers; the next run retries.
            log.warning(
                "discard_failed",
                sink=view.binding.sink,
                secret=view.binding.secret,
                error=str(exc),
            )
            return
        log.info("pending_discarded", sink=view.binding.sink, secret=view.binding.secret)

    def _proof(self, conn: ConnectionInfo) -> None:
        """Prove ``conn``, retrying briefly: a new password may take a moment to apply."""
        for attempt in range(1, self._proof_attempts + 1):
            try:
                self._prove(conn)
            except ConnectionProofFailed as exc:
                if attempt == self._proof_attempts:
                    raise
                log.info("connection_proof_retried", attempt=attempt, error=str(exc))
                self._sleep(0.5 * 2 ** (attempt - 1))
            else:
                log.info("connection_proved", role=conn.username)
                return

    def _dry_run(
        self,
        target: Target,
        views: list[_View],
        provider: Rotator,
        *,
        role: str,
        due: bool,
        outcomes: dict[Key, SinkOutcome],
    ) -> None:
        """Report what a run would do: every secret updated when due, else the convergence."""
        conn = None if due else provider.connection(target, role=role)
        for view in views:
            binding = view.binding
            if conn is None:
                action = Action.UPDATE if view.state.exists else Action.CREATE
                outcomes[view.key] = SinkOutcome(target.name, binding.sink, binding.secret, action)
                continue
            request = self._request(target, view, conn, None, outcomes)
            if request is not None:
                outcomes[view.key] = SinkOutcome(
                    target.name, binding.sink, binding.secret, request.action
                )
        log.info("rotation_dry_run", due=due, role=role)

    def _failed(
        self, target: Target, binding: SinkBinding, action: Action | None, exc: SyncdError
    ) -> SinkOutcome:
        log.error(
            "sync_failed",
            error=str(exc),
            error_type=type(exc).__name__,
            transient=exc.transient,
            sink=binding.sink,
            secret=binding.secret,
        )
        return SinkOutcome(target.name, binding.sink, binding.secret, action, error=exc)

    @staticmethod
    def _ordered(target: Target, outcomes: dict[Key, SinkOutcome]) -> tuple[SinkOutcome, ...]:
        keys = [(b.sink, b.secret) for b in target.sinks]
        return tuple(outcomes[k] for k in keys if k in outcomes)


def _missing_role(target: Target, role: str) -> str:
    return (
        f"alternate mode needs role {role} on branch {target.branch}: create it "
        f"(Neon console or API, CREATE ROLE {role}), then GRANT {target.role} TO {role}"
    )
