"""Unit tests for syncd.net.serving: serve in the background, and give the port back on close."""

from __future__ import annotations

import http.client
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from syncd.net.serving import ServingThread


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib signature
        pass


def test_serves_from_a_named_daemon_thread_and_frees_the_port_on_close() -> None:
    """Requests are answered while serving; after close the port can be bound again."""
    serving = ServingThread(ThreadingHTTPServer(("127.0.0.1", 0), _Hello), name="test-serving")
    port = serving.httpd.server_address[1]
    thread = next(t for t in threading.enumerate() if t.name == "test-serving")
    assert thread.daemon and serving.httpd.daemon_threads
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/")
    assert conn.getresponse().read() == b"hello"
    conn.close()
    serving.close()
    assert not thread.is_alive()
    # A listener still open would refuse this bind even with SO_REUSEADDR.
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()
