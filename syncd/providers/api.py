"""The HTTP client every built-in provider shares: bounded, retrying, rate-limited, translated.

A provider API call is untrusted network I/O with the same rules whoever the
vendor is, so they live here once:

* each attempt runs within one total deadline and reads at most
  :data:`~syncd.net.bounds.MAX_BODY_BYTES` (:mod:`syncd.net.bounds`);
* a shared :class:`~syncd.net.ratelimit.TokenBucket` paces the attempts; a 429
  halves its rate, a ``Retry-After`` on any retryable answer pauses it, and
  an answer whose ``x-ratelimit-remaining-requests`` is 0 pauses it until
  ``x-ratelimit-reset-requests``, so the next request does not earn a 429.
  Both headers are read by :mod:`syncd.net.retry` (finite, capped at
  :data:`~syncd.net.retry.MAX_SERVER_PAUSE`); a pause the limiter will not wait
  out fails the call at once with :class:`~syncd.errors.RateLimited`, without
  a backoff sleep first;
* timeouts, connection errors and refused bodies become our errors here, and
  HTTP statuses become our errors through the caller's ``status_error``
  (only the vendor, and the call, know what a 404 or a 423 means);
* transient errors are retried with :class:`~syncd.net.retry.Backoff`, honouring
  ``Retry-After``; every attempt is reported to the request observer. A call
  may give some statuses their own backoff (``status_backoff``: Neon's reset
  waits out 423 Locked for longer than a read retries a 503), each counting
  its own attempts, and a ``deadline`` that no attempt or wait goes past. The
  target's own deadline (:mod:`syncd.core.timebox`) bounds every call the same way,
  and a signal cuts its sleeps short.

The API key travels in the ``Authorization`` header only and is registered
for redaction by whoever resolved it (:mod:`syncd.config.credentials`). What a
provider does with the body (parse, validate, register secrets) stays in the
provider.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import httpx
import structlog
from pydantic import SecretStr

from syncd import __version__
from syncd.core import breaker, timebox
from syncd.errors import (
    ConfigError,
    ProviderError,
    ProviderResponseError,
    ProviderUnavailable,
    ProviderUnreachable,
)
from syncd.net import bounds as httpbounds
from syncd.net import cause as netcause
from syncd.net.observe import Outcome, RequestObserver, http_outcome
from syncd.net.ratelimit import TokenBucket
from syncd.net.retry import Backoff, parse_reset, parse_retry_after
from syncd.net.untrusted import loads, one_line

log = structlog.get_logger(__name__)

USER_AGENT = f"syncd/{__version__} httpx/{httpx.__version__}"
#: Statuses that say "try again later" at every vendor syncd speaks to.
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
#: "Too Many Requests": the answer that slows the limiter down.
THROTTLED_STATUS = 429
#: Response headers announcing the request budget left and when it resets.
REMAINING_HEADER = "x-ratelimit-remaining-requests"
RESET_HEADER = "x-ratelimit-reset-requests"
_LOOPBACK_NAMES = frozenset({"localhost"})
#: httpx's words for transport failures with no socket error below them.
_TRANSPORT_CAUSES: tuple[tuple[type[BaseException], str], ...] = (
    (httpx.RemoteProtocolError, "the server closed the connection without a valid answer"),
    (httpx.ProxyError, "the proxy refused the connection"),
)

#: Turns a non-2xx answer into our error: ``(response, body) -> error``.
StatusError = Callable[[httpx.Response, bytes], ProviderError]


class ApiClient:
    """Bearer-authenticated JSON requests to one vendor API, under syncd's rules.

    ``vendor`` names the API in messages ("case.dev", "Neon"); ``name`` is the
    provider's config name, used for logs and request metrics. Safe to use from
    several threads (the transport's connection pool is; the bucket is).
    """

    def __init__(
        self,
        vendor: str,
        name: str,
        *,
        api_key: SecretStr,
        base_url: str,
        timeout: float = 10.0,
        backoff: Backoff | None = None,
        bucket: TokenBucket | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = timebox.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.vendor = vendor
        self.name = name
        self.timeout = timeout
        self.backoff = backoff or Backoff()
        self._api_key = api_key
        # Always a limiter: without a configured rate it only adapts to throttling.
        if bucket is None:
            bucket = TokenBucket(None, name=f"{vendor} provider {name}")
        self._bucket = bucket
        self._sleep = sleep
        self._clock = clock
        self._observer: RequestObserver | None = None
        self._base_url = httpx.URL(base_url.rstrip("/"))
        self._prefix = str(self._base_url)
        self._transport = transport or httpbounds.transport()
        self._timeout = httpx.Timeout(timeout).as_dict()
        # Set once, not merged into every request; the key is registered for
        # redaction by whoever resolved it, and httpx never logs headers.
        self._headers = httpx.Headers(
            {
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
                "Accept-Encoding": httpbounds.ACCEPT_ENCODING,
                "Authorization": f"Bearer {api_key.get_secret_value()}",
            }
        )

    @property
    def base_url(self) -> httpx.URL:
        """The API's base URL (it holds no credential: check_base_url refuses those)."""
        return self._base_url

    def observe(self, observer: RequestObserver) -> None:
        """Report every later attempt, retries included, to ``observer``."""
        self._observer = observer

    def close(self) -> None:
        """Close the connection pool."""
        self._transport.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        subject: str,
        status_error: StatusError,
        params: Mapping[str, str] | None = None,
        payload: Any = None,
        action: str = "fetching",
        context: Mapping[str, str] | None = None,
        status_backoff: Mapping[int, Backoff] | None = None,
        deadline: float | None = None,
    ) -> tuple[httpx.Response, bytes]:
        """Send one request, retrying transient failures; return the 2xx answer and its body.

        ``status_error`` words a non-2xx answer (its ``transient`` decides retrying);
        ``subject`` names what is asked for in messages ("project p1"); ``payload``
        is sent as JSON; ``action``
        is the verb of the timeout message; ``context`` adds log fields (say,
        ``target``).

        ``status_backoff`` maps a status to the backoff its transient answers
        are retried with instead of the client's; each backoff counts its own
        attempts, so a call ends after at most the sum of theirs. ``deadline``
        (a ``clock()`` instant, ``time.monotonic()`` unless injected) bounds
        the whole call: each attempt gets at most the time left, and a retry
        whose wait would end past it is not made (the last error is raised).

        Raises:
            ProviderUnavailable: timeouts, connection errors, and whatever
                ``status_error`` calls transient, once the attempts (or the
                time before ``deadline``) are spent.
            ProviderResponseError: the body was too large or oddly encoded.
            ProviderError: any permanent error ``status_error`` returns, at once.

        """
        spent: dict[int | None, int] = {}
        attempt = 0
        while True:
            attempt += 1
            budget = self._budget(deadline, action, subject)
            self._bucket.acquire()
            retry_after: float | None = None
            status: int | None = None
            try:
                response, body = self._attempt(method, path, params, payload, budget)
            except (httpx.TimeoutException, httpbounds.DeadlineExceeded):
                self._report("unavailable")
                error: ProviderError = ProviderUnreachable(
                    f"{self.vendor} timed out {action} {subject} "
                    f"(no complete answer within {budget:.3g}s)"
                )
            except httpx.TransportError as exc:
                self._report("unavailable")
                error = self._unreachable(exc)
            except (httpbounds.BodyTooLarge, httpbounds.UnsupportedEncoding) as exc:
                self._report("error")
                error = ProviderResponseError(f"{self.vendor} answer for {subject} refused: {exc}")
            else:
                self._report(http_outcome(response.status_code))
                reset = self._respect_budget(response)
                if response.is_success:
                    return response, body
                error = status_error(response, body)
                status = response.status_code
                asked = [p for p in (self._pause(response, status, error), reset) if p is not None]
                retry_after = max(asked, default=None)
            log.debug(
                "provider_request_failed",
                provider=self.name,
                **(context or {}),
                attempt=attempt,
                error=str(error),
            )
            if not error.transient:
                raise error
            # A hung server opens its breaker after a few attempts; then stop retrying.
            if isinstance(error, ProviderUnreachable) and not breaker.keep_trying():
                raise error
            # A pause the limiter would not wait out ends the call now, not after a backoff.
            self._bucket.check()
            # The answer picks the backoff, and the attempts are counted per backoff.
            override = status_backoff.get(status) if status_backoff and status else None
            key = status if override else None
            backoff = override or self.backoff
            spent[key] = tries = spent.get(key, 0) + 1
            if tries >= backoff.attempts:
                raise error
            delay = backoff.delay(tries, retry_after)
            if deadline is not None and self._clock() + delay >= deadline:
                raise error
            if not timebox.current().fits(delay):
                raise error
            self._sleep(delay)

    def _budget(self, deadline: float | None, action: str, subject: str) -> float:
        """Seconds the next attempt may take: the timeout, or less when a deadline is near.

        Both the call's ``deadline`` and the target's (:mod:`syncd.core.timebox`) count.
        """
        box = timebox.current()
        box.ensure_time()
        left = box.left()
        if deadline is not None:
            left = min(left, deadline - self._clock())
            if left <= 0:
                raise ProviderUnavailable(
                    f"no time left for {self.vendor} {action} {subject}: its deadline has passed"
                )
        return min(self.timeout, left)

    def _attempt(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        payload: Any,
        budget: float,
    ) -> tuple[httpx.Response, bytes]:
        """One request within ``budget`` seconds: connect, send, headers and body together.

        Straight to the transport: an API call needs none of ``httpx.Client``'s
        redirects, cookies or auth flows, and skipping them (and parsing the URL
        once instead of three times) halves the CPU a request costs.
        """
        url = self._prefix + path
        if params:
            url += "?" + urlencode(params)
        request = httpx.Request(
            method,
            url,
            headers=self._headers,
            json=payload,
            extensions={"timeout": self._timeout},
        )
        with httpbounds.deadline(budget):
            response = self._transport.handle_request(request)
            response.request = request
            try:
                return response, httpbounds.read_body(response)
            finally:
                response.close()

    def _respect_budget(self, response: httpx.Response) -> float | None:
        """Pause the limiter when the API says no request is left before its reset.

        Returns the pause (seconds, capped), or None when the budget is not spent.
        """
        remaining = response.headers.get(REMAINING_HEADER)
        if remaining is None:
            return None
        try:
            left = int(remaining.strip())
        except ValueError:
            return None
        if left > 0:
            return None
        reset = parse_reset(response.headers.get(RESET_HEADER))
        pause = reset if reset is not None else 1.0
        self._bucket.pause(pause)
        return pause

    def _pause(self, response: httpx.Response, status: int, error: ProviderError) -> float | None:
        """Slow or pause the limiter as the error answer asks; its ``Retry-After``, if any.

        A 429 halves the rate; a ``Retry-After`` on an answer worth retrying
        pauses every worker alike, whatever the status (a 503 asks the same).
        """
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status == THROTTLED_STATUS:
            self._bucket.throttled(retry_after)
        elif error.transient:
            self._bucket.pause(retry_after)
        return retry_after

    def _report(self, outcome: Outcome) -> None:
        if self._observer is not None:
            self._observer.request("provider", self.name, outcome)

    def _unreachable(self, exc: httpx.TransportError) -> ProviderUnreachable:
        """The API could not be reached: say where, and why (DNS, refused, TLS, ...)."""
        cause = netcause.describe(exc, self._base_url.host, _TRANSPORT_CAUSES)
        return ProviderUnreachable(f"cannot reach {self.vendor} at {self._base_url} ({cause})")


def check_base_url(
    name: str, base_url: str, *, allow_insecure_http: bool = False, key_hint: str = "api_key_file"
) -> None:
    """Refuse a base URL carrying credentials, or plain HTTP beyond loopback.

    Raises :class:`ConfigError` without echoing the URL (it may hold a key).
    ``key_hint`` says where the API key belongs instead.
    """
    where = f"providers.{name}.base_url"
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL:
        raise ConfigError(f"{where}: not a valid URL") from None
    if url.userinfo:
        raise ConfigError(
            f"{where}: credentials in the URL are not allowed; put the API key in {key_hint}"
        )
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigError(f"{where}: need an http:// or https:// URL with a host")
    if url.scheme == "http" and not allow_insecure_http and not _is_loopback(url.host):
        raise ConfigError(
            f"{where}: plain http:// to {one_line(url.host, 64)} would send the API key "
            f"in clear; use https://, or set providers.{name}.allow_insecure_http: true"
        )


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def error_message(raw: bytes) -> str:
    """The vendor's error text from a JSON body (``message``, ``error`` or ``detail``), or ""."""
    try:
        body = loads(raw)
    except ValueError:  # not JSON, or nested too deep to be an error answer
        return ""
    if isinstance(body, dict):
        for key in ("message", "error", "detail"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return ""
