"""Rotating a target's password: decide when, guard, reset once, prove, publish, converge.

For a target whose ``rotation.mode`` is reset or alternate, this package owns
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

Where each part lives: :mod:`~syncd.core.rotation.guards` (when, which role,
whether a reset may start), :mod:`~syncd.core.rotation.leasing` (one writer),
:mod:`~syncd.core.rotation.publish` (stage, prove, promote or write) and
:mod:`~syncd.core.rotation.rotations` (:class:`Rotations`: the order above);
:mod:`~syncd.core.rotation.job` holds one run's state. What a rotation shares
with a plain sync and ``syncd check`` (the decision table, rendering, the
messages) is :mod:`syncd.core.planning`.
"""

from __future__ import annotations

from syncd.core.rotation.guards import (
    FUTURE_SLACK,
    NO_LEASE_SINK,
    finished,
    is_due,
    missing_role,
    published_role,
)
from syncd.core.rotation.leasing import LEASE_POLL
from syncd.core.rotation.publish import PROOF_ATTEMPTS, PUBLISH_ROUNDS
from syncd.core.rotation.rotations import (
    DEADLINE,
    OPERATION_TIMEOUT,
    RESUME_PROOF_WINDOW,
    TARGET_DEADLINE,
    VERIFY_ROUNDS,
    Rotations,
)

__all__ = [
    "DEADLINE",
    "FUTURE_SLACK",
    "LEASE_POLL",
    "NO_LEASE_SINK",
    "OPERATION_TIMEOUT",
    "PROOF_ATTEMPTS",
    "PUBLISH_ROUNDS",
    "RESUME_PROOF_WINDOW",
    "TARGET_DEADLINE",
    "VERIFY_ROUNDS",
    "Rotations",
    "finished",
    "is_due",
    "missing_role",
    "published_role",
]
