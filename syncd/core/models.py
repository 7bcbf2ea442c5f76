"""The values that flow through a sync: targets, connections, documents, outcomes.

Credentials are held as :class:`pydantic.SecretStr` or behind ``repr=False``
so that printing, logging or ``repr()`` of any of these objects never shows one.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, SecretStr

from syncd.config.durations import DEFAULT_JITTER, JitterRule
from syncd.core import uri as grammar
from syncd.core.uri import DEFAULT_PORT, MAX_URI_LENGTH, SCHEMES, TLS_SSLMODES, InvalidConnectionURI

if TYPE_CHECKING:
    from syncd.core.fingerprint import Fingerprint
    from syncd.errors import SyncdError

# The grammar's names are re-exported: ConnectionInfo's users import them from here.
__all__ = [
    "DEFAULT_PORT",
    "MAX_URI_LENGTH",
    "ROLE_NAME",
    "SCHEMES",
    "TLS_SSLMODES",
    "Action",
    "ConnectionInfo",
    "Document",
    "InvalidConnectionURI",
    "Owner",
    "Rotation",
    "RotationMark",
    "RotationMode",
    "RotationOutcome",
    "SecretState",
    "SinkBinding",
    "SinkOutcome",
    "Target",
    "TargetOutcome",
]

@dataclass(frozen=True)
class SinkBinding:
    """Where one target's connection is written: a sink, a secret name, a format.

    ``keys`` (``(NAME, field)`` pairs) or ``preset`` (a name in
    :data:`syncd.core.formats.PRESETS`) replace the single URI of ``env`` and the
    RDS fields of ``json``; at most one of them is set.
    """

    sink: str
    secret: str
    format: str = "json"
    env_var: str = "DATABASE_URL"
    adopt: bool = False
    keys: tuple[tuple[str, str], ...] = ()
    preset: str | None = None


class RotationMode(enum.StrEnum):
    """How a target's credential changes: re-synced only, or rotated by syncd."""

    #: Re-sync whatever the provider hands out (no reset).
    REFRESH = "refresh"
    #: Reset the role's password, prove the new one, publish it.
    RESET = "reset"
    #: Two roles: reset the one not published, prove it, publish it (zero downtime).
    ALTERNATE = "alternate"


@dataclass(frozen=True)
class Rotation:
    """A target's ``rotation:``: its mode, period in seconds, and the roles it resets.

    ``role`` is the role the target connects as (its provider's ``role`` key,
    :class:`~syncd.providers.base.ConnectsAs`), set whenever the mode rotates;
    ``alternate_role`` is alternate mode's second role.
    """

    mode: RotationMode = RotationMode.REFRESH
    every: float = 30 * 86400.0
    alternate_role: str | None = None
    role: str | None = None

    @property
    def rotates(self) -> bool:
        """Whether syncd resets passwords for this target (reset or alternate)."""
        return self.mode is not RotationMode.REFRESH


@dataclass(frozen=True)
class Target:
    """One connection to keep in sync, and the secrets it feeds."""

    name: str
    provider: str
    project: str
    branch: str = "main"
    pooled: bool = False
    #: Seconds between regular runs in daemon mode (validated by the config).
    interval: float = 900.0
    #: The random delay added to each run, so a fleet of daemons drifts apart.
    jitter: JitterRule = DEFAULT_JITTER
    sinks: tuple[SinkBinding, ...] = ()
    #: The provider's own keys on this target (Neon: database and role), validated
    #: by its ``target_model`` (:class:`~syncd.providers.base.TargetKeys`); None when
    #: the provider has none.
    options: BaseModel | None = None
    #: Rotation by syncd (None: refresh only, today's behaviour).
    rotation: Rotation | None = None


@dataclass(frozen=True)
class ConnectionInfo:
    """A validated PostgreSQL connection, held as parts, never as the provider's text.

    Every part is checked when the object is built (whoever builds it), so a
    renderer can trust it: no control character anywhere, a host that is a DNS
    name or an IP address, a port in 1-65535, and TLS required by ``sslmode``.
    :attr:`uri` is rendered from the parts, so the URI and the separate fields
    can never disagree. ``params`` are the URI's query parameters in order.
    """

    host: str
    port: int
    username: str
    password: SecretStr
    dbname: str
    project: str
    branch: str
    pooled: bool
    params: tuple[tuple[str, str], ...] = field(default=(("sslmode", "require"),), repr=False)
    scheme: str = "postgresql"
    #: Whether :attr:`uri` names the port (the provider's URI did, or it is not 5432).
    port_in_uri: bool = True

    def __post_init__(self) -> None:
        grammar.check(
            scheme=self.scheme,
            host=self.host,
            port=self.port,
            username=self.username,
            password=self.password.get_secret_value(),
            dbname=self.dbname,
            params=self.params,
        )

    @property
    def uri(self) -> SecretStr:
        """The canonical URI: every part percent-encoded, rendered from the parts."""
        return SecretStr(
            grammar.render(
                scheme=self.scheme,
                username=self.username,
                password=self.password.get_secret_value(),
                host=self.host,
                port=self.port,
                port_in_uri=self.port_in_uri,
                dbname=self.dbname,
                params=self.params,
            )
        )

    @classmethod
    def parse(cls, uri: str, *, project: str, branch: str, pooled: bool) -> ConnectionInfo:
        """Validate ``uri`` and split it into its parts (:func:`syncd.core.uri.split`).

        Raises :class:`InvalidConnectionURI` unless the URI is ``postgres(ql)://``
        with a user, a password, a host, a database and ``sslmode`` requiring TLS,
        is at most :data:`MAX_URI_LENGTH` characters, and reads the same to every
        parser: no control character, whitespace or non-ASCII character, exactly
        one unencoded ``@``, no ``:`` in the user, no fragment, no repeated or
        malformed query parameter, valid percent-encoding.
        """
        scheme, host, port, port_in_uri, username, password, dbname, params = grammar.split(uri)
        return cls(
            host=host,
            port=port,
            username=username,
            password=SecretStr(password),
            dbname=dbname,
            project=project,
            branch=branch,
            pooled=pooled,
            params=params,
            scheme=scheme,
            port_in_uri=port_in_uri,
        )


@dataclass(frozen=True)
class Document:
    """A connection rendered for one sink binding.

    ``text`` is what string-valued stores (AWS, files) hold; ``fields`` is what
    key-value stores (Vault KV) hold. Both contain the credential, so neither is
    part of ``repr()``.
    """

    format: str
    text: str = field(repr=False)
    fields: dict[str, str | int | bool] = field(repr=False)


@dataclass(frozen=True)
class Owner:
    """Who manages a secret: one syncd deployment (``instance``) and one of its targets.

    Recorded as ``<instance>/<target>``. ``instance`` is None for secrets written
    by a syncd that recorded only the target; such a secret counts as owned by
    any instance's target of that name, and the next write records the full owner.
    """

    instance: str | None
    target: str

    def __str__(self) -> str:
        return f"{self.instance or '?'}/{self.target}"

    def encode(self) -> str:
        """The recorded form, ``<instance>/<target>`` (only for a full owner)."""
        return f"{self.instance}/{self.target}"

    @classmethod
    def decode(cls, text: str | None, *, legacy_target: str | None = None) -> Owner | None:
        """Parse :meth:`encode` output, else fall back to a target-only (older) record.

        A recorded owner that does not parse is kept whole as a foreign target
        name, so it never matches (and is refused) rather than being ignored.
        """
        if text:
            instance, sep, target = text.partition("/")
            if sep and instance and target:
                return cls(instance, target)
            return cls(text[:100], "?")
        if legacy_target:
            return cls(None, legacy_target)
        return None

    def accepts(self, writer: Owner) -> bool:
        """Whether ``writer`` may write a secret recorded as owned by ``self``."""
        return self.target == writer.target and self.instance in (None, writer.instance)


#: A Postgres role name as syncd records it: what Neon and the sinks' metadata both allow.
ROLE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}")
_MARK_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_MARK_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class RotationMark:
    """When syncd last published a rotated credential, and for which database role.

    Recorded next to the secret (AWS tags, Vault custom_metadata, the file
    sidecar), so a schedule survives restarts and needs no local state.
    ``rotated_at`` is normalised to UTC whole seconds; a naive datetime or a
    role that is not a plain role name is refused (ValueError).
    """

    rotated_at: datetime
    role: str

    def __post_init__(self) -> None:
        if self.rotated_at.tzinfo is None:
            raise ValueError("a rotation time must be timezone-aware")
        if not ROLE_NAME.fullmatch(self.role):
            raise ValueError("a rotated role must be 1-63 of A-Z a-z 0-9 _ . - (not first . -)")
        # Frozen: normalise through object.__setattr__, once, at construction.
        object.__setattr__(
            self, "rotated_at", self.rotated_at.astimezone(UTC).replace(microsecond=0)
        )

    def encode(self) -> tuple[str, str]:
        """The recorded form: ``('YYYY-MM-DDTHH:MM:SSZ', role)``."""
        return self.rotated_at.strftime(_MARK_TIME_FORMAT), self.role

    @classmethod
    def decode(cls, rotated_at: str | None, role: str | None) -> RotationMark | None:
        """Parse :meth:`encode` output; None when either part is missing or malformed.

        Metadata is hostile input: anything but the exact recorded shape
        (length, pattern, a real calendar time) reads as "no mark". A mark in
        the future decodes; whether to trust it is the caller's decision.
        """
        if not rotated_at or not role or not _MARK_TIME.fullmatch(rotated_at):
            return None
        if not ROLE_NAME.fullmatch(role):
            return None
        try:
            when = datetime.strptime(rotated_at, _MARK_TIME_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            return None
        return cls(when, role)


@dataclass(frozen=True)
class SecretState:
    """What a sink knows about a secret without reading its value.

    ``fingerprint`` is the fingerprint syncd recorded for the version that is
    current now; it is None when the current version was not written by syncd
    (drift) or nothing was recorded. ``version`` is the store's opaque id for
    the current version (used for check-and-set writes). ``owner`` is the
    deployment and target recorded as managing the secret (None: none recorded).
    ``rotation`` is the last rotation recorded on the secret (None: never
    rotated by syncd, or the record is malformed). ``pending`` is the id of a
    staged version consumers do not see yet (AWS: labelled ``AWSPENDING`` and
    not ``AWSCURRENT``); stores without a pending stage always report None.
    ``foreign_rotation`` says why another rotator manages the secret (AWS:
    rotation enabled, or an ``AWSPENDING`` syncd did not write); rotation then
    leaves the secret alone, and ``pending`` is None.
    """

    exists: bool
    managed: bool = False
    fingerprint: Fingerprint | None = None
    version: str | None = None
    owner: Owner | None = None
    rotation: RotationMark | None = None
    pending: str | None = None
    foreign_rotation: str | None = None

    @classmethod
    def missing(cls) -> SecretState:
        """The state of a secret that does not exist yet."""
        return cls(exists=False)


class Action(enum.StrEnum):
    """What a cycle does, or would do, to one secret."""

    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    DRIFT = "drift"
    #: A rotation published a new credential (reported only; sinks are asked to update).
    ROTATE = "rotate"


@dataclass(frozen=True)
class SinkOutcome:
    """The result of syncing one target into one sink binding."""

    target: str
    sink: str
    secret: str
    action: Action | None
    written: bool = False
    error: SyncdError | None = None

    @property
    def ok(self) -> bool:
        """Whether this binding is in sync (or would be, in a dry run)."""
        return self.error is None


@dataclass(frozen=True)
class RotationOutcome:
    """What a rotation did to one target in one run (the report's ``rotation``).

    ``role`` is the role the sinks publish now; ``reset_role`` the role whose
    password this run reset (None when it reset nothing: it finished a
    rotation another run had started, ``resumed``); ``window_s`` the seconds
    from the reset to the last sink published (None without a reset).
    """

    mode: RotationMode
    role: str
    reset_role: str | None = None
    window_s: float | None = None
    resumed: bool = False


@dataclass(frozen=True)
class TargetOutcome:
    """The result of one target in one cycle."""

    target: str
    sinks: tuple[SinkOutcome, ...] = ()
    error: SyncdError | None = None
    rotation: RotationOutcome | None = None

    @property
    def ok(self) -> bool:
        """Whether the fetch and every sink binding succeeded."""
        return self.error is None and all(s.ok for s in self.sinks)
