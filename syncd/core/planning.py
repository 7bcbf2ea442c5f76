"""What a sync, a rotation and a check share: what to do with one secret, and how to say it.

The engine (:mod:`syncd.core.engine`), the rotation (:mod:`syncd.core.rotation`)
and the check (:mod:`syncd.core.check`) order their steps differently, but
each one renders a binding's document, compares it with what the sink says
about the secret (its state, never its value) and decides:

============================  =========================================
state                         action
============================  =========================================
missing                       ``create``
exists, not managed by syncd  refused (``SecretNotManaged``) unless adopt
owned by another target or    refused (``SecretOwnedElsewhere``) unless
instance                      adopt, then ``update`` (owner recorded anew)
fingerprint matches           ``unchanged`` (nothing written)
current version not syncd's   ``drift`` (rewritten with the provider value)
fingerprint differs           ``update``
============================  =========================================

The owner is ``<instance>/<target>``: ``instance`` names the deployment (the
``instance`` setting), so two configurations that write one secret fail loudly
instead of overwriting each other every cycle. A secret recorded with a target
only (older syncd) belongs to the target of that name.

Keeping the table, the messages that name a secret and the wrapping of a
plugin's unexpected exception here means the three of them cannot drift
apart: a secret refused by ``syncd check`` is refused, in the same words, by
``run`` and ``rotate``. Running them over many targets is
:func:`syncd.core.fanout.fan_out`, the one fan-out for all of them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TypeVar

from syncd.core import timebox
from syncd.core.fingerprint import Fingerprint
from syncd.core.formats import keys_of, render
from syncd.core.models import (
    Action,
    ConnectionInfo,
    Document,
    Owner,
    RotationMark,
    SecretState,
    SinkBinding,
    Target,
)
from syncd.errors import (
    ProviderError,
    ProviderResponseError,
    SecretNotManaged,
    SecretOwnedElsewhere,
    SinkError,
    SyncdError,
)
from syncd.sinks.base import WriteRequest

#: Seconds a target's whole sync (fetch and every sink write) may take. Generous
#: for a healthy run (one fetch and a few writes take well under a second); the
#: bound on a server that answers slowly, or keeps asking syncd to wait.
TARGET_DEADLINE = 120.0

E = TypeVar("E", bound=SyncdError)


def where(binding: SinkBinding) -> str:
    """How messages name ``binding``'s secret: by its name and its sink's, never its value."""
    return f"secret {binding.secret} in sink {binding.sink}"


def decide(
    state: SecretState, value: str, *, adopt: bool, where: str, owner: Owner | None = None
) -> Action:
    """The action that brings a secret in ``state`` to ``value``; see the module table.

    ``owner`` is who would write; None skips the ownership check (tests of
    the fingerprint rules only).
    """
    if not state.exists:
        return Action.CREATE
    if not state.managed:
        if not adopt:
            raise SecretNotManaged(
                f"{where} exists but is not managed by syncd; nothing was written "
                "(set adopt: true on this binding to take it over)"
            )
        return Action.UPDATE
    if owner is not None and state.owner is not None and not state.owner.accepts(owner):
        if not adopt:
            raise SecretOwnedElsewhere(
                f"{where} is managed by syncd {state.owner} (instance/target), not by "
                f"{owner}; nothing was written. If both are one deployment, give them the "
                "same instance: setting and target name; to move the secret here, set "
                "adopt: true on this binding and remove it from the other configuration"
            )
        return Action.UPDATE
    if state.fingerprint is None:
        return Action.DRIFT
    if state.fingerprint.matches(value):
        return Action.UNCHANGED
    return Action.UPDATE


def check_owner(state: SecretState, binding: SinkBinding, owner: Owner) -> None:
    """Raise what :func:`decide` would for a secret ``owner`` may not write, value aside.

    For when there is no value to compare with (the fetch failed), or before
    one exists (a rotation checks ownership before its reset).
    """
    decide(state, "", adopt=binding.adopt, where=where(binding), owner=owner)


def render_binding(
    conn: ConnectionInfo,
    binding: SinkBinding,
    where: str,
    *,
    other: ConnectionInfo | None = None,
) -> Document:
    """Render for one binding; a value the format cannot hold fails only that binding.

    ``other`` is the target's other connection (pooled or direct), fetched
    when a binding's keys need it (:mod:`syncd.core.pair`).
    """
    try:
        return render(
            conn, binding.format, env_var=binding.env_var, keys=keys_of(binding), other=other
        )
    except ValueError as exc:  # InvalidConnectionURI included; its message holds no value
        raise ProviderResponseError(f"{where}: {exc}; nothing was written") from None


def write_request(
    target: Target,
    binding: SinkBinding,
    document: Document,
    state: SecretState,
    action: Action,
    *,
    instance: str,
    rotation: RotationMark | None = None,
) -> WriteRequest:
    """The write that takes ``binding``'s secret from ``state`` to ``document`` by ``action``."""
    return WriteRequest(
        target=target.name,
        secret=binding.secret,
        document=document,
        fingerprint=Fingerprint.of(document.text),
        observed=state,
        action=action,
        instance=instance,
        rotation=rotation,
    )


def failure(exc: SyncdError) -> dict[str, object]:
    """The fields an expected failure is logged with: its message is the story."""
    return {"error": str(exc), "error_type": type(exc).__name__, "transient": exc.transient}


def unexpected(error: type[E], exc: Exception, where: str = "", *, then: str = "") -> E:
    """``exc``, which a plugin was not expected to raise, as our ``error``.

    The message names only the exception's type (``<where>: unexpected
    KeyError <then>``): a plugin's own message may hold a credential. The
    caller logs the traceback with ``log.exception`` first.
    """
    text = f"unexpected {type(exc).__name__}"
    if then:
        text = f"{text} {then}"
    return error(f"{where}: {text}" if where else text)


def provider_crashed(provider: str, exc: Exception) -> ProviderError:
    """A provider plugin's unexpected exception, as the target's fetch failure."""
    return unexpected(ProviderError, exc, f"provider {provider}")


def sink_crashed(where: str, exc: Exception) -> SinkError:
    """A sink plugin's unexpected exception, as that binding's failure."""
    return unexpected(SinkError, exc, where, then="in sink plugin")


def time_box(
    target: Target,
    seconds: float | None,
    *,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> AbstractContextManager[timebox.TimeBox]:
    """The time box one target's work runs in (:mod:`syncd.core.timebox`), named for it."""
    return timebox.scope(seconds, name=f"target {target.name}", stop=stop, clock=clock)
