"""Unit tests for syncd.testing.standin: injected faults, recorded requests, and the loopback server."""

from __future__ import annotations

import gzip
import threading
import time

import httpx
import pytest

from syncd.testing.standin import (
    Fault,
    Faults,
    RunningServer,
    SeenRequest,
    json_response,
    respond,
    serving,
)


class Echo:
    """A fake API answering each request with its method and path, or the next queued fault."""

    def __init__(self) -> None:
        self.faults = Faults()
        self.bodies: list[bytes] = []

    def _answer(self, request: httpx.Request) -> httpx.Response | Fault:
        self.bodies.append(request.read())
        fault = self.faults.next()
        if fault is not None:
            return fault
        return json_response(200, {"method": request.method, "path": request.url.path})


def test_faults_are_served_first_come_first_served() -> None:
    """add queues a fault ``times`` times in order; clear drops what is left; then next is None."""
    faults = Faults()
    a, b = Fault(429), Fault(503)
    faults.add(a, times=2)
    faults.add(b)
    assert [faults.next(), faults.next(), faults.next()] == [a, a, b]
    assert faults.next() is None
    faults.add(a, times=3)
    faults.clear()
    assert faults.next() is None


def test_a_faults_delay_passes_before_it_is_served() -> None:
    """next() returns a delayed fault only after its delay."""
    faults = Faults()
    faults.add(Fault(500, delay=0.2))
    started = time.monotonic()
    assert faults.next() is not None
    assert time.monotonic() - started >= 0.2


def test_seen_request_keeps_what_matters_but_not_the_key() -> None:
    """A SeenRequest records path, params, user agent, method and whether the bearer key matched."""
    request = httpx.Request(
        "POST",
        "http://x.test/api/v2/p?limit=5",
        headers={"Authorization": "Bearer k3y", "User-Agent": "syncd/1"},
    )
    seen = SeenRequest.of(request, "/api/v2/p", api_key="k3y")
    assert (seen.path, seen.params, seen.user_agent, seen.method) == (
        "/api/v2/p",
        {"limit": "5"},
        "syncd/1",
        "POST",
    )
    assert seen.authorized and abs(seen.at - time.time()) < 5
    assert "k3y" not in repr(seen)
    assert not SeenRequest.of(request, "/api/v2/p", api_key="other").authorized


def test_respond_streams_a_faults_body_as_sent() -> None:
    """A Fault's body goes out byte for byte, even when it claims gzip and is not; a Response passes through."""
    fault = Fault(502, b"not gzip", {"Content-Encoding": "gzip"})
    response = respond(fault)
    assert response.status_code == 502 and b"".join(response.iter_raw()) == b"not gzip"
    ready = json_response(201, {"ok": True})
    assert respond(ready) is ready
    assert ready.json() == {"ok": True} and ready.headers["Content-Type"] == "application/json"


def test_running_server_serves_answers_and_faults_over_http() -> None:
    """A fake served on loopback answers GET and POST, and a queued fault goes out as injected."""
    api = Echo()
    body = gzip.compress(b"x") + b"junk"
    api.faults.add(Fault(503, body, {"Content-Type": "application/octet-stream"}))
    with serving(api, "127.0.0.1", 0, "test-standin") as server, httpx.Client() as client:
        refused = client.get(f"{server.base_url}/first")
        assert (refused.status_code, refused.content) == (503, body)
        answer = client.post(f"{server.base_url}/second?q=1", content=b"payload")
        assert answer.status_code == 200
        assert answer.json() == {"method": "POST", "path": "/second"}
    assert api.bodies == [b"", b"payload"]


def test_a_trickled_fault_arrives_slowly() -> None:
    """With trickle, each byte of the body waits that long, so a tight read timeout fires."""
    api = Echo()
    api.faults.add(Fault(200, b"0123456789", trickle=0.2))
    with serving(api, "127.0.0.1", 0, "test-standin") as server:
        timeout = httpx.Timeout(5.0, read=0.1)
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(f"{server.base_url}/slow", timeout=timeout)


def test_closing_the_server_releases_its_port_and_thread() -> None:
    """After close nothing listens on the port and the serving thread has ended."""
    server = RunningServer(Echo(), "127.0.0.1", 0, "test-standin-close")
    assert httpx.get(f"{server.base_url}/up").status_code == 200
    assert "test-standin-close" in {t.name for t in threading.enumerate()}
    server.close()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.base_url}/up")
    assert "test-standin-close" not in {t.name for t in threading.enumerate()}
