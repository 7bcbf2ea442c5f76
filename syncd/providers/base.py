"""The provider interface.

A provider turns a :class:`~syncd.core.models.Target` into a validated
:class:`~syncd.core.models.ConnectionInfo`. Providers are discovered through the
``syncd.providers`` entry-point group; the value of an entry point is a class
(or any object) matching :class:`ProviderFactory`, which :mod:`syncd.plugins`
checks when it loads the plugin. A plugin author lets mypy check it too::

    factory: ProviderFactory[MyConfig] = MyProvider  # MyConfig subclasses PluginConfig

``syncd.testing.contract.ProviderContract`` is the test suite every provider
passes. A third-party plugin imports all of this from :mod:`syncd.plugin`.
"""

from __future__ import annotations

from typing import Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel

from syncd.core.models import ConnectionInfo, Target

#: The plugin's config model; usually a :class:`~syncd.config.strict.PluginConfig`.
ConfigT = TypeVar("ConfigT", bound=BaseModel)


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


class ResetStarted(Protocol):
    """What a password reset answered that rotation needs: the operations to wait for."""

    @property
    def operation_ids(self) -> tuple[str, ...]:
        """The provider-side operations that must finish before the new password works."""
        ...


@runtime_checkable
class Rotator(Protocol):
    """Optional for providers: reset role passwords, so syncd can rotate (Neon has it).

    :mod:`syncd.core.rotation` drives it; a target with ``rotation.mode`` reset or
    alternate is refused at config load unless its provider's class offers
    these methods. Errors are the :class:`Provider` ones.
    """

    def connection(self, target: Target, *, role: str) -> ConnectionInfo:
        """The connection for ``target`` as ``role`` (what the provider hands out now)."""
        ...

    def reset_password(
        self, target: Target, role: str, *, deadline: float | None = None
    ) -> ResetStarted:
        """Start a reset of ``role``'s password; the new one works once its operations end.

        A provider may wait for the project to accept the reset (Neon's 423
        Locked); ``deadline``, a ``time.monotonic()`` instant, bounds the call:
        no attempt or wait goes past it, and ProviderUnavailable is raised
        instead. Without one, the provider's own bounds apply.
        """
        ...

    def wait_for_operations(
        self, project: str, operation_ids: tuple[str, ...] | list[str], deadline: float
    ) -> None:
        """Return when every operation finished; ``deadline`` is a ``time.monotonic()`` instant.

        Raises ProviderOperationFailed (an operation failed) or ProviderUnavailable
        (the deadline passed).
        """
        ...

    def role_exists(self, target: Target, role: str) -> bool:
        """Whether ``role`` exists on ``target``'s branch."""
        ...


@runtime_checkable
class ProviderFactory(Protocol[ConfigT]):
    """What a ``syncd.providers`` entry point must point at (usually the provider class).

    Written as the members of the class object: a ``ClassVar`` and classmethods
    of the class satisfy them.
    """

    @property
    def config_model(self) -> type[ConfigT]:
        """Validates the provider's section of the config (``extra="forbid"``)."""
        ...

    def from_config(self, name: str, config: ConfigT) -> Provider:
        """Build a provider from its validated config section; may raise ConfigError."""
        ...
