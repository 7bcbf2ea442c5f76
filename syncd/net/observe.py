"""Reporting provider and sink API requests, without a metrics library in any plugin.

Counting API calls by outcome (``ok``, ``throttled``, ...) must happen where
the calls are made: a provider or sink retries internally, so the engine only
sees the last attempt, never the 429s before it. Yet a plugin should not import
Prometheus. So the contract is one small interface each way:

* a plugin that talks to a remote API implements :class:`Observable` (one
  ``observe(observer)`` method) and reports every request attempt, retries
  included, with :meth:`RequestObserver.request`;
* whoever wants numbers (``syncd.daemon.metrics``) implements :class:`RequestObserver`
  and is handed to each plugin with :func:`attach`.

Plugins without ``observe`` (the file sink, third-party plugins) are simply
not counted. The observer is called from worker threads and must be
thread-safe; it must not raise. Only names and outcomes cross this interface,
never a request, a response or a value.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, Protocol, runtime_checkable

__all__ = ["OUTCOMES", "Kind", "Observable", "Outcome", "RequestObserver", "attach", "http_outcome"]

Kind = Literal["provider", "sink"]
Outcome = Literal["ok", "not_found", "throttled", "denied", "unavailable", "error"]
#: Every outcome a plugin may report, so dashboards know the full label set.
OUTCOMES: tuple[Outcome, ...] = ("ok", "not_found", "throttled", "denied", "unavailable", "error")


class RequestObserver(Protocol):
    """Receives one call per API request attempt a plugin makes."""

    def request(self, kind: Kind, name: str, outcome: Outcome) -> None:
        """Count a request of the provider or sink named ``name`` (its config name)."""
        ...


@runtime_checkable
class Observable(Protocol):
    """A plugin that can report its API requests."""

    def observe(self, observer: RequestObserver) -> None:
        """Report every later request attempt to ``observer``."""
        ...


def attach(plugins: Iterable[object], observer: RequestObserver) -> None:
    """Hand ``observer`` to each plugin that is :class:`Observable`; skip the others."""
    for plugin in plugins:
        if isinstance(plugin, Observable):
            plugin.observe(observer)


def http_outcome(status: int) -> Outcome:
    """The outcome of an HTTP answer with ``status``."""
    if status < 400:  # noqa: PLR2004 - HTTP status classes read better as numbers
        return "ok"
    if status == 429:  # noqa: PLR2004
        return "throttled"
    if status in (401, 403):
        return "denied"
    if status == 404:  # noqa: PLR2004
        return "not_found"
    if status == 408 or status >= 500:  # noqa: PLR2004
        return "unavailable"
    return "error"
