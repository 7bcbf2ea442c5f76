"""The provider interface.

A provider turns a :class:`~syncd.core.models.Target` into a validated
:class:`~syncd.core.models.ConnectionInfo`. Providers are discovered through the
``syncd.providers`` entry-point group; the value of an entry point is a class
(or any object) matching :class:`ProviderFactory`, which :mod:`syncd.plugins`
checks when it loads the plugin. A plugin author lets mypy check it too::

    factory: ProviderFactory[MyConfig] = MyProvider  # MyConfig subclasses PluginConfig

A provider that needs keys of its own on a target (Neon: ``database``,
``role``) declares their model (:class:`TargetKeys`); the config validates them
with it and hands the result to the provider as :attr:`Target.options
<syncd.core.models.Target.options>`. A provider that must refuse some targets
at config load says why through :class:`TargetChecker`.

``syncd.testing.contract.ProviderContract`` is the test suite every provider
passes. A third-party plugin imports all of this from :mod:`syncd.plugin`.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@runtime_checkable
class TargetKeys(Protocol):
    """Optional for provider factories: keys of their own on a target (Neon: database, role).

    The keys stand on the target beside the core ones (``name``, ``project``,
    ...); the config validates them with :attr:`target_model` (a frozen model
    with ``extra="forbid"``, every field optional: what is required is
    :class:`TargetChecker`'s to say) and sets :attr:`Target.options
    <syncd.core.models.Target.options>` to the result.
    """

    @property
    def target_model(self) -> type[BaseModel]:
        """The model of the provider's keys on a target."""
        ...


@runtime_checkable
class ConnectsAs(Protocol):
    """Target options naming the database role a target connects as: the role rotation resets.

    A rotating target needs one; alternate mode's second role defaults to ``<role>_b``.
    """

    @property
    def role(self) -> str | None:
        """The role's name, or None when the target does not name one."""
        ...


@dataclass(frozen=True)
class TargetProblem:
    """Why a provider cannot serve a target: the target's key at fault, and what is wrong.

    The config reports it as ``targets.<i>.<key>: <message>`` at the key's line.
    """

    key: str
    message: str


@runtime_checkable
class TargetChecker(Protocol):
    """Optional for provider factories: refuse, at config load, a target they cannot serve."""

    def check_target(self, target: Target) -> TargetProblem | None:
        """The first problem with ``target`` (say, a key this provider needs), or None."""
        ...
