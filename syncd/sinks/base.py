"""The sink interface.

A sink stores rendered documents under secret names. It never decides *what*
to do — the engine compares the fingerprint a sink reports with the value it
just fetched and asks for a write only when needed (see :mod:`syncd.core.engine`).
That keeps every sink small and every sink's rules identical.

Sinks are discovered through the ``syncd.sinks`` entry-point group; the value
of an entry point is a class (or any object) matching :class:`SinkFactory`,
which :mod:`syncd.plugins` checks when it loads the plugin. A plugin author
lets mypy check it too::

    factory: SinkFactory[MyConfig] = MySink  # MyConfig subclasses PluginConfig

Capabilities beyond :class:`Sink` are optional Protocols of their own
(:class:`Preflight`, :class:`Stager`, :class:`Leaser`): ``syncd check`` asks
``isinstance(sink, Preflight)``, so a sink offers one by implementing its
methods, and no sink must implement all.
``syncd.testing.contract.SinkContract`` is the test suite every sink passes.
A third-party plugin imports all of this from :mod:`syncd.plugin`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from syncd.core.fingerprint import Fingerprint
from syncd.core.lease import Lease, Record
from syncd.core.models import Action, Document, Owner, RotationMark, SecretState
from syncd.providers.base import ConfigT

#: Ownership markers every sink records next to a secret it manages.
MANAGED_BY_KEY = "managed-by"
MANAGED_BY_VALUE = "syncd"
TARGET_KEY = "syncd:target"
#: ``<instance>/<target>`` (see :class:`~syncd.core.models.Owner`); stores name the key their way.
OWNER_KEY = "syncd:owner"
#: The ``instance`` of a configuration that does not set one.
DEFAULT_INSTANCE = "default"
#: The most workers a config may run at once (``concurrency``). A sink that keeps
#: a connection pool sizes it for one connection per worker: urllib3 keeps 10 by
#: default and, past that, warns about every connection it discards.
MAX_CONCURRENCY = 256


@dataclass(frozen=True)
class WriteRequest:
    """Everything a sink needs to write one document.

    ``observed`` is the state :meth:`Sink.inspect` returned; stores that
    support it use ``observed.version`` for a check-and-set write so that a
    concurrent writer is detected (:class:`~syncd.errors.SinkConflict`) rather
    than clobbered. ``fingerprint`` must be recorded with the new version so
    the next :meth:`Sink.inspect` can report it, and so must :attr:`owner`
    (the engine already checked that this writer may take the secret).
    ``rotation``, when set, is recorded with the value like the owner; when
    None the sink keeps whatever mark the secret has (a refresh or a drift
    repair must not erase the rotation history).
    """

    target: str
    secret: str
    document: Document = field(repr=False)
    fingerprint: Fingerprint = field(repr=False)
    observed: SecretState
    action: Action
    instance: str = DEFAULT_INSTANCE
    rotation: RotationMark | None = None

    @property
    def owner(self) -> Owner:
        """The owner to record: this deployment's instance and the target."""
        return Owner(self.instance, self.target)


@runtime_checkable
class Sink(Protocol):
    """A secret store. Must be safe to call from several threads."""

    def inspect(self, secret: str) -> SecretState:
        """Describe ``secret`` without reading its value.

        Returns :meth:`SecretState.missing` for a secret that does not exist,
        else ownership, the recorded owner and the fingerprint of the current
        version (if syncd wrote it). A sink reports; the engine decides.
        Raises :class:`~syncd.errors.SinkAuthError` when syncd may not look,
        :class:`~syncd.errors.SinkUnavailable` when the store cannot answer.
        """
        ...

    def write(self, request: WriteRequest) -> str | None:
        """Write ``request.document`` as the new current version; return its version id.

        Creates the secret (marked as managed by syncd, with ``request.owner``)
        when it does not exist, and marks an adopted or taken-over one. A write
        is all-or-nothing: on any error the secret still holds a complete
        earlier version. Retrying a failed write with the same request must not
        create two versions.

        Raises :class:`~syncd.errors.SinkConflict` when the secret changed
        since ``request.observed`` (retried next cycle), and the other
        :class:`~syncd.errors.SinkError` subclasses like :meth:`inspect`.
        """
        ...

    def close(self) -> None:
        """Release clients and connections; the sink is not used afterwards."""
        ...


@runtime_checkable
class SinkFactory(Protocol[ConfigT]):
    """What a ``syncd.sinks`` entry point must point at (usually the sink class).

    Written as the members of the class object: a ``ClassVar`` and classmethods
    of the class satisfy them.
    """

    @property
    def config_model(self) -> type[ConfigT]:
        """Validates the sink's section of the config (``extra="forbid"``)."""
        ...

    def from_config(self, name: str, config: ConfigT) -> Sink:
        """Build a sink from its validated config section; may raise ConfigError."""
        ...

    def validate_secret_name(self, secret: str) -> None:
        """Raise ValueError (with a reason) if ``secret`` is not a valid name for this store."""
        ...


@dataclass(frozen=True)
class PreflightResult:
    """What :meth:`Preflight.preflight` found, in words an operator can act on.

    ``problems`` would make the run fail (``syncd check`` exits 1); ``notes``
    are what the check could not verify, shown next to an ``ok``.
    """

    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


@runtime_checkable
class Preflight(Protocol):
    """Optional for sinks: check the permissions a write needs, without writing.

    ``syncd check`` calls it after :meth:`Sink.inspect` returned ``state``;
    a sink without it is reported as "not checked", never as an error.
    """

    def preflight(self, secret: str, state: SecretState) -> PreflightResult:
        """Tell whether writing ``secret`` (now in ``state``) would be allowed.

        Never writes a secret value. Raises :class:`~syncd.errors.SinkError`
        like :meth:`Sink.inspect` when the store cannot be asked.
        """
        ...


@runtime_checkable
class Stager(Protocol):
    """Optional for sinks: a pending stage, a new version consumers do not see until promoted.

    The rotation engine stages a new credential, proves it, then promotes it
    (or discards it when the proof fails), so applications never read an
    unproven credential. Sinks without it get the proven credential through
    :meth:`Sink.write` with :attr:`WriteRequest.rotation` set.
    """

    def stage(self, request: WriteRequest) -> str:
        """Add ``request.document`` as a pending version of an existing secret; return its id.

        Idempotent for the same request. Raises
        :class:`~syncd.errors.SinkConflict` if the secret changed since
        ``request.observed`` (or no longer exists), and the other
        :class:`~syncd.errors.SinkError` subclasses like :meth:`Sink.write`.
        """
        ...

    def promote(self, request: WriteRequest, version: str) -> None:
        """Make staged ``version`` current and record the request's owner, fingerprint and mark.

        The old current version stays reachable as the previous one, and no
        pending label is left behind. Raises :class:`~syncd.errors.SinkConflict`
        when the current version is no longer ``request.observed.version``
        (another writer promoted meanwhile) or ``version`` is not staged.
        """
        ...

    def discard(self, secret: str, version: str) -> None:
        """Remove the pending label from ``version`` (a failed proof or an abandoned rotation).

        A no-op if the label is gone already, or the secret is.
        """
        ...


@runtime_checkable
class Leaser(Protocol):
    """Optional for sinks: hold a target's rotation lease next to a secret (see ``core.lease``).

    Rotation takes the lease before a password reset, in the first binding of
    the target whose sink offers this, so that two runs never both reset.
    Every change is a compare-and-set on the store's own token for the record
    (:attr:`~syncd.core.lease.Record.token`): two writers can never both succeed.
    The lease may live apart from the secret's value (a label, a sidecar, a
    sibling path) but never changes what consumers read.
    """

    def read_lease(self, secret: str) -> Record | None:
        """The lease recorded for ``secret``, or None when there is none (or it was released).

        Raises :class:`~syncd.errors.SinkError` like :meth:`Sink.inspect`.
        """
        ...

    def take_lease(self, secret: str, lease: Lease, replacing: Record | None) -> Record:
        """Record ``lease`` if what is recorded is still ``replacing`` (None: nothing); return it.

        Raises :class:`~syncd.errors.SinkConflict` when the record changed
        since it was read (another run took it: this one lost), and the other
        :class:`~syncd.errors.SinkError` subclasses like :meth:`Sink.write`.
        """
        ...

    def release_lease(self, secret: str, held: Record) -> None:
        """Remove ``held`` if it is still what is recorded; a no-op otherwise."""
        ...
