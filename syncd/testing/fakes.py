"""In-memory stand-ins for a provider and a sink, for fast tests of code around syncd.

:class:`MemorySink` follows the same rules as the real sinks (it passes
:class:`~syncd.testing.contract.SinkContract`), so a test written against it
means the same thing against AWS or Vault. It is also a
:class:`~syncd.sinks.base.Stager` with the semantics of the AWS sink's version
stages, so rotation logic can be tested against it.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import ClassVar

from syncd.config.strict import PluginConfig
from syncd.core.lease import Lease, Record
from syncd.core.models import ConnectionInfo, SecretState, Target
from syncd.errors import ProviderNotFound, SinkConflict
from syncd.sinks.base import SinkFactory, WriteRequest
from syncd.sinks.metadata import MetadataCodec


class StaticProvider:
    """Answers each ``(project, branch, pooled)`` with a URI set by the test."""

    def __init__(self, uris: dict[tuple[str, str, bool], str] | None = None) -> None:
        self.uris = dict(uris or {})
        self.calls = 0

    def fetch(self, target: Target) -> ConnectionInfo:
        """Return the configured URI, validated like a real provider's answer."""
        self.calls += 1
        try:
            uri = self.uris[(target.project, target.branch, target.pooled)]
        except KeyError:
            raise ProviderNotFound(
                f"project {target.project} branch {target.branch} not found"
            ) from None
        return ConnectionInfo.parse(
            uri, project=target.project, branch=target.branch, pooled=target.pooled
        )

    def close(self) -> None:
        """Nothing to release."""


#: Metadata keys of the rotation mark in :class:`MemorySink`.
ROTATED_AT_KEY = "rotated_at"
ROLE_KEY = "role"
#: The metadata of each version: the fingerprint counts while ``version`` is the current one.
_CODEC = MetadataCodec(
    fingerprint="fingerprint", rotated_at=ROTATED_AT_KEY, role=ROLE_KEY, written="version"
)


@dataclass(frozen=True)
class _Staged:
    text: str
    version: int
    fingerprint: str


@dataclass
class _Stored:
    text: str
    version: int
    meta: dict[str, str] = field(default_factory=dict)
    pending: _Staged | None = None
    previous: str | None = None


class MemorySinkConfig(PluginConfig):
    """Config of :class:`MemorySink` (it has no options)."""

    type: str = "memory"


class MemorySink:
    """A versioned in-memory store with check-and-set writes, like Vault KV v2.

    Staging follows AWS's version stages: one pending version at most, which
    consumers (:meth:`read`) do not see until :meth:`promote`; a plain write
    leaves a pending version alone, as ``PutSecretValue`` does. The rotation
    lease (:class:`~syncd.sinks.base.Leaser`) is kept per secret in
    :attr:`leases`.
    """

    config_model: ClassVar[type[MemorySinkConfig]] = MemorySinkConfig

    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self.secrets: dict[str, _Stored] = {}
        self.writes = 0
        self.leases: dict[str, Record] = {}
        #: Secrets another rotator manages, with the reason inspect reports.
        self.foreign: dict[str, str] = {}
        self._versions = itertools.count(1)
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, name: str, config: MemorySinkConfig) -> MemorySink:
        """Build an empty store."""
        return cls(name)

    @classmethod
    def validate_secret_name(cls, secret: str) -> None:
        """Accept any non-empty name."""
        if not secret:
            raise ValueError("empty secret name")

    def inspect(self, secret: str) -> SecretState:
        """Report ownership and owner, and the fingerprint only for versions syncd wrote."""
        with self._lock:
            stored = self.secrets.get(secret)
        if stored is None:
            return SecretState.missing()
        return _CODEC.decode(
            stored.meta,
            version=str(stored.version),
            pending=str(stored.pending.version) if stored.pending else None,
            foreign_rotation=self.foreign.get(secret),
        )

    def write(self, request: WriteRequest) -> str | None:
        """Check-and-set against the observed version, then record ownership."""
        with self._lock:
            current = self.secrets.get(request.secret)
            current_version = str(current.version) if current else None
            if current_version != request.observed.version:
                raise SinkConflict(f"memory sink: {request.secret} changed since it was inspected")
            version = next(self._versions)
            self.secrets[request.secret] = _Stored(
                request.document.text,
                version,
                _CODEC.encode(request, current.meta if current else {}, version=str(version)),
                pending=current.pending if current else None,
                previous=current.text if current else None,
            )
            self.writes += 1
        return str(version)

    def stage(self, request: WriteRequest) -> str:
        """Add a pending version of an existing secret (the same one again for the same request)."""
        with self._lock:
            current = self._unchanged(request)
            staged = current.pending
            fingerprint = request.fingerprint.encode()
            if staged is None or (staged.fingerprint, staged.text) != (
                fingerprint,
                request.document.text,
            ):
                staged = _Staged(request.document.text, next(self._versions), fingerprint)
                current.pending = staged
            return str(staged.version)

    def promote(self, request: WriteRequest, version: str) -> None:
        """Make the staged ``version`` current, recording owner, fingerprint and mark."""
        with self._lock:
            current = self._unchanged(request)
            staged = current.pending
            if staged is None or str(staged.version) != version:
                raise SinkConflict(
                    f"memory sink: version {version} of {request.secret} is not staged"
                )
            self.secrets[request.secret] = _Stored(
                staged.text,
                staged.version,
                _CODEC.encode(request, current.meta, version=str(staged.version)),
                previous=current.text,
            )
            self.writes += 1

    def discard(self, secret: str, version: str) -> None:
        """Drop the pending version ``version``; nothing to do if it is gone already."""
        with self._lock:
            current = self.secrets.get(secret)
            if current and current.pending and str(current.pending.version) == version:
                current.pending = None

    def read(self, secret: str) -> str | None:
        """What a consumer reads: the current version's text (None: no such secret)."""
        with self._lock:
            stored = self.secrets.get(secret)
            return stored.text if stored else None

    def _unchanged(self, request: WriteRequest) -> _Stored:
        current = self.secrets.get(request.secret)
        if current is None or str(current.version) != request.observed.version:
            raise SinkConflict(f"memory sink: {request.secret} changed since it was inspected")
        return current

    def put_foreign(self, secret: str, text: str) -> None:
        """Write as someone other than syncd would (keeps existing metadata)."""
        with self._lock:
            current = self.secrets.get(secret)
            meta = dict(current.meta) if current else {}
            pending = current.pending if current else None
            previous = current.text if current else None
            self.secrets[secret] = _Stored(text, next(self._versions), meta, pending, previous)

    def read_lease(self, secret: str) -> Record | None:
        """The lease recorded for ``secret`` (a counter is its compare-and-set token)."""
        with self._lock:
            return self.leases.get(secret)

    def take_lease(self, secret: str, lease: Lease, replacing: Record | None) -> Record:
        """Record ``lease`` if ``replacing`` is still what is recorded."""
        with self._lock:
            if self.leases.get(secret) != replacing:
                raise SinkConflict(f"memory sink: the lease of {secret} changed")
            record = Record(str(next(self._versions)), lease)
            self.leases[secret] = record
            return record

    def release_lease(self, secret: str, held: Record) -> None:
        """Forget ``held`` if it is still recorded."""
        with self._lock:
            if self.leases.get(secret) == held:
                del self.leases[secret]

    def put_raw_mark(self, secret: str, rotated_at: str, role: str) -> None:
        """Record rotation metadata as given, as a hostile editor of the store could."""
        with self._lock:
            self.secrets[secret].meta.update({ROTATED_AT_KEY: rotated_at, ROLE_KEY: role})

    def close(self) -> None:
        """Nothing to release."""


#: mypy checks the plugin's shape here, as a third-party plugin author would.
_FACTORY: SinkFactory[MemorySinkConfig] = MemorySink

