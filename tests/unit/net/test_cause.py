"""Tests for syncd.net.cause: why an endpoint could not be reached, found down the exception chain."""

from __future__ import annotations

import socket
import ssl

import httpx
import pytest

from syncd.net.cause import chain, describe
from tests.support.servers.ports import free_port


class ClientError(Exception):
    """Stands for a client library's own connection error (httpx.ConnectError and the like)."""


class BotoStyleError(Exception):
    """Carries its cause the way botocore does: in ``kwargs["error"]``, not ``__cause__``."""

    def __init__(self, error: BaseException) -> None:
        super().__init__("Could not connect to the endpoint URL")
        self.kwargs = {"error": error}


def wrapped(cause: BaseException) -> ClientError:
    """A client error raised ``from`` ``cause``, two links deep as httpx over httpcore is."""
    try:
        try:
            raise cause
        except BaseException as exc:
            raise OSError("transport failed") from exc
    except OSError as exc:
        outer = ClientError("connect failed")
        outer.__cause__ = exc
        return outer


def _tls_error(reason: str | None, message: str) -> ssl.SSLError:
    error = ssl.SSLError(1, message)
    error.reason = reason
    return error


def _verify_error() -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_message = "self-signed certificate"
    return error


@pytest.mark.parametrize(
    ("cause", "host", "expected"),
    [
        (
            socket.gaierror(-2, "Name or service not known"),
            "api.example",
            "DNS lookup of api.example failed",
        ),
        (socket.gaierror(-2, "Name or service not known"), None, "DNS lookup failed"),
        (ConnectionRefusedError(111, "Connection refused"), "h", "connection refused"),
        (ConnectionResetError(104, "Connection reset by peer"), "h", "connection reset by peer"),
        (
            _verify_error(),
            "h",
            "TLS certificate verification failed: self-signed certificate",
        ),
        (
            _tls_error("WRONG_VERSION_NUMBER", "wrong version number"),
            "h",
            "TLS handshake failed: WRONG_VERSION_NUMBER",
        ),
        (_tls_error(None, "eof"), "h", "TLS handshake failed: eof"),
        (ssl.SSLError(1, "built by hand"), "h", "TLS handshake failed: built by hand"),
        (
            TimeoutError("_ssl.c:989: The handshake operation timed out"),
            "h",
            "TLS handshake timed out",
        ),
        (TimeoutError("timed out"), "h", "timed out"),
    ],
)
def test_the_socket_level_cause_is_put_in_words(
    cause: BaseException, host: str | None, expected: str
) -> None:
    """DNS, refused, reset, TLS verification, TLS handshake and timeouts each get their own wording."""
    assert describe(wrapped(cause), host) == expected


def test_a_socket_cause_wins_over_the_clients_own_wording() -> None:
    """The precise socket error beats a known client type further up the chain."""
    exc = wrapped(ConnectionRefusedError(111, "Connection refused"))
    assert describe(exc, "h", known=[(ClientError, "cannot connect")]) == "connection refused"


def test_a_known_client_type_wins_over_a_generic_os_error() -> None:
    """Without a socket-level cause the client's own wording is used before any OS error text."""
    exc = wrapped(OSError(5, "Input/output error"))
    assert describe(exc, "h", known=[(ValueError, "no"), (ClientError, "proxy refused")]) == (
        "proxy refused"
    )
    assert describe(exc, "h") == "input/output error"


def test_without_any_cause_the_type_name_is_given() -> None:
    """An exception with nothing recognisable in its chain is described by its type's name."""
    assert describe(ClientError("?"), "h") == "ClientError"


def test_botocore_keeps_its_cause_in_kwargs_and_it_is_found() -> None:
    """The chain follows botocore's ``kwargs['error']`` as well as __cause__ and __context__."""
    refused = ConnectionRefusedError(111, "Connection refused")
    exc = BotoStyleError(refused)
    assert chain(exc) == [exc, refused]
    assert describe(exc, "sm.example") == "connection refused"


def test_a_loop_in_the_chain_ends_the_walk() -> None:
    """Exceptions that cause each other are each listed once, and describe() still returns."""
    a, b = ClientError("a"), ClientError("b")
    a.__cause__, b.__cause__ = b, a
    assert chain(a) == [a, b]
    assert describe(a, "h") == "ClientError"


def test_a_long_chain_is_walked_only_so_far() -> None:
    """A cause buried deeper than the walk's bound is not looked for: the walk is bounded."""
    exc: BaseException = ConnectionRefusedError(111, "Connection refused")
    for _ in range(50):
        outer = ClientError("wrapped")
        outer.__cause__ = exc
        exc = outer
    assert len(chain(exc)) < 50
    assert describe(exc, "h") == "ClientError"


def test_a_real_refused_connection_through_httpx_is_named() -> None:
    """httpx's ConnectError to a port nobody listens on is described as a refused connection."""
    url = f"http://127.0.0.1:{free_port()}/"
    with httpx.Client(timeout=5) as client, pytest.raises(httpx.ConnectError) as info:
        client.get(url)
    assert describe(info.value, "127.0.0.1") == "connection refused"
