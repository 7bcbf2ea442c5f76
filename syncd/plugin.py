"""Everything a sink or provider plugin needs from syncd, in one import.

A plugin imports from here and nowhere else in syncd; the names in
:data:`__all__` are the plugin API, and the modules behind them may move::

    from syncd.plugin import PluginConfig, SecretState, SinkFactory, WriteRequest

What is here:

* **Interfaces.** :class:`Sink` and :class:`Provider` (the Protocols a plugin
  implements), :class:`SinkFactory` and :class:`ProviderFactory` (what the
  entry point names: ``config_model``, ``from_config``, and for sinks
  ``validate_secret_name``), and the optional capabilities :class:`Preflight`,
  :class:`Stager`, :class:`Leaser` (sinks) and :class:`Rotator`,
  :class:`TargetKeys` (a provider's own keys on a target, read back through
  :class:`ConnectsAs` for rotation) and :class:`TargetChecker` (refusing a
  target at config load with a :class:`TargetProblem`) (providers).
* **Data.** What a sink is given and reports (:class:`WriteRequest`,
  :class:`Document`, :class:`SecretState`, :class:`Owner`,
  :class:`RotationMark`, :class:`Fingerprint`, :class:`PreflightResult`,
  :class:`Lease`, :class:`LeaseRecord`) and what a provider is given and
  returns (:class:`Target`, :class:`ConnectionInfo`, which validates a URI
  and raises :class:`InvalidConnectionURI`).
* **Recording syncd's facts.** :class:`MetadataCodec` encodes ownership, the
  owner, the fingerprint and the rotation mark into a flat map of strings and
  decodes them back into a :class:`SecretState`; the ``*_KEY`` constants are
  the keys every sink uses for ownership.
* **Config.** :class:`PluginConfig`, the base of a plugin's ``config_model``
  (unknown keys are errors, the loaded config is immutable).
* **Errors.** The part of syncd's error tree (:mod:`syncd.errors`) that a
  plugin raises, with ``raise ... from exc`` at the vendor boundary: providers
  raise :class:`ProviderError` subclasses, sinks :class:`SinkError`
  subclasses, both :class:`ConfigError` for a config that cannot work.
  ``transient`` on each class tells syncd whether to retry.
* **Redaction.** A provider builds its :class:`ConnectionInfo` with
  :func:`connection_of` and takes a reset password through
  :func:`answered_secret`: both make the values known to redaction as they
  are parsed, so syncd masks them in every log line and message from then
  on. :func:`register_secret` does the same for any other credential (an API
  key, once, with ``pinned=True``); :func:`scrub` masks the known ones and
  anything shaped like a credential in a vendor's text before quoting it.
* **Tests.** The contract suites every plugin passes live in
  :data:`CONTRACTS` (``syncd.testing.contract``; it needs pytest):
  :class:`SinkContract`, :class:`StagerContract`, :class:`LeaserContract` and
  :class:`ProviderContract`. They are importable from here too, on first use,
  so that importing this module never imports pytest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from syncd.config.strict import PluginConfig
from syncd.core.fingerprint import Fingerprint
from syncd.core.lease import Lease
from syncd.core.lease import Record as LeaseRecord
from syncd.core.models import (
    Action,
    ConnectionInfo,
    Document,
    InvalidConnectionURI,
    Owner,
    RotationMark,
    SecretState,
    Target,
)
from syncd.errors import (
    ConfigError,
    ProviderAuthError,
    ProviderError,
    ProviderNotFound,
    ProviderOperationFailed,
    ProviderResponseError,
    ProviderUnavailable,
    ProviderUnreachable,
    RateLimited,
    SecretNotFound,
    SinkAuthError,
    SinkConflict,
    SinkError,
    SinkUnavailable,
    SinkUnreachable,
    SyncdError,
)
from syncd.providers.answers import answered_secret, connection_of
from syncd.providers.base import (
    ConnectsAs,
    Provider,
    ProviderFactory,
    ResetStarted,
    Rotator,
    TargetChecker,
    TargetKeys,
    TargetProblem,
)
from syncd.redaction import register as register_secret
from syncd.redaction import scrub
from syncd.sinks.base import (
    MANAGED_BY_KEY,
    MANAGED_BY_VALUE,
    OWNER_KEY,
    TARGET_KEY,
    Leaser,
    Preflight,
    PreflightResult,
    Sink,
    SinkFactory,
    Stager,
    WriteRequest,
)
from syncd.sinks.metadata import MetadataCodec

if TYPE_CHECKING:
    from syncd.testing.contract import (
        LeaserContract,
        ProviderContract,
        SinkContract,
        StagerContract,
    )

#: The module of the contract suites (pytest classes to subclass in a plugin's tests).
CONTRACTS = "syncd.testing.contract"
_CONTRACT_NAMES = frozenset(
    {"SinkContract", "StagerContract", "LeaserContract", "ProviderContract"}
)

__all__ = [
    "CONTRACTS",
    "MANAGED_BY_KEY",
    "MANAGED_BY_VALUE",
    "OWNER_KEY",
    "TARGET_KEY",
    "Action",
    "ConfigError",
    "ConnectionInfo",
    "ConnectsAs",
    "Document",
    "Fingerprint",
    "InvalidConnectionURI",
    "Lease",
    "LeaseRecord",
    "Leaser",
    "LeaserContract",
    "MetadataCodec",
    "Owner",
    "PluginConfig",
    "Preflight",
    "PreflightResult",
    "Provider",
    "ProviderAuthError",
    "ProviderContract",
    "ProviderError",
    "ProviderFactory",
    "ProviderNotFound",
    "ProviderOperationFailed",
    "ProviderResponseError",
    "ProviderUnavailable",
    "ProviderUnreachable",
    "RateLimited",
    "ResetStarted",
    "RotationMark",
    "Rotator",
    "SecretNotFound",
    "SecretState",
    "Sink",
    "SinkAuthError",
    "SinkConflict",
    "SinkContract",
    "SinkError",
    "SinkFactory",
    "SinkUnavailable",
    "SinkUnreachable",
    "Stager",
    "StagerContract",
    "SyncdError",
    "Target",
    "TargetChecker",
    "TargetKeys",
    "TargetProblem",
    "WriteRequest",
    "answered_secret",
    "connection_of",
    "register_secret",
    "scrub",
]


def __getattr__(name: str) -> Any:
    """The contract suites, imported from :data:`CONTRACTS` when first asked for."""
    if name in _CONTRACT_NAMES:
        return getattr(importlib.import_module(CONTRACTS), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
