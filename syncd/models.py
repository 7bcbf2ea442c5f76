"""The values that flow through a sync: targets, connections, documents, outcomes.

Credentials are held as :class:`pydantic.SecretStr` or behind ``repr=False``
so that printing, logging or ``repr()`` of any of these objects never shows one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import SecretStr

if TYPE_CHECKING:
    from syncd.errors import SyncdError
    from syncd.fingerprint import Fingerprint

#: sslmode values that refuse an unencrypted connection.
TLS_SSLMODES = frozenset({"require", "verify-ca", "verify-full"})
DEFAULT_PORT = 5432


class InvalidConnectionURI(ValueError):
    """A connection URI is unusable; the message never contains the URI."""


@dataclass(frozen=True)
class SinkBinding:
    """Where one target's connection is written: a sink, a secret name, a format."""

    sink: str
    secret: str
    format: str = "json"
    env_var: str = "DATABASE_URL"
    adopt: bool = False


@dataclass(frozen=True)
class Target:
    """One connection to keep in sync, and the secrets it feeds."""

    name: str
    provider: str
    project: str
    branch: str = "main"
    pooled: bool = False
    interval: float = 900.0
    sinks: tuple[SinkBinding, ...] = ()


@dataclass(frozen=True)
class ConnectionInfo:
    """A validated PostgreSQL connection, as a provider handed it out."""

    uri: SecretStr
    host: str
    port: int
    username: str
    password: SecretStr
    dbname: str
    project: str
    branch: str
    pooled: bool

    @classmethod
    def parse(cls, uri: str, *, project: str, branch: str, pooled: bool) -> ConnectionInfo:
        """Validate ``uri`` and split it into its parts.

        Raises :class:`InvalidConnectionURI` unless the URI is ``postgres(ql)://``
        with a user, a password, a host, a database and ``sslmode`` requiring TLS.
        """
        try:
            parts = urlsplit(uri)
            port = parts.port
        except ValueError:
            raise InvalidConnectionURI("connection URI cannot be parsed") from None
        if parts.scheme not in ("postgres", "postgresql"):
            raise InvalidConnectionURI("connection URI is not a postgres:// or postgresql:// URI")
        missing = [
            name
            for name, value in (
                ("user", parts.username),
                ("password", parts.password),
                ("host", parts.hostname),
                ("database", parts.path.lstrip("/")),
            )
            if not value
        ]
        if missing:
            raise InvalidConnectionURI(f"connection URI has no {', '.join(missing)}")
        sslmode = parse_qs(parts.query).get("sslmode", [""])[-1]
        if sslmode not in TLS_SSLMODES:
            shown = sslmode or "unset"
            raise InvalidConnectionURI(
                f"connection URI does not require TLS (sslmode={shown}; need one of "
                f"{', '.join(sorted(TLS_SSLMODES))})"
            )
        assert parts.username is not None  # noqa: S101 - narrowed by the check above
        assert parts.password is not None  # noqa: S101
        assert parts.hostname is not None  # noqa: S101
        return cls(
            uri=SecretStr(uri),
            host=parts.hostname,
            port=port or DEFAULT_PORT,
            username=unquote(parts.username),
            password=SecretStr(unquote(parts.password)),
            dbname=unquote(parts.path.lstrip("/")),
            project=project,
            branch=branch,
            pooled=pooled,
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


@dataclass(frozen=True)
class SecretState:
    """What a sink knows about a secret without reading its value.

    ``fingerprint`` is the fingerprint syncd recorded for the version that is
    current now; it is None when the current version was not written by syncd
    (drift) or nothing was recorded. ``version`` is the store's opaque id for
    the current version (used for check-and-set writes). ``owner`` is the
    deployment and target recorded as managing the secret (None: none recorded).
    """

    exists: bool
    managed: bool = False
    fingerprint: Fingerprint | None = None
    version: str | None = None
    owner: Owner | None = None

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
class TargetOutcome:
    """The result of one target in one cycle."""

    target: str
    sinks: tuple[SinkOutcome, ...] = ()
    error: SyncdError | None = None

    @property
    def ok(self) -> bool:
        """Whether the fetch and every sink binding succeeded."""
        return self.error is None and all(s.ok for s in self.sinks)
