"""The Neon API v2 provider: connection URIs, and the password resets rotation builds on.

Endpoints used (``Authorization: Bearer <key>``, base ``https://console.neon.tech/api/v2``):

* ``GET /projects/{id}/branches/{branch_id}`` answers ``{branch: {id, name, ...}}``
  and ``GET /projects/{id}/branches?search=&limit=&cursor=`` answers
  ``{branches: [{id, name, ...}], pagination: {next}}``. A target names its
  branch, by id or by name; Neon's other endpoints want the id. An id
  (``br-`` and Neon's id shape, :data:`BRANCH_ID`) is checked with one GET.
  A name is searched for (Neon matches any part of a name or an id) and only
  an exact match is kept, following ``pagination.next`` :data:`BRANCH_PAGE`
  branches at a time, so that each answer stays well under the 64 KiB cap,
  for at most :data:`MAX_BRANCH_PAGES` pages and :data:`BRANCH_LOOKUP_TIMEOUT`
  seconds. The whole list is never read: a few hundred preview branches make
  it larger than any answer syncd accepts. An id is cached per project and
  branch for :data:`BRANCH_TTL` seconds (about one cycle), and only one
  lookup per branch is in flight however many targets ask at once.
* ``GET /projects/{id}/connection_uri?branch_id=&database_name=&role_name=&pooled=``
  answers ``{uri}``, validated as strictly as case.dev's (:meth:`ConnectionInfo.parse`)
  and checked to be for the role and database asked for.
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
* ``GET /projects/{id}/branches/{branch_id}/roles/{role}``: 200 or 404.

A 423 (Locked) means a conflicting operation is running on the project. A
read retries it after backoff like a 429 or a 5xx. A reset, which Neon
refuses for as long as another operation runs, waits it out the way Neon's
CLI does: :data:`LOCKED_ATTEMPTS` attempts :data:`LOCKED_DELAY` seconds
apart, never past the caller's deadline. Every password and URI is
registered for redaction the moment it is parsed, before any check that might
quote the answer. Neon allows 700 requests a minute with bursts of 40 a second
per route; the default client-side limit (11/s, burst 40) stays under both.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Literal
from urllib.parse import quote

import httpx
from pydantic import Field, HttpUrl, SecretStr

from syncd import redaction
from syncd.config import credentials
from syncd.config.strict import PluginConfig
from syncd.core import timebox
from syncd.core.models import ConnectionInfo, Target
from syncd.errors import (
    ConfigError,
    ProviderAuthError,
    ProviderError,
    ProviderNotFound,
    ProviderOperationFailed,
    ProviderResponseError,
    ProviderUnavailable,
)
from syncd.net.observe import RequestObserver
from syncd.net.ratelimit import TokenBucket
from syncd.net.retry import Backoff, exponential
from syncd.net.untrusted import TooDeep, loads, one_line
from syncd.providers import api
from syncd.providers.base import ProviderFactory

DEFAULT_BASE_URL = "https://console.neon.tech/api/v2"
#: Requests per second: Neon's 700/minute is 11.67/s.
DEFAULT_RATE = 11.0
#: Neon allows bursts of 40 requests per second per route.
MAX_BURST = 40
#: How long a branch's id, looked up by name or checked, is reused (about one cycle).
BRANCH_TTL = 60.0
#: Neon's branch id: ``br-``, two words and a suffix (``br-purple-base-zayzqzt8``,
#: or older ``br-wispy-dew-591433``), the shape Neon's CLI tells ids from names by.
BRANCH_ID = re.compile(r"br-[a-z]+-[a-z]+-[a-z0-9]{6,8}")
#: Branches asked for per page. Neon describes a branch in some 25 fields, about
#: 0.7 KB: 50 make about 35 KiB, half the 64 KiB answer cap, with room for long names.
BRANCH_PAGE = 50
#: Pages a name search may read (2,000 branches matching the name) before it is
#: refused: a name that common is better given as the branch's id.
MAX_BRANCH_PAGES = 40
#: Seconds a branch lookup may take, every page and retry together.
BRANCH_LOOKUP_TIMEOUT = 30.0
#: The longest pagination cursor accepted (Neon's are short and opaque).
MAX_CURSOR_CHARS = 1024
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
_LOCKED = 423
_WAIT_OUT_LOCK = MappingProxyType(
    {_LOCKED: Backoff(LOCKED_ATTEMPTS, base=LOCKED_DELAY, cap=LOCKED_DELAY, jitter=False)}
)


class NeonConfig(PluginConfig):
    """The ``providers.<name>`` section for ``type: neon``."""

    type: Literal["neon"] = "neon"
    base_url: HttpUrl | None = Field(default=None, description=f"default: {DEFAULT_BASE_URL}")
    api_key_file: Path | None = Field(default=None, description="default: $NEON_API_KEY")
    timeout: float = Field(default=10.0, gt=0, le=300)
    max_attempts: int = Field(default=4, ge=1, le=10)
    rate_limit: float | None = Field(
        default=DEFAULT_RATE, gt=0, description="requests per second (bursts of up to 40)"
    )
    burst: float | None = Field(
        default=None, ge=1, le=MAX_BURST, description="default: 4 s worth of rate_limit, <= 40"
    )
    allow_insecure_http: bool = Field(
        default=False, description="allow http:// to a host that is not loopback"
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


class NeonProvider:
    """Fetches connection URIs from Neon and resets role passwords. Thread-safe."""

    config_model: ClassVar[type[NeonConfig]] = NeonConfig

    def __init__(
        self,
        name: str,
        *,
        api_key: SecretStr,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 10.0,
        backoff: Backoff | None = None,
        rate_limit: float | None = DEFAULT_RATE,
        burst: float | None = None,
        allow_insecure_http: bool = False,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = timebox.sleep,
        clock: Callable[[], float] = time.monotonic,
        branch_ttl: float = BRANCH_TTL,
    ) -> None:
        api.check_base_url(
            name,
            base_url,
            allow_insecure_http=allow_insecure_http,
            key_hint="NEON_API_KEY or api_key_file",
        )
        self.name = name
        redaction.register(api_key.get_secret_value(), pinned=True)
        # A burst of 4 s worth of requests, at most Neon's 40/s: at 11/s a cold start
        # plus a full minute comes to 40 + 660 = 700, exactly Neon's per-minute quota.
        bucket = (
            TokenBucket(
                rate_limit,
                burst or min(float(MAX_BURST), max(1.0, rate_limit * 4)),
                name=f"Neon provider {name}",
            )
            if rate_limit
            else None
        )
        self._api = api.ApiClient(
            "Neon",
            name,
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            backoff=backoff,
            bucket=bucket,
            transport=transport,
            sleep=sleep,
            clock=clock,
        )
        self._sleep = sleep
        self._clock = clock
        self._branches = _BranchCache(branch_ttl, clock)

    @classmethod
    def from_config(cls, name: str, config: NeonConfig) -> NeonProvider:
        """Build the provider, resolving the API key from config, env or systemd credentials."""
        api_key = credentials.require_api_key(
            "Neon API key",
            name,
            file=config.api_key_file,
            env_var="NEON_API_KEY",
            credential="neon_api_key",
        )
        return cls(
            name,
            api_key=api_key,
            base_url=str(config.base_url or DEFAULT_BASE_URL),
            timeout=config.timeout,
            backoff=Backoff(attempts=config.max_attempts),
            rate_limit=config.rate_limit,
            burst=config.burst,
            allow_insecure_http=config.allow_insecure_http,
        )

    @staticmethod
    def check_target(target: Target) -> None:
        """Refuse a target without ``database`` or ``role`` (ValueError ``"field: why"``)."""
        for key in ("database", "role"):
            if not getattr(target, key):
                raise ValueError(
                    f"{key}: required for a neon target (the Postgres {key} to connect as)"
                )

    # -- the Provider protocol ---------------------------------------------

    def fetch(self, target: Target) -> ConnectionInfo:
        """The connection for ``target`` as its configured role; see :class:`Provider`."""
        return self.connection(target, role=_required(target, "role"))

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._api.close()

    def observe(self, observer: RequestObserver) -> None:
        """Report every HTTP attempt, retries included, to ``observer`` (see syncd.net.observe)."""
        self._api.observe(observer)

    # -- what rotation uses ------------------------------------------------

    def connection(self, target: Target, *, role: str) -> ConnectionInfo:
        """The connection to ``target``'s branch and database as ``role`` (pooled as configured).

        Raises:
            ProviderAuthError: the API key was refused.
            ProviderNotFound: the project, branch, database or role does not exist.
            ProviderResponseError: the URI is malformed, lacks TLS, or is for
                another role or database; nothing is written.
            ProviderUnavailable: transient (timeout, 429, 423, 5xx); retry later.

        """
        database = _required(target, "database")
        branch_id = self.branch_id(target)
        params = {
            "branch_id": branch_id,
            "database_name": database,
            "role_name": role,
            "pooled": "true" if target.pooled else "false",
        }
        where = f"project {target.project} branch {target.branch} role {role}"
        _, raw = self._api.request(
            "GET",
            f"/projects/{_seg(target.project)}/connection_uri",
            subject=f"the connection URI of {where}",
            params=params,
            status_error=lambda r, b: _status_error(r, b, f"{where} database {database}"),
            context={"target": target.name},
        )
        body = _json(raw, f"Neon connection_uri answer for {where}")
        uri = body.get("uri")
        if not isinstance(uri, str):
            raise ProviderResponseError(f"Neon connection_uri answer for {where} has no uri string")
        conn = api.connection_of(self.name, uri, target, f"Neon connection URI for {where}")
        if conn.username != role or conn.dbname != database:
            raise ProviderResponseError(
                f"Neon connection URI for {where} is for role {one_line(conn.username, 64)} "
                f"database {one_line(conn.dbname, 64)}, not what was asked"
            )
        return conn

    def reset_password(
        self, target: Target, role: str, *, deadline: float | None = None
    ) -> PasswordReset:
        """Reset ``role``'s password on ``target``'s branch; return it and its operations.

        The new password only works once :meth:`wait_for_operations` has seen
        every returned operation finish; the old one works until then. A 423
        (another operation running) is waited out: :data:`LOCKED_ATTEMPTS`
        attempts :data:`LOCKED_DELAY` seconds apart. ``deadline``, a
        ``time.monotonic()`` instant, bounds the call, branch lookup included:
        no attempt or wait goes past it. A retried reset may reset twice: the
        password returned is the one from the last answer.

        Raises:
            ProviderAuthError: the API key was refused, or may not reset passwords.
            ProviderNotFound: the project, branch or role does not exist.
            ProviderResponseError: the answer has no password, is for another
                role, or lists more than :data:`MAX_OPERATIONS` operations.
            ProviderUnavailable: transient (still locked after every attempt or
                at the deadline, 429, 5xx).

        """
        branch_id = self.branch_id(target, deadline=deadline)
        where = f"project {target.project} branch {target.branch} role {role}"
        _, raw = self._api.request(
            "POST",
            f"/projects/{_seg(target.project)}/branches/{_seg(branch_id)}"
            f"/roles/{_seg(role)}/reset_password",
            subject=f"the password reset of {where}",
            status_error=lambda r, b: _status_error(r, b, where),
            action="resetting",
            context={"target": target.name},
            status_backoff=_WAIT_OUT_LOCK,
            deadline=deadline,
        )
        what = f"Neon reset_password answer for {where}"
        body = _json(raw, what)
        answered = body.get("role")
        password = answered.get("password") if isinstance(answered, dict) else None
        if isinstance(password, str) and password:
            # First, before anything below can quote the answer.
            redaction.register(password)
        if not isinstance(answered, dict) or not isinstance(password, str) or not password:
            raise ProviderResponseError(f"{what} has no role password")
        if answered.get("name") != role:
            raise ProviderResponseError(f"{what} is for another role")
        return PasswordReset(
            project=target.project,
            branch_id=branch_id,
            role=role,
            password=SecretStr(password),
            operation_ids=_operation_ids(body.get("operations"), what),
        )

    def wait_for_operations(
        self, project: str, operation_ids: tuple[str, ...] | list[str], deadline: float
    ) -> None:
        """Poll each operation until it ends; ``deadline`` is a ``time.monotonic()`` instant.

        Returns when every operation is ``finished`` or ``skipped``. The
        deadline is checked before every poll and bounds each poll's retries,
        and at most :data:`MAX_OPERATIONS` operations are waited for, so the
        call ends by the deadline however many operations finished already.

        Raises:
            ProviderOperationFailed: an operation ended ``failed`` or ``cancelled``
                (transient: a later reset may succeed).
            ProviderUnavailable: the deadline passed with an operation still under
                way, or Neon could not be reached.
            ProviderNotFound: an operation id is unknown to Neon.
            ProviderResponseError: more than :data:`MAX_OPERATIONS` operations,
                or as for :meth:`connection`.
            ProviderAuthError: as for :meth:`connection`.

        """
        pending = list(operation_ids)
        total = len(pending)
        if total > MAX_OPERATIONS:
            raise ProviderResponseError(
                f"{total} Neon operations in project {project} are more than the "
                f"{MAX_OPERATIONS} syncd waits for"
            )
        polls = 0
        while pending:
            if self._clock() >= deadline:
                raise ProviderUnavailable(
                    f"Neon operations in project {project}: {len(pending)} of {total} "
                    f"still unfinished past the deadline (next: {one_line(pending[0], 64)})"
                )
            status = self._operation_status(project, pending[0], deadline)
            if status in OPERATION_DONE:
                pending.pop(0)
                continue
            if status in OPERATION_FAILED:
                raise ProviderOperationFailed(
                    f"Neon operation {one_line(pending[0], 64)} in project {project} ended {status}"
                )
            left = deadline - self._clock()
            if left <= 0:
                raise ProviderUnavailable(
                    f"Neon operation {one_line(pending[0], 64)} in project {project} is still "
                    f"{one_line(status, 32)} past the deadline"
                )
            polls += 1
            self._sleep(min(exponential(polls, _POLL_FIRST, _POLL_CAP), left))

    def role_exists(self, target: Target, role: str) -> bool:
        """Whether ``role`` exists on ``target``'s branch.

        Raises:
            ProviderNotFound: the project or branch does not exist.
            ProviderAuthError, ProviderResponseError, ProviderUnavailable: as for
                :meth:`connection`.

        """
        branch_id = self.branch_id(target)
        where = f"project {target.project} branch {target.branch} role {role}"
        try:
            self._api.request(
                "GET",
                f"/projects/{_seg(target.project)}/branches/{_seg(branch_id)}/roles/{_seg(role)}",
                subject=f"{where}",
                status_error=lambda r, b: _status_error(r, b, where, role_lookup=True),
                context={"target": target.name},
            )
        except _RoleMissing:
            return False
        return True

    def branch_id(self, target: Target, *, deadline: float | None = None) -> str:
        """The id of ``target``'s branch, named by id or by name; cached for a cycle.

        An id (:data:`BRANCH_ID`) is checked with one GET; a name is searched
        for page by page and only an exact match counts (an exact id match
        too, for an id of a shape syncd does not know). The lookup takes at
        most :data:`BRANCH_LOOKUP_TIMEOUT` seconds, and ends by ``deadline``
        (a ``time.monotonic()`` instant) when one is given.

        Raises:
            ProviderNotFound: the project has no branch of that name or id.
            ProviderResponseError: an answer is malformed, its pagination loops,
                or the search reads more than :data:`MAX_BRANCH_PAGES` pages.
            ProviderUnavailable: transient, or the lookup ran out of time.
            ProviderAuthError: as for :meth:`connection`.

        """
        key = (target.project, target.branch)
        return self._branches.get(key, lambda: self._lookup_branch(target, deadline))

    # -- internals ---------------------------------------------------------

    def _lookup_branch(self, target: Target, deadline: float | None) -> str:
        limit = self._clock() + BRANCH_LOOKUP_TIMEOUT
        until = limit if deadline is None else min(deadline, limit)
        if BRANCH_ID.fullmatch(target.branch):
            return self._get_branch(target, until)
        return self._search_branch(target, until)

    def _get_branch(self, target: Target, deadline: float) -> str:
        where = f"branch {target.branch} in project {target.project}"
        _, raw = self._api.request(
            "GET",
            f"/projects/{_seg(target.project)}/branches/{_seg(target.branch)}",
            subject=where,
            status_error=lambda r, b: _status_error(r, b, where),
            context={"target": target.name},
            deadline=deadline,
        )
        body = _json(raw, f"Neon answer for {where}")
        branch = body.get("branch")
        if not isinstance(branch, dict) or branch.get("id") != target.branch:
            raise ProviderResponseError(f"Neon answer for {where} does not describe that branch")
        return target.branch

    def _search_branch(self, target: Target, deadline: float) -> str:
        project, name = target.project, target.branch
        where = f"project {project}"
        what = f"Neon branches answer for {where}"
        params = {"search": name, "limit": str(BRANCH_PAGE)}
        cursors: set[str] = set()
        for page in range(MAX_BRANCH_PAGES):
            if self._clock() >= deadline:
                raise ProviderUnavailable(
                    f"looking up branch {name} in Neon project {project} ran out of time "
                    f"after {page} pages"
                )
            _, raw = self._api.request(
                "GET",
                f"/projects/{_seg(project)}/branches",
                subject=f"the branches of {where}",
                params=params,
                status_error=lambda r, b: _status_error(r, b, where),
                context={"target": target.name},
                deadline=deadline,
            )
            listed, cursor = _branch_page(_json(raw, what), what)
            found = _exact_match(listed, name, what)
            if found is not None:
                return found
            if not listed or cursor is None:
                raise ProviderNotFound(f"branch {name} not found in Neon project {project}")
            if cursor in cursors:
                raise ProviderResponseError(f"{what} repeats a pagination cursor")
            cursors.add(cursor)
            params["cursor"] = cursor
        raise ProviderResponseError(
            f"branch {name}: more than {MAX_BRANCH_PAGES * BRANCH_PAGE} branches of Neon "
            f"project {project} match the name; give the branch by its id (br-...)"
        )

    def _operation_status(self, project: str, operation_id: str, deadline: float) -> str:
        where = f"operation {one_line(operation_id, 64)} in project {project}"
        _, raw = self._api.request(
            "GET",
            f"/projects/{_seg(project)}/operations/{_seg(operation_id)}",
            subject=where,
            status_error=lambda r, b: _status_error(r, b, where),
            deadline=deadline,
        )
        body = _json(raw, f"Neon answer for {where}")
        operation = body.get("operation")
        status = operation.get("status") if isinstance(operation, dict) else None
        if not isinstance(status, str):
            raise ProviderResponseError(f"Neon answer for {where} has no operation status")
        return status


class _BranchCache:
    """(project, branch) -> branch id for ``ttl`` seconds; one lookup per key at a time."""

    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], tuple[float, str]] = {}
        self._loading: dict[tuple[str, str], threading.Lock] = {}

    def get(self, key: tuple[str, str], load: Callable[[], str]) -> str:
        with self._lock:
            fresh = self._fresh(key)
            if fresh is not None:
                return fresh
            loading = self._loading.setdefault(key, threading.Lock())
        # Whoever holds ``loading`` looks the branch up; the others wait, then reuse it.
        with loading:
            with self._lock:
                fresh = self._fresh(key)
            if fresh is not None:
                return fresh
            ident = load()
            with self._lock:
                self._entries[key] = (self._clock() + self._ttl, ident)
            return ident

    def _fresh(self, key: tuple[str, str]) -> str | None:
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self._clock():
            return entry[1]
        return None


class _RoleMissing(ProviderNotFound):
    """A role lookup answered 404 for the role (not the project or branch)."""


def _seg(value: str) -> str:
    return quote(value, safe="")


#: mypy checks the plugin's shape here, as a third-party plugin author would.
_FACTORY: ProviderFactory[NeonConfig] = NeonProvider


def _required(target: Target, key: str) -> str:
    value: str | None = getattr(target, key)
    if not value:
        raise ConfigError(f"target {target.name}: {key} is required for a neon target")
    return value


def _json(raw: bytes, what: str) -> dict[str, Any]:
    try:
        body = loads(raw)
    except TooDeep as exc:
        raise ProviderResponseError(f"{what} is JSON {exc}") from None
    except ValueError:
        raise ProviderResponseError(f"{what} is not JSON") from None
    if not isinstance(body, dict):
        raise ProviderResponseError(f"{what} is not a JSON object")
    return body


def _branch_page(body: dict[str, Any], what: str) -> tuple[list[Any], str | None]:
    """A page's branches and the cursor of the next page (None: this is the last)."""
    listed = body.get("branches")
    if not isinstance(listed, list):
        raise ProviderResponseError(f"{what} has no branches list")
    pagination = body.get("pagination")
    if pagination is None:
        return listed, None
    if not isinstance(pagination, dict):
        raise ProviderResponseError(f"{what} has a pagination field that is not an object")
    cursor = pagination.get("next")
    if cursor is None or cursor == "":
        return listed, None
    if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR_CHARS:
        raise ProviderResponseError(f"{what} has a pagination cursor that is not a short string")
    return listed, cursor


def _exact_match(listed: list[Any], branch: str, what: str) -> str | None:
    """The id of the listed branch named ``branch`` (or with that id), if any."""
    for item in listed:
        name = item.get("name") if isinstance(item, dict) else None
        ident = item.get("id") if isinstance(item, dict) else None
        if not isinstance(name, str) or not isinstance(ident, str) or not ident:
            raise ProviderResponseError(f"{what} lists a branch without a name and an id")
        if branch in (name, ident):
            return ident
    return None


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


def _status_error(
    response: httpx.Response, body: bytes, where: str, *, role_lookup: bool = False
) -> ProviderError:
    status = response.status_code
    message = api.error_message(body)
    if status == 401:  # noqa: PLR2004 - HTTP status codes read better as numbers
        return ProviderAuthError("Neon rejected the API key (401 Unauthorized)")
    if status == 403:  # noqa: PLR2004
        return ProviderAuthError(
            f"Neon denied access to {where} (403 Forbidden); check the API key's permissions"
        )
    if status == 404:  # noqa: PLR2004
        return _not_found(response, message, where, role_lookup=role_lookup)
    if status == _LOCKED:
        return ProviderUnavailable(
            f"Neon answered 423 Locked for {where}: another operation is running on the project"
        )
    if status in api.RETRYABLE_STATUS:
        return ProviderUnavailable(f"Neon answered {status} for {where}")
    return ProviderResponseError(
        f"Neon answered {status} for {where}: {one_line(redaction.scrub(message)) or 'no message'}"
    )


def _not_found(
    response: httpx.Response, message: str, where: str, *, role_lookup: bool
) -> ProviderNotFound:
    if role_lookup:  # the branch was just resolved: a 404 here is the role's
        return _RoleMissing(f"{where}: role not found")
    # The URL names no secret (the key travels in a header): showing it tells a
    # wrong base_url from a wrong project id.
    url = response.request.url.copy_with(query=None)
    said = f": {one_line(redaction.scrub(message), 120)}" if message else ""
    return ProviderNotFound(
        f"{where}: not found at Neon (404 from {response.request.method} {url}{said}); "
        "if every project fails, check base_url"
    )
