"""A Neon-API-compatible server for tests, backed by a real PostgreSQL (and PgBouncer).

It speaks the part of Neon's API v2 that syncd uses, under ``/api/v2`` (so a
base URL is ``http://127.0.0.1:PORT/api/v2``), with bearer authentication:

* ``GET /projects/{id}/branches`` with ``search``, ``sort_by``, ``sort_order``,
  ``limit`` and ``cursor``; ``GET /projects/{id}/branches/{branch_id}``,
* ``GET /projects/{id}/connection_uri``,
* ``POST /projects/{id}/branches/{branch_id}/roles/{role}/reset_password``,
* ``GET /projects/{id}/branches/{branch_id}/roles[/{role}]``,
* ``GET /projects/{id}/operations/{op_id}``.

Projects, branches, databases and roles are declared by the test and map onto
a real cluster: connection URIs carry the real host and port of PostgreSQL
(direct, with ``channel_binding=require`` when asked for) or of PgBouncer
(pooled), always with ``sslmode=require``. Branches get ids of Neon's shape
(``br-quiet-field-000042``) and are described with Neon's fields, about 0.7 KB
each, so :meth:`FakeNeon.add_branches` can make a project whose full list is
as large as a real one with hundreds of preview branches.

The branch list behaves as documented: ``search`` keeps branches whose name or
id contains it (case-insensitive), sorted by ``sort_by`` (``updated_at``,
``created_at`` or ``name``; default ``updated_at``) in ``sort_order``
(default ``desc``). Without ``limit`` every branch is listed; with one (1 to
10000) at most that many, and ``pagination.next`` is the cursor to pass as
``cursor`` for the next page. Neon does not document whether the last page
carries a ``next``; the fake gives one with every non-empty page, so a client
must also stop at an empty page. A malformed ``limit``, ``sort_by``,
``sort_order`` or ``cursor`` answers 400.

A reset behaves like Neon's: the answer carries the new password at once, and
an operation that goes ``scheduling`` -> ``running`` -> ``finished`` over
``operation_delay`` seconds. Only when it finishes is the password really
changed (``set_password``, normally :func:`alter_role_password`, which runs
``ALTER ROLE ... PASSWORD``), so the old password keeps working until then. A
reset while an operation of the project is under way answers 423, and so does
every reset while :meth:`FakeNeon.lock_for` holds the project locked (as
while Neon runs a long operation of its own). Faults are
injected as with the case.dev fake (:class:`~syncd.testing.standin.Fault`:
429 with ``Retry-After``, 5xx, slow answers), and
:meth:`FakeNeon.fail_next_operation` makes the next reset's operation end
``failed`` (the password is then left as it was). ``on_request`` is called with
each request once its answer is decided, before it is sent, so a test can act
at an exact protocol point (kill the client right after a reset, say), and
every :class:`~syncd.testing.standin.SeenRequest` carries its arrival time::

    api = FakeNeon("key", set_password=alter_role_password(admin_dsn),
                   direct=("127.0.0.1", pg_port), pooled=("127.0.0.1", bouncer_port))
    api.add_branch("proj", "main", databases=["app"], roles={"app": "pw"})
    api.add_branches("proj", [f"preview/pr-{n}" for n in range(400)])
    with api.serve() as server:
        base_url = server.base_url + "/api/v2"
"""

from __future__ import annotations

import itertools
import re
import secrets
import string
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

import httpx

from syncd.testing.neonbranches import Branch, branch_list, error, ok, role_json
from syncd.testing.standin import Fault, Faults, RunningServer, SeenRequest, respond, serving

__all__ = ["FakeNeon", "Fault", "Operation", "alter_role_password"]

PREFIX = "/api/v2"
_ROUTES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("branches", re.compile(r"^/projects/([^/]+)/branches$")),
    ("branch", re.compile(r"^/projects/([^/]+)/branches/([^/]+)$")),
    ("connection_uri", re.compile(r"^/projects/([^/]+)/connection_uri$")),
    ("reset", re.compile(r"^/projects/([^/]+)/branches/([^/]+)/roles/([^/]+)/reset_password$")),
    ("role", re.compile(r"^/projects/([^/]+)/branches/([^/]+)/roles/([^/]+)$")),
    ("roles", re.compile(r"^/projects/([^/]+)/branches/([^/]+)/roles$")),
    ("operation", re.compile(r"^/projects/([^/]+)/operations/([^/]+)$")),
)
_ALPHABET = string.ascii_letters + string.digits
_UNDER_WAY = frozenset({"scheduling", "running"})
_LOCKED_MESSAGE = (
    "project already has running conflicting operations, scheduling of new ones is prohibited"
)


def alter_role_password(admin_dsn: str) -> Callable[[str, str], None]:
    """A ``set_password`` that runs ``ALTER ROLE role PASSWORD ...`` as the superuser."""

    def set_password(role: str, password: str) -> None:
        import psycopg  # noqa: PLC0415 - a test extra; only this fake needs it
        from psycopg import sql  # noqa: PLC0415

        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )

    return set_password


@dataclass
class Operation:
    """One operation a reset started, as the fake tracks it."""

    id: str
    project: str
    branch_id: str
    role: str
    status: str = "scheduling"
    password: str = field(default="", repr=False)
    previous: str = field(default="", repr=False)
    fail: bool = False

    def as_json(self) -> dict[str, object]:
        """Neon's operation object."""
        return {
            "id": self.id,
            "project_id": self.project,
            "branch_id": self.branch_id,
            "action": "apply_config",
            "status": self.status,
            "failures_count": 1 if self.status == "failed" else 0,
        }


class FakeNeon:
    """Neon's API behaviour over a real cluster, independent of transport. Thread-safe."""

    def __init__(
        self,
        api_key: str,
        *,
        set_password: Callable[[str, str], None],
        direct: tuple[str, int],
        pooled: tuple[str, int] | None = None,
        channel_binding: bool = True,
        operation_delay: float = 0.3,
        on_request: Callable[[SeenRequest], None] | None = None,
    ) -> None:
        self.api_key = api_key
        self.operation_delay = operation_delay
        self._set_password = set_password
        self._direct = direct
        self._pooled = pooled
        self._channel_binding = channel_binding
        self._projects: dict[str, list[Branch]] = {}
        self._operations: dict[str, Operation] = {}
        self._faults = Faults()
        self._fail_operations = 0
        self._locked_until = 0.0
        self._timers: list[threading.Timer] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.requests: list[SeenRequest] = []
        #: Called with each request once its answer is decided, before it is sent: a test
        #: can act at an exact protocol point (e.g. kill the client after a reset).
        self.on_request: Callable[[SeenRequest], None] | None = on_request

    # -- the test's controls -------------------------------------------------

    def add_branch(
        self,
        project: str,
        name: str,
        *,
        databases: list[str],
        roles: dict[str, str],
        branch_id: str | None = None,
    ) -> str:
        """Declare a branch with existing databases and roles (and their passwords); its id.

        The project's first branch is its root (``primary``); later ones are its children.
        """
        with self._lock:
            return self._add(project, name, set(databases), dict(roles), branch_id)

    def add_branches(self, project: str, names: Iterable[str]) -> list[str]:
        """Declare many branches without databases or roles (say, previews); their ids."""
        with self._lock:
            return [self._add(project, name, set(), {}, None) for name in names]

    def _add(
        self,
        project: str,
        name: str,
        databases: set[str],
        roles: dict[str, str],
        branch_id: str | None,
    ) -> str:
        branches = self._projects.setdefault(project, [])
        parent = branches[0].id if branches else None
        branch = Branch.numbered(
            next(self._ids), name, databases, roles, parent_id=parent, branch_id=branch_id
        )
        branches.append(branch)
        return branch.id

    def add_role(self, project: str, branch: str, role: str, password: str) -> None:
        """Declare another existing role on a branch (by name)."""
        with self._lock:
            self._branch(project, branch, by="name").roles[role] = password

    def password(self, project: str, branch: str, role: str) -> str:
        """The password Neon publishes for ``role`` now (the new one as soon as a reset answers)."""
        with self._lock:
            return self._branch(project, branch, by="name").roles[role]

    def operation(self, operation_id: str) -> Operation:
        """An operation by id."""
        with self._lock:
            return self._operations[operation_id]

    def operations(self) -> list[Operation]:
        """Every operation started so far, oldest first."""
        with self._lock:
            return list(self._operations.values())

    def settled(self, timeout: float = 30.0) -> bool:
        """Wait until no operation is ``scheduling`` or ``running``; False on timeout."""
        deadline = time.monotonic() + timeout
        while any(op.status in _UNDER_WAY for op in self.operations()):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def fail_next(self, fault: Fault, times: int = 1) -> None:
        """Answer the next ``times`` authorised requests with ``fault``."""
        self._faults.add(fault, times)

    def lock_for(self, seconds: float) -> float:
        """Answer every reset 423 Locked for ``seconds`` from now; the ``time.monotonic()`` end."""
        with self._lock:
            self._locked_until = time.monotonic() + seconds
            return self._locked_until

    def fail_next_operation(self, times: int = 1) -> None:
        """Make the operations of the next ``times`` resets end ``failed``."""
        with self._lock:
            self._fail_operations += times

    def close(self) -> None:
        """Cancel operation timers not yet run (their operations stay where they are)."""
        with self._lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()

    @contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[RunningServer]:
        """Serve this API over real HTTP on loopback until the block exits."""
        try:
            with serving(self, host, port, "fake-neon") as server:
                yield server
        finally:
            self.close()

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request (the ``httpx.MockTransport`` handler)."""
        return respond(self._answer(request))

    # -- the API ---------------------------------------------------------------

    def _answer(self, request: httpx.Request) -> httpx.Response | Fault:
        raw_path = request.url.raw_path.decode("ascii").split("?")[0]
        seen = SeenRequest.of(request, raw_path, api_key=self.api_key)
        with self._lock:
            self.requests.append(seen)
        answer = self._decide(request, raw_path, seen.params, seen.authorized)
        if self.on_request is not None:
            self.on_request(seen)
        return answer

    def _decide(
        self, request: httpx.Request, raw_path: str, params: dict[str, str], authorized: bool
    ) -> httpx.Response | Fault:
        route = _route(raw_path.removeprefix(PREFIX) if raw_path.startswith(PREFIX) else "")
        if route is None:
            return error(404, "not found")
        if not authorized:
            return error(401, "authentication required")
        fault = self._faults.next()
        if fault is not None:
            return fault
        return self._dispatch(request.method, *route, params)

    def _dispatch(
        self, method: str, kind: str, args: tuple[str, ...], params: dict[str, str]
    ) -> httpx.Response:
        try:
            with self._lock:
                if kind == "reset" and method == "POST":
                    return self._reset(*args)
                if method != "GET":
                    return error(405, "method not allowed")
                return self._get(kind, args, params)
        except LookupError as exc:
            return error(404, str(exc.args[0]))

    def _get(self, kind: str, args: tuple[str, ...], params: dict[str, str]) -> httpx.Response:
        if kind == "branches":
            return branch_list(args[0], self._project(args[0]), params)
        if kind == "branch":
            return ok({"branch": self._branch(args[0], args[1]).as_json(args[0])})
        if kind == "connection_uri":
            return self._connection_uri(args[0], params)
        if kind == "roles":
            branch = self._branch(args[0], args[1])
            roles = [role_json(branch, r) for r in sorted(branch.roles)]
            return ok({"roles": roles})
        if kind == "role":
            branch = self._branch(args[0], args[1])
            if args[2] not in branch.roles:
                raise LookupError("role not found")
            return ok({"role": role_json(branch, args[2])})
        operation = self._operations.get(args[1])
        if operation is None or operation.project != args[0]:
            raise LookupError("operation not found")
        return ok({"operation": operation.as_json()})

    def _connection_uri(self, project: str, params: dict[str, str]) -> httpx.Response:
        missing = [k for k in ("database_name", "role_name") if not params.get(k)]
        if missing:
            return error(400, f"missing {', '.join(missing)}")
        branches = self._project(project)
        branch_id = params.get("branch_id")
        branch = self._branch(project, branch_id) if branch_id else branches[0]
        database, role = params["database_name"], params["role_name"]
        if database not in branch.databases:
            raise LookupError("database not found")
        if role not in branch.roles:
            raise LookupError("role not found")
        pooled = params.get("pooled", "false") == "true"
        host, port = self._pooled if pooled and self._pooled else self._direct
        query = "sslmode=require"
        if not pooled and self._channel_binding:
            query += "&channel_binding=require"
        uri = (
            f"postgresql://{quote(role, safe='')}:{quote(branch.roles[role], safe='')}"
            f"@{host}:{port}/{quote(database, safe='')}?{query}"
        )
        return ok({"uri": uri})

    def _reset(self, project: str, branch_id: str, role: str) -> httpx.Response:
        branch = self._branch(project, branch_id)
        if role not in branch.roles:
            raise LookupError("role not found")
        if time.monotonic() < self._locked_until or any(
            op.project == project and op.status in _UNDER_WAY for op in self._operations.values()
        ):
            return error(423, _LOCKED_MESSAGE)
        password = "".join(secrets.choice(_ALPHABET) for _ in range(32))
        operation = Operation(
            id=str(uuid.uuid4()),
            project=project,
            branch_id=branch.id,
            role=role,
            password=password,
            previous=branch.roles[role],
            fail=self._fail_operations > 0,
        )
        self._fail_operations = max(0, self._fail_operations - 1)
        self._operations[operation.id] = operation
        branch.roles[role] = password
        self._schedule(self.operation_delay / 2, self._advance, operation, "running")
        self._schedule(self.operation_delay, self._complete, operation)
        answered = role_json(branch, role)
        answered["password"] = password
        return ok({"role": answered, "operations": [operation.as_json()]})

    # -- operations --------------------------------------------------------------

    def _schedule(self, delay: float, action: Callable[..., None], *args: object) -> None:
        timer = threading.Timer(delay, action, args)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def _advance(self, operation: Operation, status: str) -> None:
        with self._lock:
            if operation.status == "scheduling":
                operation.status = status

    def _complete(self, operation: Operation) -> None:
        if operation.fail:
            with self._lock:
                operation.status = "failed"
                branch = self._branch(operation.project, operation.branch_id)
                if branch.roles.get(operation.role) == operation.password:
                    branch.roles[operation.role] = operation.previous
            return
        # The password changes for real before the operation reads finished.
        self._set_password(operation.role, operation.password)
        with self._lock:
            operation.status = "finished"

    # -- lookups (the caller holds the lock) ------------------------------------

    def _project(self, project: str) -> list[Branch]:
        branches = self._projects.get(project)
        if not branches:
            raise LookupError("project not found")
        return branches

    def _branch(self, project: str, key: str, by: str = "id") -> Branch:
        for branch in self._project(project):
            if (branch.id if by == "id" else branch.name) == key:
                return branch
        raise LookupError("branch not found")


def _route(path: str) -> tuple[str, tuple[str, ...]] | None:
    for kind, pattern in _ROUTES:
        match = pattern.match(path)
        if match:
            return kind, tuple(unquote(g) for g in match.groups())
    return None


