"""A case.dev-compatible database API, for tests and the demo.

It speaks the documented endpoint
``GET /database/v1/projects/{id}/connection?branch=&pooled=`` with bearer
authentication and answers ``{connectionUri, branch, pooled}``. What each
project and branch returns is set by the test (:meth:`FakeCaseDev.set_branch`),
so a test can point it at a real database and rotate credentials. Faults are
injected with :meth:`FakeCaseDev.fail_next`, including hostile ones: a body
sent as given (say, gzip with ``Content-Encoding: gzip``), and over HTTP a body
that trickles out one byte at a time (:attr:`Fault.trickle`).

Use :meth:`FakeCaseDev.handle` with ``httpx.MockTransport`` for unit tests, or
:meth:`FakeCaseDev.serve` for a real HTTP server on loopback::

    with FakeCaseDev(api_key="k").serve() as server:
        server.base_url  # http://127.0.0.1:PORT

To try a configuration without an account, run it on its own (:func:`main`)::

    python -m syncd.testing.casedev [--port N] [--secrets-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol, TextIO
from urllib.parse import unquote

import httpx

_PATH = re.compile(r"^/database/v1/projects/([^/]+)/connection$")


@dataclass
class Fault:
    """One injected answer: a status, a body and headers, optionally after a delay.

    ``body`` goes out byte for byte, whatever ``Content-Encoding`` says. Over
    HTTP (:meth:`FakeCaseDev.serve`), ``trickle`` seconds pass before each byte.
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


def respond(answer: httpx.Response | Fault) -> httpx.Response:
    """``answer`` as a response; a Fault's body is streamed as sent (gzip is not decoded)."""
    if isinstance(answer, httpx.Response):
        return answer
    return httpx.Response(
        answer.status, headers=answer.headers, stream=httpx.ByteStream(answer.body)
    )


class FakeCaseDev:
    """The API's behaviour, independent of how requests reach it. Thread-safe."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self._branches: dict[tuple[str, str], tuple[str, str]] = {}
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self.requests: list[SeenRequest] = []

    def set_branch(self, project: str, branch: str, *, direct: str, pooled: str) -> None:
        """Make ``project``/``branch`` answer with these direct and pooled URIs."""
        with self._lock:
            self._branches[(project, branch)] = (direct, pooled)

    def remove_branch(self, project: str, branch: str) -> None:
        """Forget a branch (it then answers 404)."""
        with self._lock:
            self._branches.pop((project, branch), None)

    def fail_next(self, fault: Fault, times: int = 1) -> None:
        """Answer the next ``times`` authorised requests with ``fault``."""
        with self._lock:
            self._faults.extend([fault] * times)

    def clear_faults(self) -> None:
        """Drop faults not yet served."""
        with self._lock:
            self._faults.clear()

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request (the ``httpx.MockTransport`` handler)."""
        return respond(self._answer(request))

    def _answer(self, request: httpx.Request) -> httpx.Response | Fault:
        auth = request.headers.get("Authorization", "")
        authorized = auth == f"Bearer {self.api_key}"
        params = dict(request.url.params)
        with self._lock:
            self.requests.append(
                SeenRequest(
                    request.url.path,
                    params,
                    request.headers.get("User-Agent", ""),
                    authorized,
                    request.method,
                )
            )
        match = _PATH.match(request.url.raw_path.decode("ascii").split("?")[0])
        if request.method != "GET" or match is None:
            return _json(404, {"error": "Not Found"})
        if not authorized:
            return _json(401, {"error": "Unauthorized", "message": "Invalid API key"})
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            return fault
        project = unquote(match.group(1))
        branch = params.get("branch", "main")
        pooled_param = params.get("pooled", "false")
        if pooled_param not in ("true", "false"):
            return _json(400, {"error": "pooled must be true or false"})
        pooled = pooled_param == "true"
        with self._lock:
            uris = self._branches.get((project, branch))
            known_project = any(p == project for p, _ in self._branches)
        if uris is None:
            what = "Branch not found" if known_project else "Project not found"
            return _json(404, {"error": what})
        return _json(
            200,
            {"connectionUri": uris[1] if pooled else uris[0], "branch": branch, "pooled": pooled},
        )

    @contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[RunningServer]:
        """Serve this API over real HTTP on loopback until the block exits."""
        server = RunningServer(self, host, port)
        try:
            yield server
        finally:
            server.close()


class Answering(Protocol):
    """A fake API that :class:`RunningServer` can serve (FakeCaseDev, FakeNeon)."""

    def _answer(self, request: httpx.Request) -> httpx.Response | Fault: ...


class _Server(ThreadingHTTPServer):
    """A client that went away mid-request (a test killed it) is not the server's error."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class RunningServer:
    """A fake API (:class:`FakeCaseDev` by default) on a TCP port in a background thread."""

    def __init__(self, api: Answering, host: str, port: int, name: str = "fake-casedev") -> None:
        self.api = api
        handler = _handler_for(api)
        self._httpd = _Server((host, port), handler)
        self._httpd.daemon_threads = True
        bound_host, bound_port = self._httpd.server_address[:2]
        self.base_url = f"http://{bound_host!s}:{bound_port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=name, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving and release the port."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


def _json(status: int, body: object) -> httpx.Response:
    return httpx.Response(
        status, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )


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


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    """``python -m syncd.testing.casedev``: this API on its own, to try syncd without an account.

    Serves the sample project of :mod:`syncd.testing.sample` on 127.0.0.1
    (``--port``, default a free port) under a freshly generated API key,
    prints the base URL, the ``export CASEDEV_API_KEY=...`` line and a syncd
    config between ``---`` and ``...`` whose file sink writes into
    ``--secrets-dir`` (default: a new temporary directory, kept at exit), then
    serves until SIGINT or SIGTERM and returns 0. The key is a throwaway that
    only this process accepts, so printing it is fine.
    """
    # Only the command needs these; the fake itself is imported by every test.
    import yaml  # noqa: PLC0415

    from syncd.daemon.signals import STOP_SIGNALS, Inbox  # noqa: PLC0415
    from syncd.testing.sample import BRANCHES, PROJECT, SampleProject, sample_config  # noqa: PLC0415

    parser = argparse.ArgumentParser(
        prog="python -m syncd.testing.casedev",
        description="Serve a case.dev-compatible API with a sample project, to try syncd.",
    )
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    parser.add_argument(
        "--secrets-dir",
        type=Path,
        help="directory for the sample config's file sink (default: a new temporary one)",
    )
    args = parser.parse_args(argv)
    directory = args.secrets_dir or Path(tempfile.mkdtemp(prefix="syncd-standin-"))
    api = FakeCaseDev("standin_" + secrets.token_urlsafe(24))
    SampleProject(api)
    inbox = Inbox()
    # Signals are routed before the first line is printed: a caller that
    # reacts to it with SIGTERM must not kill the process unhandled.
    inbox.install(STOP_SIGNALS)
    try:
        with api.serve(port=args.port) as server:
            config = yaml.safe_dump(
                sample_config(server.base_url, directory.resolve()), sort_keys=False
            )
            out.write(
                f"case.dev stand-in at {server.base_url}: project {PROJECT}, "
                f"branches {', '.join(BRANCHES)}\n\n"
                f"export CASEDEV_API_KEY={api.api_key}\n\n"
                "# A syncd config for it; save it as syncd.yaml, export the key above and run\n"
                "#   syncd run --once --config syncd.yaml\n"
                f"---\n{config}...\n\n"
                "Serving until Ctrl-C or SIGTERM.\n"
            )
            out.flush()
            while not any(s in STOP_SIGNALS for s in inbox.wait(None)):
                pass
    finally:
        inbox.uninstall()
        inbox.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
