"""An in-process HTTP server on a free loopback port, for tests that script a server's answers.

Bound at construction (so its address is known before it serves), served from
a daemon thread while entered, and shut down, closed and joined on exit, so no
socket outlives the test (``filterwarnings = error`` turns a leak into a failure).
"""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.servers.ports import LOOPBACK


class LoopbackServer:
    """``handler`` served on ``127.0.0.1:<free port>``, over TLS when given a server context."""

    def __init__(
        self, handler: type[BaseHTTPRequestHandler], *, tls: ssl.SSLContext | None = None
    ) -> None:
        self.httpd = ThreadingHTTPServer((LOOPBACK, 0), handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.scheme = "http" if tls is None else "https"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self.httpd.server_port)

    @property
    def url(self) -> str:
        """``http(s)://127.0.0.1:<port>``, without a trailing slash."""
        return f"{self.scheme}://{LOOPBACK}:{self.port}"

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join()
