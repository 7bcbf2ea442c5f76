"""Why an endpoint could not be reached, in words: DNS, refused, TLS, timed out.

An HTTP client's connection error names itself (``ConnectError``,
``EndpointConnectionError``), not what went wrong: the socket error that says
so sits further down the chain of exceptions (httpx wraps httpcore, which
wraps the ``ssl`` or ``socket`` error; botocore wraps urllib3, which wraps
it too). :func:`describe` walks that chain once for every client syncd uses.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterable

#: How far down a chain of exceptions to look (a loop in it ends the walk too).
_MAX_LINKS = 20


def describe(
    exc: BaseException,
    host: str | None,
    known: Iterable[tuple[type[BaseException], str]] = (),
) -> str:
    """Why ``exc`` kept the client from ``host``, e.g. "connection refused".

    A socket-level cause anywhere in the chain wins (it is the most precise);
    then the first of ``known``, pairs of the client's own exception types and
    their wording, that ``exc`` is an instance of; then any timeout or OS
    error in the chain; else the exception's type name.
    """
    links = chain(exc)
    for link in links:
        found = _socket_cause(link, host)
        if found is not None:
            return found
    for kind, text in known:
        if isinstance(exc, kind):
            return text
    for link in links:
        if isinstance(link, TimeoutError):
            return "timed out"
        if isinstance(link, OSError) and link.strerror:
            return link.strerror.lower()
    return type(exc).__name__


def chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what caused it: ``__cause__``, ``__context__`` and botocore's ``error``."""
    links: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in links and len(links) < _MAX_LINKS:
        links.append(current)
        nested = (getattr(current, "kwargs", None) or {}).get("error")
        current = current.__cause__ or current.__context__ or nested
    return links


def _socket_cause(link: BaseException, host: str | None) -> str | None:  # noqa: PLR0911 - one answer per failure
    if isinstance(link, socket.gaierror):
        return f"DNS lookup of {host} failed" if host else "DNS lookup failed"
    if isinstance(link, ConnectionRefusedError):
        return "connection refused"
    if isinstance(link, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed: {link.verify_message}"
    if isinstance(link, ssl.SSLError):
        # ``reason`` is set by the ssl module's own errors, not by an SSLError built by hand.
        reason = getattr(link, "reason", None) or link.strerror or "unknown reason"
        return f"TLS handshake failed: {reason}"
    if isinstance(link, TimeoutError) and "handshake" in str(link):
        return "TLS handshake timed out"
    if isinstance(link, ConnectionResetError):
        return "connection reset by peer"
    return None
