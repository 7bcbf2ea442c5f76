"""In-memory stand-ins for a provider and a sink, for fast tests of code around syncd.

:class:`MemorySink` follows the same rules as the real sinks (it passes
:class:`~syncd.testing.contract.SinkContract`), so a test written against it
means the same thing against AWS or Vault.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import ClassVar

from syncd.errors import ProviderNotFound, SinkConflict
from syncd.fingerprint import Fingerprint
from syncd.models import ConnectionInfo, Owner, SecretState, Target
from syncd.sinks.base import (
    MANAGED_BY_KEY,
    MANAGED_BY_VALUE,
    OWNER_KEY,
    TARGET_KEY,
    SinkFactory,
    WriteRequest,
)
from syncd.strict import PluginConfig


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


@dataclass
class _Stored:
    text: str
    version: int
    meta: dict[str, str] = field(default_factory=dict)


class MemorySinkConfig(PluginConfig):
    """Config of :class:`MemorySink` (it has no options)."""

    type: str = "memory"


class MemorySink:
    """A versioned in-memory store with check-and-set writes, like Vault KV v2."""

    config_model: ClassVar[type[MemorySinkConfig]] = MemorySinkConfig

    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self.secrets: dict[str, _Stored] = {}
        self.writes = 0
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
        recorded = Fingerprint.decode(stored.meta.get("fingerprint"))
        if stored.meta.get("version") != str(stored.version):
            recorded = None
        meta = stored.meta
        return SecretState(
            exists=True,
            managed=meta.get(MANAGED_BY_KEY) == MANAGED_BY_VALUE,
            fingerprint=recorded,
            version=str(stored.version),
            owner=Owner.decode(meta.get(OWNER_KEY), legacy_target=meta.get(TARGET_KEY)),
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
                {
                    MANAGED_BY_KEY: MANAGED_BY_VALUE,
                    TARGET_KEY: request.target,
                    OWNER_KEY: request.owner.encode(),
                    "fingerprint": request.fingerprint.encode(),
                    "version": str(version),
                },
            )
            self.writes += 1
        return str(version)

    def put_foreign(self, secret: str, text: str) -> None:
        """Write as someone other than syncd would (keeps existing metadata)."""
        with self._lock:
            current = self.secrets.get(secret)
            meta = dict(current.meta) if current else {}
            self.secrets[secret] = _Stored(text, next(self._versions), meta)

    def close(self) -> None:
        """Nothing to release."""


#: mypy checks the plugin's shape here, as a third-party plugin author would.
_FACTORY: SinkFactory[MemorySinkConfig] = MemorySink
