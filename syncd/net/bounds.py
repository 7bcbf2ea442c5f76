"""HTTP requests with a total deadline and a bounded body, for provider clients.

httpx's timeouts apply to each network operation: a server that sends one
byte every two seconds never trips a ten-second read timeout, and holds a
worker for as long as it likes. Here a request gets one deadline that covers
connecting, TLS, sending and every read together:

* :func:`transport` builds an httpx transport whose sockets never wait past
  the deadline of the request in progress (each connect, read and write gets
  ``min(its timeout, time left)``), and
* :func:`read_body` checks the deadline between chunks and counts the body's
  bytes as they arrive on the wire *and* after decompression, so neither a
  huge body nor a small gzip bomb is ever held in memory past the limit.

The deadline lives in a context variable set by :func:`deadline`, so one
transport serves requests from several threads, each with its own deadline.
"""

from __future__ import annotations

import functools
import ssl
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, cast

import httpcore
import httpx

#: The largest provider answer syncd reads, on the wire and once decompressed.
MAX_BODY_BYTES = 64 * 1024
#: What the client advertises: the one encoding :func:`read_body` can bound.
ACCEPT_ENCODING = "gzip"

_deadline: ContextVar[float | None] = ContextVar("syncd_http_deadline", default=None)
# A socket timeout of 0 would mean non-blocking, not "already expired".
_EXPIRED = 0.001


class BodyTooLarge(Exception):
    """The answer passed :data:`MAX_BODY_BYTES`; the message names the limit."""


class DeadlineExceeded(Exception):
    """The request's total deadline passed while its body was being read."""


class UnsupportedEncoding(Exception):
    """The answer uses a Content-Encoding the client did not ask for."""


@contextmanager
def deadline(seconds: float) -> Iterator[float]:
    """Give every request made in this block, in this thread, ``seconds`` in total."""
    at = time.monotonic() + seconds
    token = _deadline.set(at)
    try:
        yield at
    finally:
        _deadline.reset(token)


def _cap(timeout: float | None) -> float | None:
    at = _deadline.get()
    if at is None:
        return timeout
    left = max(at - time.monotonic(), _EXPIRED)
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _cap(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _cap(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, _cap(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        return _Stream(
            self._inner.connect_tcp(host, port, _cap(timeout), local_address, socket_options)
        )

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_unix_socket(path, _cap(timeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


#: Connections per thread and transport, all kept alive between requests.
MAX_CONNECTIONS = 8


class _ThreadPools:
    """One httpcore connection pool per thread, so each worker reuses its own connection.

    httpcore's pool checks every idle connection before each request (one
    ``poll`` per connection), so a pool shared by N workers costs O(N) system
    calls per request: a fifth of a request's CPU at concurrency 8. A worker
    uses one connection at a time, so its own pool holds the one it reuses.
    The pools of threads that have ended are closed when the next one is made
    (``run --once`` makes its workers per cycle), so no socket outlives them.
    """

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self._ssl_context = ssl_context
        self._local = threading.local()
        self._lock = threading.Lock()
        self._pools: dict[threading.Thread, httpcore.ConnectionPool] = {}

    def get(self) -> httpcore.ConnectionPool:
        """The pool of the calling thread, made on its first request."""
        pool: httpcore.ConnectionPool | None = getattr(self._local, "pool", None)
        if pool is not None:
            return pool
        pool = httpcore.ConnectionPool(
            ssl_context=self._ssl_context,
            max_connections=MAX_CONNECTIONS,
            max_keepalive_connections=MAX_CONNECTIONS,
            keepalive_expiry=httpx.Limits().keepalive_expiry,
            network_backend=_Backend(),
        )
        with self._lock:
            ended = [thread for thread in self._pools if not thread.is_alive()]
            stale = [self._pools.pop(thread) for thread in ended]
            self._pools[threading.current_thread()] = pool
        for old in stale:
            old.close()
        self._local.pool = pool
        return pool

    def close(self) -> None:
        """Close every pool; a thread that makes another request gets a new one."""
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()
        self._local = threading.local()


#: httpcore's errors and the httpx errors they become, most specific first, as
#: ``httpx.HTTPTransport`` maps them: callers only ever see httpx's.
_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextmanager
def _httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for theirs, ours in _ERRORS:
            if isinstance(exc, theirs):
                raise ours(str(exc)) from exc
        raise


class _Body(httpx.SyncByteStream):
    """A response body read from httpcore, its errors raised as httpx's."""

    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _httpx_errors():
            yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class BoundedTransport(httpx.BaseTransport):
    """An httpx transport over httpcore connection pools (one per thread) that honour deadlines.

    Built on the public extension points only: httpx's ``BaseTransport`` and
    httpcore's ``ConnectionPool`` with a network backend of its own, the
    layer where every socket wait is capped (see :func:`deadline`). HTTP/1.1,
    no proxy, and the TLS of ``ssl_context``.
    """

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self._pools = _ThreadPools(ssl_context)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` on this thread's pool; the body streams, as httpx's own transport."""
        url = request.url
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=cast("Iterable[bytes]", request.stream),
            extensions=request.extensions,
        )
        with _httpx_errors():
            response = self._pools.get().handle_request(core)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(cast("Iterable[bytes]", response.stream)),
            extensions=response.extensions,
        )

    def close(self) -> None:
        """Close every connection pool."""
        self._pools.close()


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """The verifying context httpx builds (certifi's roots), once: loading them takes ~25 ms."""
    return httpx.create_ssl_context()


def transport(ssl_context: ssl.SSLContext | None = None) -> httpx.BaseTransport:
    """An HTTPS/HTTP transport whose every socket wait honours :func:`deadline`.

    ``ssl_context`` defaults to :func:`default_ssl_context`.
    """
    return BoundedTransport(ssl_context or default_ssl_context())


def read_body(response: httpx.Response, limit: int = MAX_BODY_BYTES) -> bytes:
    """Read a streamed ``response``'s body within the deadline and ``limit`` bytes.

    Raises :class:`BodyTooLarge`, :class:`DeadlineExceeded` or
    :class:`UnsupportedEncoding`; network errors come through as httpx errors.
    """
    if response.is_stream_consumed:
        # Built in memory (an httpx.MockTransport answer): there is nothing to stream.
        if len(response.content) > limit:
            raise BodyTooLarge(f"answer is larger than {limit} bytes")
        return response.content
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise UnsupportedEncoding(f"Content-Encoding {encoding[:32]!r} was not asked for")
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding == "gzip" else None
    raw = 0
    body = bytearray()
    for chunk in response.iter_raw():
        _check_deadline()
        raw += len(chunk)
        if raw > limit:
            raise BodyTooLarge(f"answer is larger than {limit} bytes")
        if inflate is None:
            body += chunk
            continue
        try:
            # max_length keeps a gzip bomb from expanding past the limit in memory.
            body += inflate.decompress(chunk, limit + 1 - len(body))
        except zlib.error:
            raise UnsupportedEncoding("answer is not valid gzip") from None
        if len(body) > limit or inflate.unconsumed_tail:
            raise BodyTooLarge(f"answer is larger than {limit} bytes once decompressed")
    if len(body) > limit:
        raise BodyTooLarge(f"answer is larger than {limit} bytes")
    return bytes(body)


def _check_deadline() -> None:
    at = _deadline.get()
    if at is not None and time.monotonic() > at:
        raise DeadlineExceeded("deadline passed while reading the answer")
