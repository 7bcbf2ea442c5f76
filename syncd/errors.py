"""The one exception tree of syncd.

Every error syncd raises on purpose derives from :class:`SyncdError`. Vendor
exceptions (httpx, botocore, hvac) are translated where they are caught, with
``raise ... from exc``, so callers only ever handle this tree::

    SyncdError
    ├── ConfigError            the configuration is invalid (exit code 2)
    ├── PluginError            a provider or sink plugin cannot be loaded (exit code 2)
    ├── UsageError             the command line asks for something impossible (exit code 2)
    ├── ListenError            the metrics and health listener cannot bind (exit code 2)
    ├── ConnectionProofFailed  a new credential did not connect; nothing was published
    ├── RateLimited            a server asked for a pause syncd does not wait out (transient)
    ├── TargetTimedOut         the target's deadline passed before its sync was done (transient)
    ├── Interrupted            a wait was cut short because syncd is stopping (transient)
    ├── ProviderError          fetching a connection failed
    │   ├── ProviderAuthError      the API key was refused (permanent)
    │   ├── ProviderNotFound       project or branch does not exist (permanent)
    │   ├── ProviderResponseError  the answer is malformed or unsafe (permanent)
    │   ├── ProviderOperationFailed  a provider-side operation failed (transient)
    │   └── ProviderUnavailable    timeout, connection error, 429, 423, 5xx (transient)
    │       ├── ProviderUnreachable    timeout or connection error: no answer at all
    │       └── ProviderCircuitOpen    failed fast: the provider's breaker is open
    └── SinkError              reading or writing a secret store failed
        ├── SinkAuthError          credentials refused or permission denied (permanent)
        ├── SecretNotManaged       the secret exists but syncd does not own it (permanent)
        │   └── SecretOwnedElsewhere   another syncd target or instance owns it (permanent)
        ├── SinkConflict           someone wrote concurrently; retried next cycle (transient)
        ├── SecretNotFound         the secret does not exist (a sink turns it into a state)
        └── SinkUnavailable        timeout, throttling, sealed or unreachable store (transient)
            ├── SinkUnreachable        timeout or connection error: no answer at all
            ├── SinkCircuitOpen        failed fast: the sink's breaker is open
            └── SinkBusy               failed fast: the sink's workers are all stuck

Which exit code each error ends a command with is decided in one place,
:func:`syncd.exits.report`. ``transient`` tells the scheduler whether
retrying soon can help. Messages
carry identifiers (target, sink, secret name, project) and never a value: the
exception text is logged and printed, so it must be safe to show.
"""

from __future__ import annotations

import math


class SyncdError(Exception):
    """Base of every error syncd raises on purpose."""

    transient: bool = False


class ConfigError(SyncdError):
    """The configuration cannot be used; the operator must fix it."""


class PluginError(SyncdError):
    """A provider or sink plugin is missing, broken or ambiguous."""


class UsageError(SyncdError):
    """The command line combines options that cannot work together, or names unknown targets."""


class ListenError(SyncdError):
    """The listener cannot bind its address (in use, not local, not permitted)."""


class ConnectionProofFailed(SyncdError):
    """Connecting with a credential (``SELECT 1``) failed, so it was not published.

    Permanent for this run: the sinks keep what they had and the next run
    tries again. The message names the role and host, never the password.
    """


class RateLimited(SyncdError):
    """A provider or sink imposed a pause that syncd does not wait out in line.

    Raised by a rate limiter (:class:`syncd.net.ratelimit.TokenBucket`) instead of
    sleeping, when the pause reaches :data:`syncd.net.retry.MAX_SERVER_PAUSE` or
    would end past the target's deadline. ``source`` names the provider or
    sink; ``retry_after`` is the pause left, in seconds (finite, capped), which
    the daemon waits before it retries the target.
    """

    transient = True

    def __init__(self, source: str, retry_after: float) -> None:
        self.source = source
        self.retry_after = retry_after
        shown = max(1, math.ceil(retry_after))
        super().__init__(f"rate limited by {source}; retry after {shown} s")


class TargetTimedOut(SyncdError):
    """The target's deadline (:mod:`syncd.core.timebox`) passed before its sync was done.

    Nothing more is sent for it; what was written stays written (each write is
    atomic), and the next run tries again.
    """

    transient = True


class Interrupted(SyncdError):
    """SIGTERM or SIGINT cut a wait short (a rate limiter's, a backoff's): syncd is stopping."""

    transient = True


class ProviderError(SyncdError):
    """Fetching a connection from a provider failed."""


class ProviderAuthError(ProviderError):
    """The provider refused syncd's credentials."""


class ProviderNotFound(ProviderError):
    """The project or branch does not exist at the provider."""


class ProviderResponseError(ProviderError):
    """The provider answered with something syncd will not write anywhere."""


class ProviderOperationFailed(ProviderError):
    """An operation the provider ran for us (a Neon password reset) ended failed or cancelled.

    Transient: nothing changed at the provider, so trying again later may succeed.
    """

    transient = True


class ProviderUnavailable(ProviderError):
    """The provider could not be reached or asked us to back off."""

    transient = True


class ProviderUnreachable(ProviderUnavailable):
    """No answer came: the call timed out or the connection failed.

    What a circuit breaker (:mod:`syncd.core.breaker`) counts; an answer, even a
    429 or a 5xx, is not counted.
    """


class ProviderCircuitOpen(ProviderUnavailable):
    """The provider's circuit breaker is open: the call failed fast, nothing was sent."""


class SinkError(SyncdError):
    """Inspecting or writing a secret store failed."""


class SinkAuthError(SinkError):
    """The secret store refused syncd's credentials or permissions."""


class SecretNotManaged(SinkError):
    """The secret exists but was not created by syncd and adopt is off."""


class SecretOwnedElsewhere(SecretNotManaged):
    """The secret is managed by another syncd target or deployment and adopt is off."""


class SinkConflict(SinkError):
    """Another writer changed the secret between inspection and write."""

    transient = True


class SecretNotFound(SinkError):
    """The secret does not exist in the store.

    Raised inside a sink's vendor-call helper; the sink turns it into
    :meth:`~syncd.core.models.SecretState.missing` when inspecting, or into a
    :class:`SinkConflict` when the secret vanished between inspect and write.
    """


class SinkUnavailable(SinkError):
    """The secret store could not be reached, is sealed, or throttled us."""

    transient = True


class SinkUnreachable(SinkUnavailable):
    """No answer came from the store: the call timed out or the connection failed."""


class SinkCircuitOpen(SinkUnavailable):
    """The sink's circuit breaker is open: the call failed fast, nothing was sent."""


class SinkBusy(SinkUnavailable):
    """The sink's share of the workers is stalled in calls: nothing was sent (see bulkhead)."""
