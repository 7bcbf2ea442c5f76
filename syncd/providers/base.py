"""The provider interface.

A provider turns a :class:`~syncd.models.Target` into a validated
:class:`~syncd.models.ConnectionInfo`. Providers are discovered through the
``syncd.providers`` entry-point group; the value of an entry point is a class
(or any object) matching :class:`ProviderFactory`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel

from syncd.models import ConnectionInfo, Target


@runtime_checkable
class Provider(Protocol):
    """Fetches connection strings for targets. Must be safe to call from several threads."""

    def fetch(self, target: Target) -> ConnectionInfo:
        """Return the current connection for ``target``.

        Raises:
            ProviderAuthError: the credentials were refused; fix the config.
            ProviderNotFound: the project or branch does not exist; fix the config.
            ProviderResponseError: the answer cannot be trusted; nothing is written.
            ProviderUnavailable: transient; the caller retries later.

        """
        ...

    def close(self) -> None:
        """Release connections; the provider is not used afterwards."""
        ...


class ProviderFactory(Protocol):
    """What a ``syncd.providers`` entry point must point at."""

    #: Validates the provider's section of the config (``extra="forbid"``).
    config_model: ClassVar[type[BaseModel]]

    @classmethod
    def from_config(cls, name: str, config: Any) -> Provider:
        """Build a provider from its validated config section; may raise ConfigError."""
        ...
