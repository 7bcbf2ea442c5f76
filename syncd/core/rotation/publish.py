"""Publishing a credential to a rotating target's sinks: stage, prove, promote or write.

Stager sinks get the new version staged first; the credential is proved
(:func:`syncd.core.connect.prove`) before anything becomes current, and a
failed proof discards what was staged, so the sinks keep what they had. A
concurrent writer (a compare-and-set that lost) means another round, from a
fresh inspect, up to :data:`PUBLISH_ROUNDS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import structlog

from syncd.core.models import Action, ConnectionInfo, Owner, RotationMark, SinkOutcome
from syncd.core.pair import Pair
from syncd.core.planning import decide, render_binding, where, write_request
from syncd.core.rotation.job import LOGGER, Job, View
from syncd.errors import ConnectionProofFailed, SinkConflict, SyncdError
from syncd.net.retry import exponential
from syncd.sinks.base import Sink, Stager, WriteRequest

log = structlog.get_logger(LOGGER)

#: Publishing rounds when a concurrent writer changes a secret under us.
PUBLISH_ROUNDS = 4
#: Connection attempts per proof: a password can take a moment to apply everywhere.
PROOF_ATTEMPTS = 3
#: Waits between proofs of a new password: 0.5 s, doubling, at most 8 s.
PROOF_BACKOFF_BASE = 0.5
PROOF_BACKOFF_CAP = 8.0

Change = tuple[View, WriteRequest]


class Publisher:
    """Brings a rotating target's sinks to a credential, proved before it becomes current."""

    def __init__(
        self,
        sinks: Mapping[str, Sink],
        *,
        instance: str,
        prove: Callable[[ConnectionInfo], None],
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        proof_attempts: int = PROOF_ATTEMPTS,
    ) -> None:
        self.sinks = sinks
        self.instance = instance
        self._prove = prove
        self._clock = clock
        self._sleep = sleep
        self._proof_attempts = proof_attempts

    def inspect(self, job: Job, only: list[View] | None = None) -> list[View]:
        """Inspect the bindings (all, or those of ``only``); failures become outcomes."""
        bindings = [v.binding for v in only] if only is not None else list(job.target.sinks)
        views = []
        for binding in bindings:
            sink = self.sinks[binding.sink]
            try:
                state = sink.inspect(binding.secret)
            except SyncdError as exc:
                job.fail(binding, None, exc)
                continue
            views.append(View(binding, sink, state))
        return views

    def publish(
        self,
        job: Job,
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
            views = self.inspect(job, job.views)
            changes: list[Change] = []
            for view in views:
                request = self.request(job, view, pair, mark)
                if request is not None:
                    changes.append((view, request))
                elif view.state.pending is not None and isinstance(view.sink, Stager):
                    self._discard(view, view.state.pending)
            if not changes:
                return
            staged = self._stage(job, changes)
            if not proved:
                try:
                    self.proof(pair[0], until=until)
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

    def request(
        self, job: Job, view: View, pair: Pair, mark: RotationMark | None
    ) -> WriteRequest | None:
        """The write that brings ``view`` to ``pair``, or None when nothing should be written."""
        conn, other = pair
        binding = view.binding
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
        named = where(binding)
        try:
            document = render_binding(conn, binding, named, other=other)
            owner = Owner(self.instance, job.target.name)
            action = decide(
                view.state, document.text, adopt=binding.adopt, where=named, owner=owner
            )
        except SyncdError as exc:
            job.fail(binding, None, exc)
            return None
        if action is Action.UNCHANGED:
            job.outcomes.setdefault(
                view.key, SinkOutcome(job.target.name, binding.sink, binding.secret, action)
            )
            return None
        return write_request(
            job.target, binding, document, view.state, action, instance=self.instance, rotation=mark
        )

    def _stage(self, job: Job, changes: list[Change]) -> dict[View, str]:
        staged = {}
        for view, request in changes:
            if not isinstance(view.sink, Stager) or not view.state.exists:
                continue
            try:
                staged[view] = view.sink.stage(request)
            except SyncdError as exc:
                job.fail(view.binding, request.action, exc)
                continue
            log.info("secret_staged", sink=view.binding.sink, secret=view.binding.secret)
        return staged

    def _commit(self, job: Job, changes: list[Change], staged: dict[View, str]) -> bool:
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
                job.fail(binding, request.action, exc)
                continue
            action = Action.ROTATE if job.rotating else request.action
            log.info("secret_rotated", version=version, action=action.value, **ids)
            job.record(binding, action, written=True)
        return conflicts

    def _discard(self, view: View, version: str) -> None:
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

    def proof(self, conn: ConnectionInfo, *, until: float | None = None) -> None:
        """Prove ``conn``, retrying: a new password may take a moment to apply.

        Without ``until``, ``proof_attempts`` attempts; with it, attempts
        until that ``clock()`` instant (the provider's operations may still run).
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                self._prove(conn)
            except ConnectionProofFailed as exc:
                delay = exponential(attempt, PROOF_BACKOFF_BASE, PROOF_BACKOFF_CAP)
                more = (
                    attempt < self._proof_attempts
                    if until is None
                    else self._clock() + delay < until and attempt < 10 * self._proof_attempts
                )
                if not more:
                    raise
                log.info("connection_proof_retried", attempt=attempt, error=str(exc))
                self._sleep(delay)
            else:
                log.info("connection_proved", role=conn.username)
                return
