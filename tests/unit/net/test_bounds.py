"""The bounded transport's connection handling: one pool per worker, closed when it ends."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import ClassVar

import httpx
import pytest

from syncd.net import bounds as httpbounds
from tests.support.servers.loopback import LoopbackServer


class _Counting(BaseHTTPRequestHandler):
    """Keep-alive answers; counts the connections opened and closed."""

    protocol_version = "HTTP/1.1"
    opened: ClassVar[int] = 0
    closed: ClassVar[int] = 0
    lock = threading.Lock()

    def setup(self) -> None:
        super().setup()
        with self.lock:
            type(self).opened += 1

    def finish(self) -> None:
        super().finish()
        with self.lock:
            type(self).closed += 1

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def url() -> Iterator[str]:
    _Counting.opened = _Counting.closed = 0
    with LoopbackServer(_Counting) as server:
        yield server.url + "/"


def _get(transport: httpx.BaseTransport, url: str) -> None:
    with httpbounds.deadline(5):
        response = transport.handle_request(httpx.Request("GET", url))
        try:
            assert httpbounds.read_body(response) == b"{}"
        finally:
            response.close()


def _workers(transport: httpx.BaseTransport, url: str, count: int, requests: int) -> None:
    threads = [
        threading.Thread(target=lambda: [_get(transport, url) for _ in range(requests)])
        for _ in range(count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _wait_for(condition: object, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.02)
    return False


def test_each_worker_reuses_its_own_connection(url: str) -> None:
    """Four workers making five requests each open four connections, not twenty."""
    transport = httpbounds.transport()
    _workers(transport, url, count=4, requests=5)
    transport.close()
    assert _Counting.opened == 4


def test_connections_of_ended_workers_are_closed(url: str) -> None:
    """The pools of workers that ended are closed by the next new one: no socket outlives them."""
    transport = httpbounds.transport()
    _workers(transport, url, count=3, requests=2)
    assert _Counting.closed == 0  # kept alive while nothing else happens
    _workers(transport, url, count=1, requests=1)  # a new worker, as the next cycle makes
    assert _wait_for(lambda: _Counting.closed >= 3)
    transport.close()
    assert _wait_for(lambda: _Counting.closed == 4)


def test_transport_errors_are_httpx_errors() -> None:
    """A refused connection surfaces as httpx.ConnectError, as httpx's own transport raises it."""
    with LoopbackServer(_Counting) as server:
        closed = server.url + "/"
    transport = httpbounds.transport()
    with pytest.raises(httpx.ConnectError):
        _get(transport, closed)
    transport.close()


def test_a_stalled_answer_is_an_httpx_timeout() -> None:
    """A server that never answers trips the request's deadline as httpx.ReadTimeout."""
    with LoopbackServer(_Silent) as server:
        transport = httpbounds.transport()
        started = time.monotonic()
        with httpbounds.deadline(0.3), pytest.raises(httpx.ReadTimeout):
            transport.handle_request(httpx.Request("GET", server.url + "/"))
        transport.close()
    assert time.monotonic() - started < 2


class _Silent(BaseHTTPRequestHandler):
    """Reads the request and answers nothing for a while."""

    def do_GET(self) -> None:
        time.sleep(1.5)

    def log_message(self, *args: object) -> None:
        pass
