"""A hostile server on loopback that answers every request with "go away for a very long time".

It stands in for case.dev, Vault or AWS Secrets Manager alike: whatever the
method and path, the answer is the one it was built with (a 429 with
``Retry-After: 99999999``, a ThrottlingException, case.dev's
``x-ratelimit-*`` headers). It counts the requests and can be waited on for
the first one, so a test knows when syncd is sleeping in the pause it asked for.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.servers.loopback import LoopbackServer

#: The bodies each impersonated API sends with its throttling answer.
CASEDEV_BODY = b'{"message":"Too many requests"}'
VAULT_BODY = b'{"errors":["request path \\"secret/\\": rate limit quota exceeded"]}'
AWS_BODY = b'{"__type":"ThrottlingException","message":"Rate exceeded"}'
AWS_CONTENT_TYPE = "application/x-amz-json-1.1"


class PausingServer:
    """Answers every request with ``status``, ``headers`` and ``body``; counts what it got."""

    def __init__(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        content_type: str = "application/json",
    ) -> None:
        self.requests = 0
        self.paths: list[str] = []
        self._first = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with server._lock:
                    server.requests += 1
                    server.paths.append(self.path)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                server._first.set()

            do_GET = do_POST = do_PUT = do_DELETE = do_LIST = answer  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                pass

        self._server = LoopbackServer(Handler)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return self._server.url

    def wait_for_request(self, timeout: float) -> bool:
        """Block until the first request was answered (or ``timeout`` passed)."""
        return self._first.wait(timeout)

    def __enter__(self) -> PausingServer:
        self._server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.__exit__(*exc)
