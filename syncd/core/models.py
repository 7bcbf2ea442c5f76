"""The values that flow through a sync: targets, connections, documents, outcomes.

Credentials are held as :class:`pydantic.SecretStr` or behind ``repr=False``
so that printing, logging or ``repr()`` of any of these objects never shows one.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

from pydantic import SecretStr

from syncd.config.durations import DEFAULT_JITTER, JitterRule

if TYPE_CHECKING:
    from syncd.core.fingerprint import Fingerprint
    from syncd.errors import SyncdError

#: sslmode values that refuse an unencrypted connection.
TLS_SSLMODES = frozenset({"require", "verify-ca", "verify-full"})
DEFAULT_PORT = 5432


class InvalidConnectionURI(ValueError):
    """A connection URI is unusable; the message never contains the URI."""


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
    """A target's ``rotation:``: its mode, period in seconds, and alternate mode's second role."""

    mode: RotationMode = RotationMode.REFRESH
    every: float = 30 * 86400.0
    alternate_role: str | None = None

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
    #: The database and role to connect as, for providers that need them (Neon).
    database: str | None = None
    role: str | None = None
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
        _check_parts(self)

    @property
    def uri(self) -> SecretStr:
        """The canonical URI: every part percent-encoded, rendered from the parts."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port_in_uri or self.port != DEFAULT_PORT else ""
        query = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in self.params)
        return SecretStr(
            f"{self.scheme}://{_enc(self.username)}:{_enc(self.password.get_secret_value())}"
            f"@{host}{port}/{_enc(self.dbname)}?{query}"
        )

    @classmethod
    def parse(cls, uri: str, *, project: str, branch: str, pooled: bool) -> ConnectionInfo:
        """Validate ``uri`` and split it into its parts.

        Raises :class:`InvalidConnectionURI` unless the URI is ``postgres(ql)://``
        with a user, a password, a host, a database and ``sslmode`` requiring TLS,
        is at most :data:`MAX_URI_LENGTH` characters, and reads the same to every
        parser: no control character, whitespace or non-ASCII character, exactly
        one unencoded ``@``, no ``:`` in the user, no fragment, no repeated or
        malformed query parameter, valid percent-encoding.
        """
        if len(uri) > MAX_URI_LENGTH:
            raise InvalidConnectionURI(f"connection URI is longer than {MAX_URI_LENGTH} characters")
        if _CONTROL.search(uri):
            raise InvalidConnectionURI("connection URI contains a control character")
        scheme, sep, rest = uri.partition("://")
        if not sep or scheme not in SCHEMES:
            raise InvalidConnectionURI("connection URI is not a postgres:// or postgresql:// URI")
        if not rest.isascii() or " " in rest:
            raise InvalidConnectionURI("connection URI contains a space or a non-ASCII character")
        if "#" in rest:
            raise InvalidConnectionURI("connection URI has a fragment (an unencoded '#')")
        authority, query_sep, query = rest.partition("?")
        authority, path_sep, path = authority.partition("/")
        if authority.count("@") > 1 or "@" in path or "@" in query:
            raise InvalidConnectionURI(
                "connection URI has an unencoded '@' (ambiguous user information)"
            )
        userinfo, at, hostport = authority.rpartition("@")
        user, _, password = userinfo.partition(":")
        host, port_text, port_given = _split_hostport(hostport)
        missing = [
            name
            for name, value in (
                ("user", at and user),
                ("password", at and password),
                ("host", host),
                ("database", path_sep and path),
            )
            if not value
        ]
        if missing:
            raise InvalidConnectionURI(f"connection URI has no {', '.join(missing)}")
        params = _parse_query(query) if query_sep else ()
        return cls(
            host=host.lower(),
            port=_parse_port(port_text) if port_given else DEFAULT_PORT,
            username=_decode(user, "user", _USERINFO),
            password=SecretStr(_decode(password, "password", _PASSWORD)),
            dbname=_decode(path, "database", _PATH),
            project=project,
            branch=branch,
            pooled=pooled,
            params=params,
            scheme=scheme,
            port_in_uri=port_given,
        )


#: The longest connection URI syncd accepts from a provider.
MAX_URI_LENGTH = 4096
SCHEMES = frozenset({"postgres", "postgresql"})
# C0 controls, DEL and the C1 controls: any of them could end a line or a field.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# What RFC 3986 allows unencoded, per part; the user gets no ':' (the first ':'
# ends it) and the database no '/'.
_PCT = r"%[0-9A-Fa-f]{2}"
_UNRESERVED_SUBDELIMS = r"[A-Za-z0-9\-._~!$&'()*+,;=]"
_USERINFO = re.compile(rf"(?:{_UNRESERVED_SUBDELIMS}|{_PCT})*")
_PATH = re.compile(rf"(?:{_UNRESERVED_SUBDELIMS}|{_PCT}|:)*")
_PASSWORD = _PATH
_QUERY_PART = re.compile(rf"(?:[A-Za-z0-9\-._~!$'()*+,;:/?]|{_PCT})*")
_PARAM_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")
_DNS_NAME = re.compile(
    r"(?=.{1,253}\.?\Z)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?"
)
_SSLMODE_WORD = re.compile(r"[a-z-]{1,16}")
_MAX_PORT = 65535


def _enc(value: str) -> str:
    return quote(value, safe="")


def _split_hostport(hostport: str) -> tuple[str, str, bool]:
    """Split ``host[:port]`` or ``[v6][:port]``; the host keeps no brackets."""
    if hostport.startswith("["):
        host, bracket, rest = hostport[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise InvalidConnectionURI("connection URI cannot be parsed: malformed IPv6 host")
        return host, rest[1:], bool(rest)
    host, colon, port = hostport.partition(":")
    return host, port, bool(colon)


def _parse_port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= _MAX_PORT:
        raise InvalidConnectionURI("connection URI cannot be parsed: invalid port (need 1-65535)")
    return int(text)


def _decode(raw: str, part: str, allowed: re.Pattern[str]) -> str:
    """Percent-decode one part, refusing characters its grammar does not allow."""
    if not allowed.fullmatch(raw):
        raise InvalidConnectionURI(
            f"connection URI has a character not allowed in the {part} "
            "(not percent-encoded, or a broken %-escape)"
        )
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise InvalidConnectionURI(f"connection URI's {part} is not UTF-8 once decoded") from None


def _parse_query(query: str) -> tuple[tuple[str, str], ...]:
    """Parse ``k=v&k=v`` the way libpq does: no '+' for space, no repeats."""
    params: list[tuple[str, str]] = []
    for item in query.split("&"):
        key, eq, value = item.partition("=")
        if not eq:
            raise InvalidConnectionURI("connection URI has a query parameter without '='")
        params.append(
            (
                _decode(key, "query parameter names", _QUERY_PART),
                _decode(value, "query parameter values", _QUERY_PART),
            )
        )
    return tuple(params)


def _check_parts(conn: ConnectionInfo) -> None:
    """Refuse parts that no renderer could write safely, or that do not require TLS."""
    if conn.scheme not in SCHEMES:
        raise InvalidConnectionURI("connection URI is not a postgres:// or postgresql:// URI")
    _check_host(conn.host)
    if not 1 <= conn.port <= _MAX_PORT:
        raise InvalidConnectionURI("connection URI has an invalid port (need 1-65535)")
    for part, value in (
        ("user", conn.username),
        ("password", conn.password.get_secret_value()),
        ("database", conn.dbname),
    ):
        if not value:
            raise InvalidConnectionURI(f"connection URI has no {part}")
        if _CONTROL.search(value):
            raise InvalidConnectionURI(f"connection URI's {part} contains a control character")
    seen: set[str] = set()
    for key, value in conn.params:
        if not _PARAM_KEY.fullmatch(key):
            raise InvalidConnectionURI(
                "connection URI has a query parameter name that is not a libpq keyword "
                "(lower-case letters, digits, '_')"
            )
        if key in seen:
            raise InvalidConnectionURI(f"connection URI repeats the query parameter {key}")
        seen.add(key)
        if _CONTROL.search(value):
            raise InvalidConnectionURI(
                f"connection URI's query parameter {key} contains a control character"
            )
    sslmode = dict(conn.params).get("sslmode", "")
    if sslmode not in TLS_SSLMODES:
        shown = sslmode if _SSLMODE_WORD.fullmatch(sslmode) else "unset" if not sslmode else "?"
        raise InvalidConnectionURI(
            f"connection URI does not require TLS (sslmode={shown}; need one of "
            f"{', '.join(sorted(TLS_SSLMODES))})"
        )


def _check_host(host: str) -> None:
    if ":" in host:
        if "%" in host:  # a zone id means nothing off this machine
            raise InvalidConnectionURI("connection URI cannot be parsed: malformed IPv6 host")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise InvalidConnectionURI(
                "connection URI cannot be parsed: malformed IPv6 host"
            ) from None
    elif not _DNS_NAME.fullmatch(host):
        raise InvalidConnectionURI(
            "connection URI has an invalid host (need a DNS name or an IP address)"
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
