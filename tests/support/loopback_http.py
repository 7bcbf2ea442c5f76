"""GET from a server on loopback (the daemon's health listener), in one call."""

from __future__ import annotations

import http.client


def get(port: int, path: str) -> tuple[int, str]:
    """The status and body of ``GET path`` on 127.0.0.1:``port``, within 5 s."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()
