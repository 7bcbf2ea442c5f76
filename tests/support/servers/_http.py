"""A minimal HTTP call for health checks and admin endpoints, closing its socket every time.

The standard library keeps the helpers free of extra dependencies, and closing
explicitly keeps ``filterwarnings = error`` happy (no ResourceWarning).
"""

from __future__ import annotations

import http.client
from collections.abc import Mapping


def http_request(
    host: str,
    port: int,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, bytes]:
    """Send one request and return ``(status, body)``.

    Raises:
        OSError: the connection failed or timed out.
    """
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()
