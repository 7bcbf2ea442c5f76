"""What the API stand-ins (:mod:`syncd.testing.casedev`, :mod:`syncd.testing.neon`) share.

An injected answer (:class:`Fault`) and the queue that serves them
(:class:`Faults`), the record of a request (:class:`SeenRequest`), and a real
HTTP server on loopback (:class:`RunningServer`) that serves any fake with an
``_answer`` method. A fake decides answers as ``httpx`` objects, so the same
code answers ``httpx.MockTransport`` in unit tests and real sockets in
end-to-end ones.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import httpx

from syncd.net.serving import ServingThread

__all__ = [
    "Answering",
    "Fault",
    "Faults",
    "RunningServer",
    "SeenRequest",
    "json_response",
    "respond",
    "serving",
]


@dataclass
class Fault:
    """One injected answer: a status, a body and headers, optionally after a delay.

    ``body`` goes out byte for byte, whatever ``Content-Encoding`` says. Over
    HTTP (a fake's ``serve``), ``trickle`` seconds pass before each byte.
    """

    status: int = 500
    body: bytes = b'{"error":"Internal Server Error"}'
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    delay: float = 0.0
    trickle: float = 0.0


@dataclass(frozen=True)
class SeenRequest:
    """A request the fake received (the Authorization header is not kept).

    ``at`` is the wall-clock time it arrived (``time.time()``), so tests can
    measure intervals from the server's side.
    """

    path: str
    params: dict[str, str]
    user_agent: str
    authorized: bool
    method: str = "GET"
    at: float = field(default_factory=time.time)

    @classmethod
    def of(cls, request: httpx.Request, path: str, *, api_key: str) -> SeenRequest:
        """What to record of ``request`` (shown as ``path``); authorised if it bears ``api_key``."""
        return cls(
            path,
            dict(request.url.params),
            request.headers.get("User-Agent", ""),
            request.headers.get("Authorization", "") == f"Bearer {api_key}",
            request.method,
        )


class Faults:
    """The faults a test injected, served first come first served. Thread-safe."""

    def __init__(self) -> None:
        self._queue: deque[Fault] = deque()
        self._lock = threading.Lock()

    def add(self, fault: Fault, times: int = 1) -> None:
        """Serve ``fault`` as the next ``times`` answers."""
        with self._lock:
            self._queue.extend([fault] * times)

    def clear(self) -> None:
        """Drop faults not yet served."""
        with self._lock:
            self._queue.clear()

    def next(self) -> Fault | None:
        """The next fault, after its delay has passed; None when none is queued."""
        with self._lock:
            fault = self._queue.popleft() if self._queue else None
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        return fault


def respond(answer: httpx.Response | Fault) -> httpx.Response:
    """``answer`` as a response; a Fault's body is streamed as sent (gzip is not decoded)."""
    if isinstance(answer, httpx.Response):
        return answer
    return httpx.Response(
        answer.status, headers=answer.headers, stream=httpx.ByteStream(answer.body)
    )


def json_response(status: int, body: object) -> httpx.Response:
    """A JSON answer with ``status``."""
    return httpx.Response(
        status, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )


class Answering(Protocol):
    """A fake API that :class:`RunningServer` can serve (FakeCaseDev, FakeNeon)."""

    def _answer(self, request: httpx.Request) -> httpx.Response | Fault: ...


@contextmanager
def serving(api: Answering, host: str, port: int, name: str) -> Iterator[RunningServer]:
    """Serve ``api`` over real HTTP until the block exits (a fake's ``serve``)."""
    server = RunningServer(api, host, port, name)
    try:
        yield server
    finally:
        server.close()


class _Server(ThreadingHTTPServer):
    """A client that went away mid-request (a test killed it) is not the server's error."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class RunningServer:
    """A fake API on a TCP port, served by a background thread called ``name``."""

    def __init__(self, api: Answering, host: str, port: int, name: str = "fake-casedev") -> None:
        self.api = api
        handler = _handler_for(api)
        httpd = _Server((host, port), handler)
        bound_host, bound_port = httpd.server_address[:2]
        self.base_url = f"http://{bound_host!s}:{bound_port}"
        self._serving = ServingThread(httpd, name=name)

    def close(self) -> None:
        """Stop serving and release the port."""
        self._serving.close()


def _handler_for(api: Answering) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle on, a keep-alive client's
        # delayed ACK would add ~40 ms to every request.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = httpx.Request(
                self.command,
                f"http://{self.headers.get('Host', 'localhost')}{self.path}",
                headers=dict(self.headers.items()),
                content=body,
            )
            answer = api._answer(request)
            if isinstance(answer, httpx.Response):
                answer = Fault(answer.status_code, answer.content, dict(answer.headers))
            self.send_response(answer.status)
            for key, value in answer.headers.items():
                if key.lower() not in ("content-length", "connection"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            try:
                self._send_body(answer)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (say, past its deadline)

        def _send_body(self, answer: Fault) -> None:
            if not answer.trickle:
                self.wfile.write(answer.body)
                return
            for i in range(len(answer.body)):
                time.sleep(answer.trickle)
                self.wfile.write(answer.body[i : i + 1])
                self.wfile.flush()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
            """Silence the default stderr access log (it would print request lines)."""

    return Handler
