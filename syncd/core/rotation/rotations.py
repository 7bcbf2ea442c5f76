"""The order of a rotation: converge first, then, when due, reset under the lease and publish.

:class:`Rotations` is the hook the engine hands a rotating target to; it runs
the steps that :mod:`~syncd.core.rotation.guards` (when, whether),
:mod:`~syncd.core.rotation.leasing` (one writer) and
:mod:`~syncd.core.rotation.publish` (stage, prove, promote) offer, in the
order :mod:`syncd.core.rotation` describes, and turns any failure into the
target's outcome.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

import structlog

from syncd.core import connect, lease, timebox
from syncd.core.breaker import Breakers
from syncd.core.lease import Record
from syncd.core.models import (
    Action,
    ConnectionInfo,
    Owner,
    RotationMark,
    RotationMode,
    RotationOutcome,
    Target,
    TargetOutcome,
)
from syncd.core.pair import Pair, fetch_pair
from syncd.core.planning import TARGET_DEADLINE as SYNC_DEADLINE
from syncd.core.planning import failure, time_box, unexpected
from syncd.core.rotation.guards import (
    NO_LEASE_SINK,
    finished,
    is_due,
    published_role,
    reset_role,
    survey,
    unfinished,
)
from syncd.core.rotation.job import LOGGER, Job, View
from syncd.core.rotation.leasing import Held, Leases, who
from syncd.core.rotation.publish import PROOF_ATTEMPTS, Publisher
from syncd.errors import ConfigError, ConnectionProofFailed, SinkConflict, SinkError, SyncdError
from syncd.providers.base import Provider, Rotator
from syncd.sinks.base import DEFAULT_INSTANCE, Sink

log = structlog.get_logger(LOGGER)

#: How often the verify loop re-checks the provider after publishing.
VERIFY_ROUNDS = 3
#: Seconds a rotation may take, from taking the lease to the last publish. The
#: lease lasts longer (:data:`syncd.core.lease.TTL`), so a live holder never loses it.
DEADLINE = 600.0
#: Seconds the whole run of a rotating target may take (see :mod:`syncd.core.rotation`);
#: less than the lease's TTL, so a run that is cut off never outlives its lease.
TARGET_DEADLINE = SYNC_DEADLINE + DEADLINE
#: Seconds allowed for the provider's operations after a reset (within DEADLINE).
OPERATION_TIMEOUT = 300.0
#: Seconds to keep proving a resumed rotation's credential: the dead holder's
#: reset operations may still be finishing at the provider.
RESUME_PROOF_WINDOW = 120.0


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
        sleep: Callable[[float], None] = timebox.sleep,
        operation_timeout: float = OPERATION_TIMEOUT,
        proof_attempts: int = PROOF_ATTEMPTS,
        deadline: float = DEADLINE,
        lease_ttl: timedelta = lease.TTL,
        breakers: Breakers | None = None,
    ) -> None:
        self.providers = providers
        self.sinks = sinks
        self.instance = instance
        self.dry_run = dry_run
        #: Targets rotated now, whatever the schedule (``syncd rotate``).
        self.force = force
        self._now = now
        self._clock = clock
        self._operation_timeout = operation_timeout
        self._deadline = deadline
        #: The provider breakers (:mod:`syncd.core.breaker`) guard the connection fetches
        #: only: a reset or an operation wait already under way is never cut short.
        self.breakers = breakers if breakers is not None else Breakers()
        self._publisher = Publisher(
            sinks,
            instance=instance,
            prove=prove,
            clock=clock,
            sleep=sleep,
            proof_attempts=proof_attempts,
        )
        self._leases = Leases(now=now, clock=clock, sleep=sleep, ttl=lease_ttl)

    def __call__(self, target: Target) -> TargetOutcome:
        """Run ``target``'s rotation check; never raises for a rotation failure."""
        rotation = target.rotation
        assert rotation is not None and rotation.role is not None  # noqa: S101 - engine checked
        provider = self.providers[target.provider]
        if not isinstance(provider, Rotator):
            refused = ConfigError(f"target {target.name}: provider {target.provider} cannot rotate")
            return TargetOutcome(target.name, error=refused)
        job = Job(target, rotation, provider)
        try:
            with time_box(target, self._deadline + SYNC_DEADLINE, clock=self._clock):
                self._run(job)
        except SyncdError as exc:
            log.error(  # noqa: TRY400 - an expected failure: its message is the story
                "rotation_failed", **failure(exc)
            )
            return TargetOutcome(target.name, job.ordered(), error=exc, rotation=job.result)
        except Exception as exc:
            log.exception("rotation_crashed", error_type=type(exc).__name__)
            error = unexpected(SyncdError, exc, f"rotation of target {target.name}")
            return TargetOutcome(target.name, job.ordered(), error=error, rotation=job.result)
        return TargetOutcome(target.name, job.ordered(), rotation=job.result)

    # -- the decision ---------------------------------------------------------

    def _run(self, job: Job) -> None:
        target, rotation = job.target, job.rotation
        connect.require()  # a reset whose credential cannot be proved is never started
        survey(job, self._publisher.inspect(job), Owner(self.instance, target.name))
        states = job.states()
        role = published_role(target, states)
        forced = target.name in self.force
        due = forced or is_due(states, rotation.every, self._now())
        log.debug("rotation_checked", due=due, forced=forced, role=role, mode=rotation.mode.value)
        if self.dry_run:
            self._dry_run(job, role=role, due=due)
            return
        holding = self._leases.find(job)
        record = self._leases.read(holding) if holding is not None else None
        if holding is not None and record is not None and not self._leases.abandoned(record):
            # Another run is rotating: converging now could race its publish. A due
            # run waits for its result; any other leaves the publishing to it.
            if due:
                self._wait_for_holder(job, holding, record, self._clock() + self._deadline)
            else:
                log.info("rotation_held_elsewhere", lease=who(record))
            return
        intent = unfinished(record, states)
        try:
            self._converge(job, role, intent)
        except ConnectionProofFailed:
            if not due or intent is not None:
                raise
            # What the provider hands out does not work: a reset is the way out.
            log.warning("convergence_unproven", role=role)
        if job.blocked:
            raise SinkError(f"target {target.name}: nothing was rotated: " + "; ".join(job.blocked))
        if job.result is not None:
            return  # converging finished a rotation another run had reset: not a second one
        if not due and intent is None:
            return  # (an abandoned lease's unfinished intent is finished even when not due)
        if holding is None:
            raise ConfigError(f"target {target.name}: {NO_LEASE_SINK}; nothing was reset")
        self._under_lease(job, holding, role, forced=forced)

    def _under_lease(self, job: Job, holding: View, role: str, *, forced: bool) -> None:
        """Take the lease, then finish an abandoned rotation or start one; release it."""
        until = self._clock() + self._deadline
        record = self._leases.read(holding)
        if record is not None and not self._leases.abandoned(record):
            self._wait_for_holder(job, holding, record, until)
            return
        job.views = self._publisher.inspect(job, job.views)
        states = job.states()
        inherited = unfinished(record, states)
        # Due again, on what the stores say now (another run may have rotated meanwhile).
        due = forced or is_due(states, job.rotation.every, self._now())
        if inherited is None and not due:
            return
        intent = inherited or RotationMark(self._now(), reset_role(job, role))
        try:
            held = self._leases.take(holding, intent, record)
        except SinkConflict:
            log.info("lease_lost", secret=holding.binding.secret)
            self._wait_for_holder(job, holding, self._leases.read(holding), until)
            return
        log.info("lease_taken", secret=held.secret, taken_over=record is not None)
        self._holding(job, held, inherited, intent, role=role, due=due, until=until)

    def _holding(
        self,
        job: Job,
        held: Held,
        inherited: RotationMark | None,
        intent: RotationMark,
        *,
        role: str,
        due: bool,
        until: float,
    ) -> None:
        """With the lease: finish ``inherited`` or rotate to ``intent``; then let it go."""
        self._leases.hold(held)
        keep = False
        try:
            if inherited is not None:
                if inherited.role != role:
                    # alternate: whether the holder's reset happened cannot be told
                    # from the sinks; finish it without a second reset.
                    self._resume(job, inherited, until)
                    return
                # reset: converging just published the provider's credential with the
                # intent's mark wherever it differed; that finished the rotation...
                job.views = self._publisher.inspect(job, job.views)
                if finished(inherited, job.states()):
                    job.result = RotationOutcome(job.rotation.mode, role, resumed=True)
                    log.info("rotation_resumed", role=role)
                    return
                # ...unless nothing differed: the intent's reset never happened.
                if not due:
                    return
                intent = RotationMark(self._now(), reset_role(job, role))
                self._leases.retake(held, intent)
            try:
                self._rotate(job, intent, until)
            except ConnectionProofFailed:
                raise  # the new password does not work: the next run resets again
            except SyncdError:
                # The reset may have happened and its credential is not published
                # everywhere: keep the intent, so that the next run finishes this
                # rotation (publishes what the provider hands out) instead of
                # resetting a second time.
                keep = job.rotating
                raise
        finally:
            self._leases.let_go(held, keep=keep)

    def _dry_run(self, job: Job, *, role: str, due: bool) -> None:
        """Report what a run would do: every secret updated when due, else the convergence."""
        target = job.target
        if due and job.blocked:
            raise SinkError(f"target {target.name}: would not rotate: " + "; ".join(job.blocked))
        if due and job.rotation.mode is RotationMode.ALTERNATE:
            reset_role(job, role)
        if due and self._leases.find(job) is None:
            raise ConfigError(f"target {target.name}: {NO_LEASE_SINK}")
        pair = None if due else self._connections(job, role)
        for view in job.views:
            if pair is None:
                job.record(view.binding, Action.ROTATE if view.state.exists else Action.CREATE)
                continue
            request = self._publisher.request(job, view, pair, None)
            if request is not None:
                job.record(view.binding, request.action)
        log.info("rotation_dry_run", due=due, role=role)

    # -- the steps ------------------------------------------------------------

    def _connections(self, job: Job, role: str) -> Pair:
        """The provider's connection for ``role``, and its other one if a binding needs it."""
        provider = job.provider
        breaker = self.breakers.provider(job.target.provider)
        return fetch_pair(
            lambda target: breaker.call(provider.connection, target, role=role), job.target
        )

    def _converge(self, job: Job, role: str, intent: RotationMark | None) -> None:
        """Publish the provider's current credential for ``role`` where the sinks differ.

        The mark is the newest the sinks have for ``role``, or ``intent``'s when
        an unfinished rotation of ``role`` is recorded: then what changes now is
        that rotation's credential, and publishing it finishes the rotation.
        """
        pair = self._connections(job, role)
        marks = [v.state.rotation for v in job.views if v.state.rotation is not None]
        ours = [m for m in marks if m.role == role]
        mark = max(ours, key=lambda m: m.rotated_at) if ours else None
        if intent is None or intent.role != role:
            self._publisher.publish(job, pair, mark)
            return
        job.rotating = True
        try:
            self._publisher.publish(job, pair, intent)
        finally:
            job.rotating = False
        if any(o.written for o in job.outcomes.values()):
            log.info("rotation_resumed", role=role, intended_at=intent.encode()[0])
            job.result = RotationOutcome(job.rotation.mode, role, resumed=True)

    def _resume(self, job: Job, intent: RotationMark, until: float) -> None:
        """Finish a rotation whose holder died: prove and publish its role's credential now."""
        log.info("rotation_resumed", role=intent.role, intended_at=intent.encode()[0])
        pair = self._connections(job, intent.role)
        job.rotating = True
        window = min(until, self._clock() + RESUME_PROOF_WINDOW)
        self._publisher.publish(job, pair, intent, until=window)
        job.result = RotationOutcome(job.rotation.mode, intent.role, resumed=True)

    def _wait_for_holder(
        self, job: Job, holding: View, record: Record | None, until: float
    ) -> None:
        """Another run holds the lease: wait for it to end, then converge to its result."""
        self._leases.outwait(job, holding, record, until)
        job.views = self._publisher.inspect(job, job.views)
        self._converge(job, published_role(job.target, job.states()), None)

    def _rotate(self, job: Job, intent: RotationMark, until: float) -> None:
        """Reset ``intent.role`` (under the lease), prove the new credential, publish it."""
        target, provider, role = job.target, job.provider, intent.role
        started = self._clock()
        job.rotating = True  # from here on, the reset may have happened
        reset = provider.reset_password(target, role, deadline=until)
        log.info("password_reset", role=role, mode=job.rotation.mode.value)
        job.result = RotationOutcome(job.rotation.mode, role, reset_role=role)
        provider.wait_for_operations(
            target.project,
            reset.operation_ids,
            min(until, self._clock() + self._operation_timeout),
        )
        # The operations are done: a credential that does not prove now is broken.
        pair = self._connections(job, role)
        self._publisher.publish(job, pair, intent)
        for _ in range(VERIFY_ROUNDS):
            latest = self._connections(job, role)
            if _uris(latest) == _uris(pair):
                break
            log.info("rotation_superseded", role=role)  # another writer reset meanwhile
            pair = latest
            self._publisher.publish(job, pair, intent)
        window = round(self._clock() - started, 3)
        job.result = RotationOutcome(job.rotation.mode, role, reset_role=role, window_s=window)
        failed = [o for o in job.outcomes.values() if o.error is not None]
        log.info(
            "rotation_published",
            role=role,
            mode=job.rotation.mode.value,
            window_s=window,
            sink_errors=len(failed),
        )


def _uris(pair: Pair) -> tuple[str, ...]:
    return tuple(c.uri.get_secret_value() for c in pair if c is not None)
