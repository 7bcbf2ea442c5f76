"""Neon password resets and the operations a reset starts: what rotation builds on.

* ``POST /projects/{id}/branches/{branch_id}/roles/{role}/reset_password``
  answers ``{role: {name, password, ...}, operations: [{id, status, ...}]}``.
  The new password is returned at once, but Neon only accepts it when the
  operations it started have finished; the old one works until then. An
  answer listing more than :data:`MAX_OPERATIONS` operations is refused, so
  waiting for them is bounded.
* ``GET /projects/{id}/operations/{op_id}`` answers ``{operation: {id, status}}``;
  ``finished`` and ``skipped`` end well, ``failed`` and ``cancelled`` end badly,
  anything else (``scheduling``, ``running``, ``error`` while Neon retries,
  ``cancelling``) is still under way.

A reset, which Neon refuses (423 Locked) for as long as another operation
runs on the project, waits it out the way Neon's CLI does:
:data:`LOCKED_ATTEMPTS` attempts :data:`LOCKED_DELAY` seconds apart, never past
the caller's deadline. The new password is registered for redaction the
moment it is read, before any check that might quote the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType

from pydantic import SecretStr

from syncd.core.models import Target
from syncd.errors import ProviderOperationFailed, ProviderResponseError, ProviderUnavailable
from syncd.net.retry import Backoff, exponential
from syncd.net.untrusted import one_line
from syncd.providers import answers
from syncd.providers.api import ApiClient
from syncd.providers.neon_answers import LOCKED, json_object, seg, status_error

#: A reset answered 423 Locked is tried this many times, this many seconds apart,
#: as Neon's CLI does (``retryOnLock``: 5 attempts, 3 s apart).
LOCKED_ATTEMPTS = 5
LOCKED_DELAY = 3.0
#: The most operations a reset answer may list (Neon starts one or two).
MAX_OPERATIONS = 64
#: Operation statuses that end an operation, well or badly.
OPERATION_DONE = frozenset({"finished", "skipped"})
OPERATION_FAILED = frozenset({"failed", "cancelled"})
_POLL_FIRST = 0.1
_POLL_CAP = 2.0
_WAIT_OUT_LOCK = MappingProxyType(
    {LOCKED: Backoff(LOCKED_ATTEMPTS, base=LOCKED_DELAY, cap=LOCKED_DELAY, jitter=False)}
)


@dataclass(frozen=True)
class PasswordReset:
    """What a reset answered: the new password, and the operations that must finish first.

    The password is not accepted by Neon until every operation in
    ``operation_ids`` has finished (:meth:`NeonProvider.wait_for_operations`).
    """

    project: str
    branch_id: str
    role: str
    password: SecretStr = field(repr=False)
    operation_ids: tuple[str, ...]


def reset_password(
    client: ApiClient, target: Target, role: str, branch_id: str, deadline: float | None
) -> PasswordReset:
    """Reset ``role``'s password on ``branch_id``; see :meth:`NeonProvider.reset_password`."""
    where = f"project {target.project} branch {target.branch} role {role}"
    _, raw = client.request(
        "POST",
        f"/projects/{seg(target.project)}/branches/{seg(branch_id)}"
        f"/roles/{seg(role)}/reset_password",
        subject=f"the password reset of {where}",
        status_error=lambda r, b: status_error(r, b, where),
        action="resetting",
        context={"target": target.name},
        status_backoff=_WAIT_OUT_LOCK,
        deadline=deadline,
    )
    what = f"Neon reset_password answer for {where}"
    body = json_object(raw, what)
    answered = body.get("role")
    password = answered.get("password") if isinstance(answered, dict) else None
    if not isinstance(password, str) or not password:
        raise ProviderResponseError(f"{what} has no role password")
    # First, before anything below can quote the answer.
    secret = answers.answered_secret(password)
    if not isinstance(answered, dict) or answered.get("name") != role:
        raise ProviderResponseError(f"{what} is for another role")
    return PasswordReset(
        project=target.project,
        branch_id=branch_id,
        role=role,
        password=secret,
        operation_ids=_operation_ids(body.get("operations"), what),
    )


def wait_for_operations(
    client: ApiClient,
    project: str,
    operation_ids: tuple[str, ...] | list[str],
    deadline: float,
    *,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> None:
    """Poll each operation until it ends; see :meth:`NeonProvider.wait_for_operations`."""
    pending = list(operation_ids)
    total = len(pending)
    if total > MAX_OPERATIONS:
        raise ProviderResponseError(
            f"{total} Neon operations in project {project} are more than the "
            f"{MAX_OPERATIONS} syncd waits for"
        )
    polls = 0
    while pending:
        if clock() >= deadline:
            raise ProviderUnavailable(
                f"Neon operations in project {project}: {len(pending)} of {total} "
                f"still unfinished past the deadline (next: {one_line(pending[0], 64)})"
            )
        status = _operation_status(client, project, pending[0], deadline)
        if status in OPERATION_DONE:
            pending.pop(0)
            continue
        if status in OPERATION_FAILED:
            raise ProviderOperationFailed(
                f"Neon operation {one_line(pending[0], 64)} in project {project} ended {status}"
            )
        left = deadline - clock()
        if left <= 0:
            raise ProviderUnavailable(
                f"Neon operation {one_line(pending[0], 64)} in project {project} is still "
                f"{one_line(status, 32)} past the deadline"
            )
        polls += 1
        sleep(min(exponential(polls, _POLL_FIRST, _POLL_CAP), left))


def _operation_status(client: ApiClient, project: str, operation_id: str, deadline: float) -> str:
    where = f"operation {one_line(operation_id, 64)} in project {project}"
    _, raw = client.request(
        "GET",
        f"/projects/{seg(project)}/operations/{seg(operation_id)}",
        subject=where,
        status_error=lambda r, b: status_error(r, b, where),
        deadline=deadline,
    )
    body = json_object(raw, f"Neon answer for {where}")
    operation = body.get("operation")
    status = operation.get("status") if isinstance(operation, dict) else None
    if not isinstance(status, str):
        raise ProviderResponseError(f"Neon answer for {where} has no operation status")
    return status


def _operation_ids(operations: object, what: str) -> tuple[str, ...]:
    if operations is None:
        return ()
    if not isinstance(operations, list):
        raise ProviderResponseError(f"{what} has an operations field that is not a list")
    if len(operations) > MAX_OPERATIONS:
        raise ProviderResponseError(
            f"{what} lists {len(operations)} operations, more than the {MAX_OPERATIONS} "
            "syncd waits for"
        )
    ids = []
    for op in operations:
        ident = op.get("id") if isinstance(op, dict) else None
        if not isinstance(ident, str) or not ident:
            raise ProviderResponseError(f"{what} has an operation without an id")
        ids.append(ident)
    return tuple(ids)
