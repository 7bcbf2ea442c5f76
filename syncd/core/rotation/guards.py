"""Whether a target is due, which role to reset, and whether a reset may start at all.

Everything here reads what the sinks said (marks, owners, other rotators) and
changes nothing, so a run decides before it touches the provider: a reset
that could not be published everywhere is never started.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from syncd.core.lease import Record
from syncd.core.models import Owner, RotationMark, RotationMode, SecretState, Target
from syncd.core.planning import check_owner, where
from syncd.core.rotation.job import Job, View
from syncd.errors import ProviderNotFound, SinkError, SyncdError

#: A mark further in the future than this is not trusted (the target is due).
FUTURE_SLACK = timedelta(days=1)
#: Why a target without a sink that can hold its lease cannot rotate.
NO_LEASE_SINK = (
    "rotation needs a sink that can hold its lease (aws-secrets-manager, vault and file can)"
)


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


def unfinished(record: Record | None, states: list[SecretState]) -> RotationMark | None:
    """The intent the lease records, unless every secret already carries its mark."""
    if record is None or record.lease is None or record.lease.intent is None:
        return None
    intent = record.lease.intent
    return None if finished(intent, states) else intent


def missing_role(target: Target, role: str) -> str:
    """Why alternate mode cannot run without ``role``, and how to create it."""
    owner = target.rotation.role if target.rotation is not None else None
    return (
        f"alternate mode needs role {role} on branch {target.branch}: create it "
        f"(Neon console or API, CREATE ROLE {role}), then GRANT {owner} TO {role}"
    )


def reset_role(job: Job, published: str) -> str:
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


def survey(job: Job, views: list[View], owner: Owner) -> None:
    """Keep the ``views`` a rotation may touch in ``job``; the others fail, and block a reset.

    A secret blocks when it is rotated by someone else, or ``owner`` may not
    write it (the ownership rule, applied before the reset, not at the first write).
    """
    target = job.target
    if len(views) < len(target.sinks):
        raise SinkError(
            f"target {target.name}: not every secret could be inspected; nothing was "
            "rotated (a rotation must be able to publish to every sink)"
        )
    job.views = []
    for view in views:
        problem: SyncdError | None = None
        if view.state.foreign_rotation is not None:
            problem = SinkError(
                f"{where(view.binding)} is rotated by someone else: "
                f"{view.state.foreign_rotation}; "
                "syncd leaves it alone (turn AWS rotation off, or remove the binding)"
            )
        elif view.state.exists:
            try:
                check_owner(view.state, view.binding, owner)
            except SyncdError as exc:
                problem = exc
        if problem is None:
            job.views.append(view)
            continue
        job.fail(view.binding, None, problem)
        job.blocked.append(str(problem))
