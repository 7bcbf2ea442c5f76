"""Every HTTP attempt of the Vault sink paced by one shared rate limiter.

The limiter is :class:`~syncd.net.ratelimit.TokenBucket`.

hvac sends everything through one ``requests.Session``: KV reads and writes,
logins, token lookups, renewals and revocation, and each hop of a redirect
from a standby node. A transport adapter mounted on that session is the one
place that sees every attempt, so the limiter lives there and not in each call.

What the answers do to the bucket:

* **429** (a Vault/OpenBao ``sys/quotas/rate-limit`` quota refused the request):
  :meth:`~syncd.net.ratelimit.TokenBucket.throttled` halves the rate and pauses for
  ``Retry-After``. The sink retries the refused call itself (``VaultSink._call``),
  and that retry waits here like every other attempt.
* **503** (sealed node, no active node, a proxy in front that is overloaded):
  not a rate signal, so the rate is kept; the failure is transient and the
  target is retried early by the daemon. A ``Retry-After`` on it still pauses
  the bucket, since it asks every worker alike to hold off.

``Retry-After`` is read by :func:`syncd.net.retry.parse_retry_after`: finite, at
most :data:`~syncd.net.retry.MAX_SERVER_PAUSE`. A pause the bucket does not wait
out (one at that cap, or one past the target's deadline) makes the next
``send`` raise :class:`~syncd.errors.RateLimited` before anything is sent;
it passes through hvac and ``requests`` untouched, so the sink's call fails
with it.
"""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter

from syncd.net.ratelimit import TokenBucket
from syncd.net.retry import parse_retry_after
from syncd.sinks.base import MAX_CONCURRENCY

TOO_MANY_REQUESTS = 429
UNAVAILABLE = 503


class PacedAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` that takes a slot from ``bucket`` before each send."""

    def __init__(self, bucket: TokenBucket) -> None:
        super().__init__(pool_maxsize=MAX_CONCURRENCY)  # one connection per worker
        self.bucket = bucket

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        """Wait for the bucket, send, and let a 429 (or a 503's ``Retry-After``) slow it."""
        self.bucket.acquire()
        response = super().send(request, *args, **kwargs)
        status = response.status_code
        if status == TOO_MANY_REQUESTS:
            self.bucket.throttled(parse_retry_after(response.headers.get("Retry-After")))
        elif status == UNAVAILABLE:
            self.bucket.pause(parse_retry_after(response.headers.get("Retry-After")))
        return response


def pace(session: requests.Session, bucket: TokenBucket) -> None:
    """Mount a :class:`PacedAdapter` on ``session`` for ``http://`` and ``https://``."""
    adapter = PacedAdapter(bucket)
    for prefix in ("https://", "http://"):
        replaced = session.adapters.get(prefix)
        session.mount(prefix, adapter)
        if replaced is not None:
            replaced.close()
