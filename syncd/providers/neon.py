"""The Neon API v2 provider: connection URIs, and the password resets rotation builds on.

Endpoints (``Authorization: Bearer <key>``, base ``https://console.neon.tech/api/v2``):

* ``GET /projects/{id}/connection_uri?branch_id=&database_name=&role_name=&pooled=``
  answers ``{uri}``, validated as strictly as case.dev's (:meth:`ConnectionInfo.parse`)
  and checked to be for the role and database asked for.
* ``GET /projects/{id}/branches/{branch_id}/roles/{role}``: 200 or 404.
* The branch lookups that turn a target's branch name into Neon's id
  (:mod:`syncd.providers.neon_branches`), and the password reset and its
  operations (:mod:`syncd.providers.neon_reset`).

A target names the ``database`` and ``role`` to connect as: Neon's own keys on
a target (:class:`NeonTarget`, checked at config load). A 423 (Locked) means a
conflicting operation is running on the project; a read retries it after
backoff like a 429 or a 5xx, a reset waits it out. Every password and URI is
registered for redaction the moment it is parsed, before any check that might
quote the answer. Neon allows 700 requests a minute with bursts of 40 a second
per route; the default client-side limit (11/s, burst 40) stays under both.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field, HttpUrl

from syncd.config.strict import Strict
from syncd.config.targets import PG_NAME
from syncd.core.models import ConnectionInfo, Target
from syncd.errors import ConfigError, ProviderResponseError
from syncd.net.ratelimit import TokenBucket
from syncd.net.untrusted import one_line
from syncd.providers import answers, neon_reset
from syncd.providers.base import ProviderFactory, TargetChecker, TargetKeys, TargetProblem
from syncd.providers.httpprovider import HttpProvider, HttpProviderConfig
from syncd.providers.neon_answers import RoleMissing, json_object, seg, status_error
from syncd.providers.neon_branches import (
    BRANCH_ID,
    BRANCH_LOOKUP_TIMEOUT,
    BRANCH_PAGE,
    BRANCH_TTL,
    MAX_BRANCH_PAGES,
    MAX_CURSOR_CHARS,
    Branches,
)
from syncd.providers.neon_reset import (
    LOCKED_ATTEMPTS,
    LOCKED_DELAY,
    MAX_OPERATIONS,
    OPERATION_DONE,
    OPERATION_FAILED,
    PasswordReset,
)

if TYPE_CHECKING:
    from pydantic import SecretStr
    from typing_extensions import Unpack

    from syncd.providers.httpprovider import HttpOptions

# The branch and reset limits are part of this provider's documented surface.
__all__ = [
    "BRANCH_ID",
    "BRANCH_LOOKUP_TIMEOUT",
    "BRANCH_PAGE",
    "BRANCH_TTL",
    "DEFAULT_BASE_URL",
    "DEFAULT_RATE",
    "LOCKED_ATTEMPTS",
    "LOCKED_DELAY",
    "MAX_BRANCH_PAGES",
    "MAX_BURST",
    "MAX_CURSOR_CHARS",
    "MAX_OPERATIONS",
    "OPERATION_DONE",
    "OPERATION_FAILED",
    "NeonConfig",
    "NeonProvider",
    "NeonTarget",
    "PasswordReset",
]

DEFAULT_BASE_URL = "https://console.neon.tech/api/v2"
#: Requests per second: Neon's 700/minute is 11.67/s.
DEFAULT_RATE = 11.0
#: Neon allows bursts of 40 requests per second per route.
MAX_BURST = 40


class NeonConfig(HttpProviderConfig):
    """The ``providers.<name>`` section for ``type: neon``."""

    type: Literal["neon"] = "neon"
    base_url: HttpUrl | None = Field(default=None, description=f"default: {DEFAULT_BASE_URL}")
    api_key_file: Path | None = Field(default=None, description="default: $NEON_API_KEY")
    rate_limit: float | None = Field(
        default=DEFAULT_RATE, gt=0, description="requests per second (bursts of up to 40)"
    )
    burst: float | None = Field(
        default=None, ge=1, le=MAX_BURST, description="default: 4 s worth of rate_limit, <= 40"
    )


class NeonTarget(Strict):
    """Neon's keys on a target: the Postgres database and role to connect as.

    Both are optional here so that a missing one is reported in Neon's words
    (:meth:`NeonProvider.check_target`); ``role`` is also the role rotation resets.
    """

    database: str | None = Field(default=None, pattern=PG_NAME)
    role: str | None = Field(default=None, pattern=PG_NAME)


class NeonProvider(HttpProvider):
    """Fetches connection URIs from Neon and resets role passwords. Thread-safe."""

    config_model: ClassVar[type[NeonConfig]] = NeonConfig
    target_model: ClassVar[type[NeonTarget]] = NeonTarget
    vendor = "Neon"
    key_env = "NEON_API_KEY"
    credential = "neon_api_key"
    default_base_url = DEFAULT_BASE_URL

    def __init__(
        self,
        name: str,
        *,
        api_key: SecretStr,
        branch_ttl: float = BRANCH_TTL,
        **options: Unpack[HttpOptions],
    ) -> None:
        options.setdefault("rate_limit", DEFAULT_RATE)
        super().__init__(name, api_key=api_key, **options)
        self._branches = Branches(self._api, self._clock, branch_ttl)

    @staticmethod
    def check_target(target: Target) -> TargetProblem | None:
        """Refuse a target without ``database`` or ``role``."""
        options = _options(target)
        for key, value in (("database", options.database), ("role", options.role)):
            if not value:
                return TargetProblem(
                    key, f"required for a neon target (the Postgres {key} to connect as)"
                )
        return None

    # -- the Provider protocol ---------------------------------------------

    def fetch(self, target: Target) -> ConnectionInfo:
        """The connection for ``target`` as its configured role; see :class:`Provider`."""
        return self.connection(target, role=_required(target, "role"))

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
            f"/projects/{seg(target.project)}/connection_uri",
            subject=f"the connection URI of {where}",
            params=params,
            status_error=lambda r, b: status_error(r, b, f"{where} database {database}"),
            context={"target": target.name},
        )
        body = json_object(raw, f"Neon connection_uri answer for {where}")
        uri = body.get("uri")
        if not isinstance(uri, str):
            raise ProviderResponseError(f"Neon connection_uri answer for {where} has no uri string")
        conn = answers.connection_of(self.name, uri, target, f"Neon connection URI for {where}")
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
        return neon_reset.reset_password(self._api, target, role, branch_id, deadline)

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
        neon_reset.wait_for_operations(
            self._api, project, operation_ids, deadline, clock=self._clock, sleep=self._sleep
        )

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
                f"/projects/{seg(target.project)}/branches/{seg(branch_id)}/roles/{seg(role)}",
                subject=f"{where}",
                status_error=lambda r, b: status_error(r, b, where, role_lookup=True),
                context={"target": target.name},
            )
        except RoleMissing:
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
        return self._branches.id_of(target, deadline)

    def _bucket(self, rate_limit: float | None, burst: float | None) -> TokenBucket:
        """Neon's limiter: without a burst, 4 s worth of requests, at most Neon's 40/s.

        At 11/s a cold start plus a full minute comes to 40 + 660 = 700, exactly
        Neon's per-minute quota.
        """
        if not rate_limit:
            return super()._bucket(None, None)
        return super()._bucket(rate_limit, burst or min(float(MAX_BURST), max(1.0, rate_limit * 4)))


#: mypy checks the plugin's shape here, as a third-party plugin author would.
_FACTORY: ProviderFactory[NeonConfig] = NeonProvider
_KEYS: TargetKeys = NeonProvider
_CHECKER: TargetChecker = NeonProvider
_NO_OPTIONS = NeonTarget()


def _options(target: Target) -> NeonTarget:
    return target.options if isinstance(target.options, NeonTarget) else _NO_OPTIONS


def _required(target: Target, key: Literal["database", "role"]) -> str:
    value = _options(target).database if key == "database" else _options(target).role
    if not value:
        raise ConfigError(f"target {target.name}: {key} is required for a neon target")
    return value
