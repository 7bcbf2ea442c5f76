"""Rotating a target's password: decide when, guard, reset once, prove, publish, converge.

For a target whose ``rotation.mode`` is reset or alternate, this module owns
the order of every step; sinks only offer operations (``inspect``, ``write``
and, optionally, :class:`~syncd.sinks.base.Stager`'s stage/promote/discard and
:class:`~syncd.sinks.base.Leaser`'s lease), and the provider offers
:class:`~syncd.providers.base.Rotator`'s.

**When.** A target is due when any of its secrets has no rotation mark, or a
mark older than ``every`` (or more than a day in the future: a clock that
cannot be trusted). Marks live in the sinks, so no local state is needed.
``syncd rotate`` forces a rotation.

**Never start what cannot be finished.** Before a reset, every secret must
have been inspected, be this instance's and target's (the ownership rule is
applied here, not at the first write), and be managed by no other rotator
(AWS-managed rotation: ``RotationEnabled``, or an ``AWSPENDING`` syncd did not
write; such a secret is never staged, promoted, cleaned up or rotated). The
prover (psycopg) must be importable, and in alternate mode the second role
must exist. Any failure resets nothing.

**One writer.** The reset happens only under the target's lease
(:mod:`syncd.core.lease`), taken with a compare-and-set next to the target's first
secret whose sink can hold one. The lease records the intent (role, time)
before the reset. A run that finds the lease held waits for the holder
(polling, within its own deadline), then converges to what the holder
published; it never resets. A rotation must finish within :data:`DEADLINE`,
well inside the lease's :data:`~syncd.core.lease.TTL`. The whole run of a rotating
target, survey and convergence included, runs in a time box of
:data:`TARGET_DEADLINE` (:mod:`syncd.core.timebox`): one sync's deadline for what
comes before the lease, plus :data:`DEADLINE`, so it never cuts the
rotation's own deadline short and still ends before the lease does. Its
waits (a rate limiter, a lease poll, a provider's operations) end at once on
SIGTERM or SIGINT.

**reset.** Reset the role's password (423 Locked is waited out within the
deadline), wait for the provider's operations, fetch the role's URI again,
stage it on Stager sinks, prove it (:func:`syncd.core.connect.prove`), then promote
the staged versions and write the other sinks, each with the intent's mark.
A verify loop fetches the URI once more and publishes it if it changed.

**alternate.** The published role is the newest mark's (default: the
target's ``role``). Reset the other role, prove it, publish it: the
credential applications hold stays valid for a whole period. A convergence
never replaces a newer rotation of the other role.

**Every run converges first.** The sinks are brought to the provider's
current credential for the published role (proved before it is published),
and a stale pending version of syncd's is discarded, so a crash at any step,
or a failed reset, ends in sinks that agree and work. While the lease records
an unfinished intent for that role, what converges carries the intent's mark:
that finishes a rotation whose holder died after its reset.

**Resume, don't restart.** A run that finds an abandoned lease (expired, or
its holder's process gone from this machine) with an unfinished intent takes
it over and finishes that rotation: fetch the provider's credential for the
intent's role, prove it, publish it. It resets only when the intent's reset
provably never happened (reset mode: the provider still hands out what the
sinks hold), so one due rotation means one reset, wherever a crash hits.

**Both connections.** Every fetch of a role's credential also fetches the
target's other connection (pooled or direct) for the same role when a binding
needs it (:mod:`syncd.core.pair`), so a preset such as ``prisma`` is rendered from
the rotated credential on both sides, never from two.

A failed proof never promotes: staged versions are discarded, the sinks keep
what they had, the target fails, and the next run tries again (the marks did
not move, so it is still due).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog

from syncd.core import connect, lease, timebox
from syncd.core.breaker import Breakers
from syncd.core.engine import TARGET_DEADLINE as SYNC_DEADLINE
from syncd.core.engine import decide, render_binding
from syncd.core.fingerprint import Fingerprint
from syncd.core.lease import Lease, Record
from syncd.core.models import (
    Action,
    ConnectionInfo,
    Owner,
    Rotation,
    RotationMark,
    RotationMode,
    RotationOutcome,
    SecretState,
    SinkBinding,
    SinkOutcome,
    Target,
    TargetOutcome,
)
from syncd.core.pair import Pair, fetch_pair
from syncd.errors import (
    ConfigError,
    ConnectionProofFailed,
    ProviderNotFound,
    ProviderUnavailable,
    SinkConflict,
    SinkError,
    SyncdError,
)
from syncd.providers.base import Provider, Rotator
from syncd.sinks.base import DEFAULT_INSTANCE, Leaser, Sink, Stager, WriteRequest

log = structlog.get_logger(__name__)

#: Publishing rounds when a concurrent writer changes a secret under us.
PUBLISH_ROUNDS = 4
#: How often the verify loop re-checks the provider after publishing.
VERIFY_ROUNDS = 3
#: A mark further in the future than this is not trusted (the target is due).
FUTURE_SLACK = timedelta(days=1)
#: Seconds a rotation may take, from taking the lease to the last publish. The
#: lease lasts longer (:data:`syncd.core.lease.TTL`), so a live holder never loses it.
DEADLINE = 600.0
#: Seconds the whole run of a rotating target may take (see the module doc); less
#: than the lease's TTL, so a run that is cut off never outlives its lease.
TARGET_DEADLINE = SYNC_DEADLINE + DEADLINE
#: Seconds allowed for the provider's operations after a reset (within DEADLINE).
OPERATION_TIMEOUT = 300.0
#: Connection attempts per proof: a password can take a moment to apply everywhere.
PROOF_ATTEMPTS = 3
#: Seconds to keep proving a resumed rotation's credential: the dead holder's
#: reset operations may still be finishing at the provider.
RESUME_PROOF_WINDOW = 120.0
#: Seconds between looks at a lease another run holds.
LEASE_POLL = 1.0

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


@dataclass
class _Job:
    """One target's run: what was found, and what was done so far."""

    target: Target
    rotation: Rotation
    provider: Rotator
    outcomes: dict[Key, SinkOutcome] = field(default_factory=dict)
    #: Bindings a rotation may touch (inspected, owned, no other rotator).
    views: list[_View] = field(default_factory=list)
    #: Why some binding rules out a reset (ownership, another rotator).
    blocked: list[str] = field(default_factory=list)
    result: RotationOutcome | None = None
    #: Whether what is written now is a rotation's credential (reported as ``rotate``).
    rotating: bool = False


@dataclass
class _Held:
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

    def retake(self, new: Lease, lock: threading.Lock, active: set[str]) -> None:
        """Replace our own record with ``new`` (a new intent), compare-and-set as ever."""
        with lock:
            active.add(new.holder)
        self.holders.add(new.holder)
        self.record = self.sink.take_lease(self.secret, new, self.record)

    def let_go(self, *, keep: bool) -> None:
        """Release the lease, unless ``keep``: then the next run finishes what it records."""
        if keep:
            log.warning("lease_kept", secret=self.secret, reason="the reset's outcome is unknown")
            return
        try:
            self.sink.release_lease(self.secret, self.record)
        except SyncdError as exc:  # it expires anyway
            log.warning("lease_release_failed", error=str(exc))


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
    rotation = target.rotation
    assert rotation is not None and rotation.role is not None  # noqa: S101 - config checked
    roles = {rotation.role, rotation.alternate_role or rotation.role}
    marks = [s.rotation for s in states if s.rotation is not None and s.rotation.role in roles]
    if not marks:
        return rotation.role
    return max(marks, key=lambda m: m.rotated_at).role


def finished(intent: RotationMark, states: list[SecretState]) -> bool:
    """Whether every secret carries ``intent``'s mark: that rotation was published everywhere."""
    return all(s.rotation == intent for s in states)


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
        self._prove = prove
        self._now = now
        self._clock = clock
        self._sleep = sleep
        self._operation_timeout = operation_timeout
        self._proof_attempts = proof_attempts
        self._deadline = deadline
        self._lease_ttl = lease_ttl
        #: The provider breakers (:mod:`syncd.core.breaker`) guard the connection fetches
        #: only: a reset or an operation wait already under way is never cut short.
        self.breakers = breakers if breakers is not None else Breakers()
        #: Holders of the leases this process is using now: a lease recorded for this
        #: process by a holder not among them was left by a rotation that failed here.
        self._active: set[str] = set()
        self._active_lock = threading.Lock()

    def __call__(self, target: Target) -> TargetOutcome:
        """Run ``target``'s rotation check; never raises for a rotation failure."""
        rotation = target.rotation
        assert rotation is not None and rotation.role is not None  # noqa: S101 - engine checked
        provider = self.providers[target.provider]
        if not isinstance(provider, Rotator):
            refused = ConfigError(f"target {target.name}: provider {target.provider} cannot rotate")
            return TargetOutcome(target.name, error=refused)
        job = _Job(target, rotation, provider)
        try:
            with timebox.scope(
                self._deadline + SYNC_DEADLINE, name=f"target {target.name}", clock=self._clock
            ):
                self._run(job)
        except SyncdError as exc:
            log.error(  # noqa: TRY400 - an expected failure: its message is the story
                "rotation_failed",
                error=str(exc),
                error_type=type(exc).__name__,
                transient=exc.transient,
            )
            return TargetOutcome(target.name, self._ordered(job), error=exc, rotation=job.result)
        except Exception as exc:
            log.exception("rotation_crashed", error_type=type(exc).__name__)
            error = SyncdError(f"rotation of target {target.name}: unexpected {type(exc).__name__}")
            return TargetOutcome(target.name, self._ordered(job), error=error, rotation=job.result)
        return TargetOutcome(target.name, self._ordered(job), rotation=job.result)

    # -- the decision ---------------------------------------------------------

    def _run(self, job: _Job) -> None:
        target, rotation = job.target, job.rotation
        connect.require()  # a reset whose credential cannot be proved is never started
        self._survey(job)
        states = [v.state for v in job.views]
        role = published_role(target, states)
        forced = target.name in self.force
        due = forced or is_due(states, rotation.every, self._now())
        log.debug("rotation_checked", due=due, forced=forced, role=role, mode=rotation.mode.value)
        if self.dry_run:
            self._dry_run(job, role=role, due=due)
            return
        holding = self._lease_view(job)
        record = self._read_lease(holding) if holding is not None else None
        if holding is not None and record is not None and not self._abandoned(record):
            # Another run is rotating: converging now could race its publish. A due
            # run waits for its result; any other leaves the publishing to it.
            if due:
                self._wait_for_holder(job, holding, record, self._clock() + self._deadline)
            else:
                log.info("rotation_held_elsewhere", lease=_who(record))
            return
        intent = _unfinished(record, states)
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
            raise ConfigError(
                f"target {target.name}: rotation needs a sink that can hold its lease "
                "(aws-secrets-manager, vault and file can); nothing was reset"
            )
        self._under_lease(job, holding, role, forced=forced)

    def _under_lease(self, job: _Job, holding: _View, role: str, *, forced: bool) -> None:
        """Take the lease, then finish an abandoned rotation or start one; release it."""
        until = self._clock() + self._deadline
        record = self._read_lease(holding)
        if record is not None and not self._abandoned(record):
            self._wait_for_holder(job, holding, record, until)
            return
        job.views = self._inspect(job, job.views)
        states = [v.state for v in job.views]
        inherited = _unfinished(record, states)
        # Due again, on what the stores say now (another run may have rotated meanwhile).
        due = forced or is_due(states, job.rotation.every, self._now())
        if inherited is None and not due:
            return
        intent = inherited or RotationMark(self._now(), self._reset_role(job, role))
        sink = holding.sink
        assert isinstance(sink, Leaser)  # noqa: S101 - _lease_view checked
        secret = holding.binding.secret
        try:
            ours = lease.new(self._now(), intent, ttl=self._lease_ttl)
            held = sink.take_lease(secret, ours, record)
        except SinkConflict:
            log.info("lease_lost", secret=secret)
            self._wait_for_holder(job, holding, self._read_lease(holding), until)
            return
        log.info("lease_taken", secret=secret, taken_over=record is not None)
        self._holding(
            job, _Held(sink, secret, held), inherited, intent, role=role, due=due, until=until
        )

    def _holding(
        self,
        job: _Job,
        held: _Held,
        inherited: RotationMark | None,
        intent: RotationMark,
        *,
        role: str,
        due: bool,
        until: float,
    ) -> None:
        """With the lease: finish ``inherited`` or rotate to ``intent``; then let it go."""
        with self._active_lock:
            self._active.add(held.holder)
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
                job.views = self._inspect(job, job.views)
                if finished(inherited, [v.state for v in job.views]):
                    job.result = RotationOutcome(job.rotation.mode, role, resumed=True)
                    log.info("rotation_resumed", role=role)
                    return
                # ...unless nothing differed: the intent's reset never happened.
                if not due:
                    return
                intent = RotationMark(self._now(), self._reset_role(job, role))
                held.retake(
                    lease.new(self._now(), intent, ttl=self._lease_ttl),
                    self._active_lock,
                    self._active,
                )
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
            with self._active_lock:
                self._active.difference_update(held.holders)
            held.let_go(keep=keep)

    def _abandoned(self, record: Record) -> bool:
        """Whether ``record`` may be taken over: abandoned, or left by this process.

        A lease of this very process whose holder is not running here now was
        kept by a rotation that failed after its reset (see :meth:`_under_lease`):
        the daemon's next cycle finishes it instead of waiting for itself.
        """
        if record.abandoned(self._now()):
            return True
        held = record.lease
        if held is None or held.process != lease.this_process():
            return False
        with self._active_lock:
            return held.holder not in self._active

    def _reset_role(self, job: _Job, published: str) -> str:
        """The role to reset: the published one (reset), or the other one (alternate)."""
        target = job.target
        first = job.rotation.role
        assert first is not None  # noqa: S101 - config checked
        if job.rotation.mode is not RotationMode.ALTERNATE:
            return first
        second = job.rotation.alternate_role or f"{first}_b"
        role = second if published == first else first
        if not job.provider.role_exists(target, role):
            raise ProviderNotFound(missing_role(target, role))
        return role

    # -- the steps ------------------------------------------------------------

    def _survey(self, job: _Job) -> None:
        """Inspect every binding and apply the rules a reset needs, before anything changes."""
        target = job.target
        views = self._inspect(job)
        if len(views) < len(target.sinks):
            raise SinkError(
                f"target {target.name}: not every secret could be inspected; nothing was "
                "rotated (a rotation must be able to publish to every sink)"
            )
        owner = Owner(self.instance, target.name)
        job.views = []
        for view in views:
            where = f"secret {view.binding.secret} in sink {view.binding.sink}"
            problem: SyncdError | None = None
            if view.state.foreign_rotation is not None:
                problem = SinkError(
                    f"{where} is rotated by someone else: {view.state.foreign_rotation}; "
                    "syncd leaves it alone (turn AWS rotation off, or remove the binding)"
                )
            elif view.state.exists:
                try:
                    decide(view.state, "", adopt=view.binding.adopt, where=where, owner=owner)
                except SyncdError as exc:
                    problem = exc
            if problem is None:
                job.views.append(view)
                continue
            job.outcomes[view.key] = self._failed(job, view.binding, None, problem)
            job.blocked.append(str(problem))

    def _inspect(self, job: _Job, only: list[_View] | None = None) -> list[_View]:
        """Inspect the bindings (all, or those of ``only``); failures become outcomes."""
        bindings = [v.binding for v in only] if only is not None else list(job.target.sinks)
        views = []
        for binding in bindings:
            sink = self.sinks[binding.sink]
            try:
                state = sink.inspect(binding.secret)
            except SyncdError as exc:
                job.outcomes[(binding.sink, binding.secret)] = self._failed(job, binding, None, exc)
                continue
            views.append(_View(binding, sink, state))
        return views

    def _lease_view(self, job: _Job) -> _View | None:
        """The binding that holds the target's lease: the first whose sink can."""
        for view in job.views:
            if isinstance(view.sink, Leaser):
                return view
        return None

    def _read_lease(self, view: _View) -> Record | None:
        sink = view.sink
        assert isinstance(sink, Leaser)  # noqa: S101 - _lease_view checked
        try:
            return sink.read_lease(view.binding.secret)
        except SinkConflict:
            return None  # the secret is gone: so is any lease on it

    def _connections(self, job: _Job, role: str) -> Pair:
        """The provider's connection for ``role``, and its other one if a binding needs it."""
        provider = job.provider
        breaker = self.breakers.provider(job.target.provider)
        return fetch_pair(
            lambda target: breaker.call(provider.connection, target, role=role), job.target
        )

    def _converge(self, job: _Job, role: str, intent: RotationMark | None) -> None:
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
            self._publish(job, pair, mark)
            return
        job.rotating = True
        try:
            self._publish(job, pair, intent)
        finally:
            job.rotating = False
        if any(o.written for o in job.outcomes.values()):
            log.info("rotation_resumed", role=role, intended_at=intent.encode()[0])
            job.result = RotationOutcome(job.rotation.mode, role, resumed=True)

    def _resume(self, job: _Job, intent: RotationMark, until: float) -> None:
        """Finish a rotation whose holder died: prove and publish its role's credential now."""
        log.info("rotation_resumed", role=intent.role, intended_at=intent.encode()[0])
        pair = self._connections(job, intent.role)
        job.rotating = True
        self._publish(job, pair, intent, until=min(until, self._clock() + RESUME_PROOF_WINDOW))
        job.result = RotationOutcome(job.rotation.mode, intent.role, resumed=True)

    def _wait_for_holder(
        self, job: _Job, holding: _View, record: Record | None, until: float
    ) -> None:
        """Another run holds the lease: wait for it to end, then converge to its result."""
        holder = _who(record)
        log.info("rotation_held_elsewhere", lease=holder)
        while record is not None and record.lease is not None:
            if self._abandoned(record) or self._clock() >= until:
                break
            self._sleep(min(LEASE_POLL, max(0.0, until - self._clock())))
            latest = self._read_lease(holding)
            if latest is None or latest.token != record.token:
                record = None
                break
        if record is not None and record.lease is not None and not self._abandoned(record):
            raise ProviderUnavailable(
                f"target {job.target.name}: another run holds the rotation lease "
                f"({holder}); nothing was reset here, retried next run"
            )
        job.views = self._inspect(job, job.views)
        states = [v.state for v in job.views]
        self._converge(job, published_role(job.target, states), None)

    def _rotate(self, job: _Job, intent: RotationMark, until: float) -> None:
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
        self._publish(job, pair, intent)
        for _ in range(VERIFY_ROUNDS):
            latest = self._connections(job, role)
            if _uris(latest) == _uris(pair):
                break
            log.info("rotation_superseded", role=role)  # another writer reset meanwhile
            pair = latest
            self._publish(job, pair, intent)
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

    def _publish(
        self,
        job: _Job,
        pair: Pair,
        mark: RotationMark | None,
        *,
        until: float | None = None,
    ) -> None:
        """Bring the usable sinks to ``pair``: stage, prove, promote or write; retry conflicts.

        The target's own connection is proved; the other one (pooled or direct,
        fetched only when a binding needs it) carries the same credential.
        """
        proved = False
        for _ in range(PUBLISH_ROUNDS):
            views = self._inspect(job, job.views)
            changes: list[tuple[_View, WriteRequest]] = []
            for view in views:
                request = self._request(job, view, pair, mark)
                if request is not None:
                    changes.append((view, request))
                elif view.state.pending is not None and isinstance(view.sink, Stager):
                    self._discard(view, view.state.pending)
            if not changes:
                return
            staged = self._stage(job, changes)
            if not proved:
                try:
                    self._proof(pair[0], until=until)
                except ConnectionProofFailed:
                    for view, version in staged.items():
                        self._discard(view, version)
                    raise
                proved = True
            conflicts = self._commit(job, changes, staged)
            if not conflicts:
                return
        raise SinkConflict(
            f"target {job.target.name}: secrets kept changing while publishing; retried next run"
        )

    def _request(
        self, job: _Job, view: _View, pair: Pair, mark: RotationMark | None
    ) -> WriteRequest | None:
        """The write that brings ``view`` to ``pair``, or None when nothing should be written."""
        conn, other = pair
        binding = view.binding
        where = f"secret {binding.secret} in sink {binding.sink}"
        seen = view.state.rotation
        if (
            seen is not None
            and seen.role != conn.username
            and (mark is None or seen.rotated_at > mark.rotated_at)
        ):
            # A newer rotation of the other role was published meanwhile (alternate):
            # going back to this role would undo it.
            log.info("superseded_by_newer_rotation", sink=binding.sink, secret=binding.secret)
            return None
        try:
            document = render_binding(conn, binding, where, other=other)
            owner = Owner(self.instance, job.target.name)
            action = decide(
                view.state, document.text, adopt=binding.adopt, where=where, owner=owner
            )
        except SyncdError as exc:
            job.outcomes[view.key] = self._failed(job, binding, None, exc)
            return None
        if action is Action.UNCHANGED:
            job.outcomes.setdefault(
                view.key, SinkOutcome(job.target.name, binding.sink, binding.secret, action)
            )
            return None
        return WriteRequest(
            target=job.target.name,
            secret=binding.secret,
            document=document,
            fingerprint=Fingerprint.of(document.text),
            observed=view.state,
            action=action,
            instance=self.instance,
            rotation=mark,
        )

    def _stage(self, job: _Job, changes: list[tuple[_View, WriteRequest]]) -> dict[_View, str]:
        staged = {}
        for view, request in changes:
            if not isinstance(view.sink, Stager) or not view.state.exists:
                continue
            try:
                staged[view] = view.sink.stage(request)
            except SyncdError as exc:
                job.outcomes[view.key] = self._failed(job, view.binding, request.action, exc)
                continue
            log.info("secret_staged", sink=view.binding.sink, secret=view.binding.secret)
        return staged

    def _commit(
        self, job: _Job, changes: list[tuple[_View, WriteRequest]], staged: dict[_View, str]
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
                job.outcomes[view.key] = self._failed(job, binding, request.action, exc)
                continue
            action = Action.ROTATE if job.rotating else request.action
            log.info("secret_rotated", version=version, action=action.value, **ids)
            job.outcomes[view.key] = SinkOutcome(
                job.target.name, binding.sink, binding.secret, action, written=True
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

    def _proof(self, conn: ConnectionInfo, *, until: float | None = None) -> None:
        """Prove ``conn``, retrying: a new password may take a moment to apply.

        Without ``until``, :attr:`_proof_attempts` attempts; with it, attempts
        until that ``clock()`` instant (the provider's operations may still run).
        """
        delay = 0.5
        attempt = 0
        while True:
            attempt += 1
            try:
                self._prove(conn)
            except ConnectionProofFailed as exc:
                more = (
                    attempt < self._proof_attempts
                    if until is None
                    else self._clock() + delay < until and attempt < 10 * self._proof_attempts
                )
                if not more:
                    raise
                log.info("connection_proof_retried", attempt=attempt, error=str(exc))
                self._sleep(delay)
                delay = min(delay * 2, 8.0)
            else:
                log.info("connection_proved", role=conn.username)
                return

    def _dry_run(self, job: _Job, *, role: str, due: bool) -> None:
        """Report what a run would do: every secret updated when due, else the convergence."""
        target = job.target
        if due and job.blocked:
            raise SinkError(f"target {target.name}: would not rotate: " + "; ".join(job.blocked))
        if due and job.rotation.mode is RotationMode.ALTERNATE:
            self._reset_role(job, role)
        if due and self._lease_view(job) is None:
            raise ConfigError(
                f"target {target.name}: rotation needs a sink that can hold its lease "
                "(aws-secrets-manager, vault and file can)"
            )
        pair = None if due else self._connections(job, role)
        for view in job.views:
            binding = view.binding
            if pair is None:
                action = Action.ROTATE if view.state.exists else Action.CREATE
                job.outcomes[view.key] = SinkOutcome(
                    target.name, binding.sink, binding.secret, action
                )
                continue
            request = self._request(job, view, pair, None)
            if request is not None:
                job.outcomes[view.key] = SinkOutcome(
                    target.name, binding.sink, binding.secret, request.action
                )
        log.info("rotation_dry_run", due=due, role=role)

    def _failed(
        self, job: _Job, binding: SinkBinding, action: Action | None, exc: SyncdError
    ) -> SinkOutcome:
        log.error(
            "sync_failed",
            error=str(exc),
            error_type=type(exc).__name__,
            transient=exc.transient,
            sink=binding.sink,
            secret=binding.secret,
        )
        return SinkOutcome(job.target.name, binding.sink, binding.secret, action, error=exc)

    @staticmethod
    def _ordered(job: _Job) -> tuple[SinkOutcome, ...]:
        keys = [(b.sink, b.secret) for b in job.target.sinks]
        return tuple(job.outcomes[k] for k in keys if k in job.outcomes)


def _unfinished(record: Record | None, states: list[SecretState]) -> RotationMark | None:
    """The intent the lease records, unless every secret already carries its mark."""
    if record is None or record.lease is None or record.lease.intent is None:
        return None
    intent = record.lease.intent
    return None if finished(intent, states) else intent


def _uris(pair: Pair) -> tuple[str, ...]:
    return tuple(c.uri.get_secret_value() for c in pair if c is not None)


def _who(record: Record | None) -> str:
    return record.lease.describe() if record is not None and record.lease else "unknown holder"


def missing_role(target: Target, role: str) -> str:
    """Why alternate mode cannot run without ``role``, and how to create it."""
    owner = target.rotation.role if target.rotation is not None else None
    return (
        f"alternate mode needs role {role} on branch {target.branch}: create it "
        f"(Neon console or API, CREATE ROLE {role}), then GRANT {owner} TO {role}"
    )
