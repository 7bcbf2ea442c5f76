"""The AWS sink's hot read, ``DescribeSecret``, without botocore's per-call machinery.

An unchanged cycle makes one ``DescribeSecret`` per secret and nothing else.
botocore spends about 1.4 ms of CPU on each (event emission, parameter
validation, serialisation, endpoint rules, urllib3), several times what the
request itself needs. :class:`JsonReader` sends the same request (AWS JSON
1.1) over syncd's bounded httpx transport for about a third of that. Only the
transport is its own: botocore signs each request (``SigV4Auth``, see
:func:`signed_headers`) and decides what is retried (:mod:`syncd.sinks.awsretry`).
It reuses what botocore resolved once: the endpoint URL, the region and the
credential provider (which refreshes IRSA, assumed-role and instance-role
credentials itself). Writes, rare by design, stay with botocore.

:func:`equivalent` says when the two paths are interchangeable: no proxy for
the endpoint and no FIPS or dual-stack endpoint (which botocore resolves per
request); a custom CA bundle (``AWS_CA_BUNDLE``, the profile's ``ca_bundle``)
is trusted as botocore trusts it. Otherwise the sink reads through botocore too.

Errors are raised as the botocore exceptions the sink already translates
(``ClientError`` with the parsed code and message, ``EndpointConnectionError``
and friends), so both paths end in the same messages. Attempts follow
botocore's standard retry mode: what it retries (:func:`awsretry.retryable
<syncd.sinks.awsretry.retryable>`) and connection errors are retried with
full-jitter backoff, each attempt paced by
the reads limiter and reported to the observer. A ``Retry-After`` is read by
:mod:`syncd.net.retry` (finite, capped) and pauses the limiter; a pause it does
not wait out ends the call with :class:`~syncd.errors.RateLimited` before any
backoff sleep. The target's deadline (:mod:`syncd.core.timebox`) bounds each
attempt and every wait, and a signal cuts the sleeps short.
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, cast
from urllib.parse import urlsplit

import httpx

from syncd import __version__
from syncd.core import timebox
from syncd.net import bounds as httpbounds
from syncd.net import untrusted
from syncd.net.observe import Outcome, RequestObserver
from syncd.net.ratelimit import TokenBucket
from syncd.net.retry import Backoff, parse_retry_after
from syncd.sinks import awsretry
from syncd.sinks.awsretry import SERVICE

CONTENT_TYPE = "application/x-amz-json-1.1"
#: DescribeSecret answers hold at most ~100 versions and 50 tags: well under this.
MAX_ANSWER_BYTES = 1024 * 1024
#: botocore's standard mode: full jitter, base 1 s, at most 20 s between attempts.
_BACKOFF_BASE = 1.0
_BACKOFF_CAP = 20.0


def equivalent(session: Any, client: Any) -> bool:
    """Whether :class:`JsonReader` sends what botocore would, to the same place, the same way."""
    url = client.meta.endpoint_url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if parts.path not in ("", "/") or parts.query:
        return False
    if client.meta.config.proxies:
        return False
    proxies = urllib.request.getproxies()
    if (parts.scheme in proxies or "all" in proxies) and not urllib.request.proxy_bypass(
        parts.hostname
    ):
        return False
    return not any(
        session.get_config_variable(variable)
        for variable in ("use_fips_endpoint", "use_dualstack_endpoint")
    )


def ssl_context(session: Any) -> ssl.SSLContext | None:
    """Trust what botocore trusts: its ``ca_bundle`` (``AWS_CA_BUNDLE``), else certifi's roots."""
    bundle = session.get_config_variable("ca_bundle")
    return ssl.create_default_context(cafile=bundle) if bundle else None


def signed_headers(
    url: str, headers: Mapping[str, str], body: bytes, credentials: Any, region: str
) -> list[tuple[str, str]]:
    """``headers`` plus botocore's Signature Version 4 of a POST of ``body`` to ``url``.

    botocore's ``SigV4Auth`` signs (adding ``X-Amz-Date``, the session token
    and ``Authorization``) with ``credentials``, its frozen credentials; only
    the transport is syncd's own. Every header given is signed.
    """
    import botocore.auth  # noqa: PLC0415 - the sink imported botocore already
    import botocore.awsrequest  # noqa: PLC0415

    request = botocore.awsrequest.AWSRequest("POST", url, headers=dict(headers), data=body)
    botocore.auth.SigV4Auth(credentials, SERVICE, region).add_auth(request)
    return list(request.headers.items())


class JsonReader:
    """Read-only AWS JSON 1.1 calls to one Secrets Manager endpoint, paced and retried.

    ``credentials`` returns botocore's frozen credentials (refreshed when due)
    or None; ``reads`` is the sink's reads limiter; ``classify`` names an
    error answer's outcome (status, code) for the request observer, and a
    "throttled" one slows the limiter. Safe to use from several
    threads: the transport's connection pool and the limiter are.
    """

    def __init__(
        self,
        *,
        endpoint_url: str,
        region: str,
        credentials: Callable[[], Any],
        reads: TokenBucket,
        timeout: float,
        max_attempts: int,
        name: str,
        classify: Callable[[int, str], Outcome],
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = timebox.sleep,
    ) -> None:
        self.endpoint_url = endpoint_url.rstrip("/") + "/"
        # Parsed once: every request goes to this one URL, and parsing is a tenth of its CPU.
        self._url = httpx.URL(self.endpoint_url)
        self.name = name
        self.observer: RequestObserver | None = None
        self._classify = classify
        self._credentials = credentials
        self._reads = reads
        self._timeout = timeout
        self._timeouts = httpx.Timeout(timeout).as_dict()
        self._backoff = Backoff(attempts=max_attempts, base=_BACKOFF_BASE, cap=_BACKOFF_CAP)
        self._region = region
        self._transport = transport or httpbounds.transport()
        self._sleep = sleep
        self._user_agent = f"syncd/{__version__} httpx/{httpx.__version__}"

    def close(self) -> None:
        """Close the connection pool."""
        self._transport.close()

    def call(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Send ``operation`` with ``params``; the parsed answer, or botocore's exception.

        Raises ``botocore.exceptions.ClientError`` for an error answer (after
        the retries a retryable one gets), ``NoCredentialsError`` without
        credentials, and ``EndpointConnectionError``, ``ConnectTimeoutError``,
        ``ReadTimeoutError`` or ``ConnectionClosedError`` when the endpoint
        cannot be reached.
        """
        body = json.dumps(params, separators=(",", ":")).encode()
        attempt = 0
        while True:
            attempt += 1
            self._reads.acquire()
            try:
                status, headers, raw = self._attempt(operation, body)
            except _Unreachable as exc:
                self._report("unavailable")
                self._reads.check()
                delay = self._backoff.delay(attempt)
                if attempt >= self._backoff.attempts or not timebox.current().fits(delay):
                    raise exc.error from exc.__cause__
                self._sleep(delay)
                continue
            if status == 200:  # noqa: PLR2004 - the one success status of this protocol
                self._report("ok")
                return _json_object(raw, operation)
            error = _error(status, headers, raw)
            code = error["Error"]["Code"]
            outcome = self._classify(status, code)
            self._report(outcome)
            retry_after = parse_retry_after(headers.get("Retry-After"))
            retryable = awsretry.retryable(operation, status, code)
            if outcome == "throttled":  # the sink's word, as on its botocore path
                self._reads.throttled(retry_after)
            elif retryable:
                self._reads.pause(retry_after)
            if not retryable:
                raise _client_error(error, operation)
            # A pause the limiter would not wait out ends the call now, not after a backoff.
            self._reads.check()
            delay = self._backoff.delay(attempt, retry_after)
            if attempt >= self._backoff.attempts or not timebox.current().fits(delay):
                raise _client_error(error, operation)
            self._sleep(delay)

    def _attempt(self, operation: str, body: bytes) -> tuple[int, httpx.Headers, bytes]:
        frozen = self._credentials()
        if frozen is None or not frozen.access_key:
            import botocore.exceptions  # noqa: PLC0415 - the sink imported botocore already

            raise botocore.exceptions.NoCredentialsError
        headers = signed_headers(
            self.endpoint_url,
            {"Content-Type": CONTENT_TYPE, "X-Amz-Target": f"{SERVICE}.{operation}"},
            body,
            frozen,
            self._region,
        )
        headers += (
            ("User-Agent", self._user_agent),
            ("Accept-Encoding", httpbounds.ACCEPT_ENCODING),
        )
        request = httpx.Request(
            "POST",
            self._url,
            headers=headers,
            content=body,
            extensions={"timeout": self._timeouts},
        )
        # The attempt gets its timeout, or what is left of the target's time if less.
        budget = min(self._timeout, timebox.current().left())
        try:
            with httpbounds.deadline(budget):
                response = self._transport.handle_request(request)
                try:
                    return (
                        response.status_code,
                        response.headers,
                        httpbounds.read_body(response, MAX_ANSWER_BYTES),
                    )
                finally:
                    response.close()
        except (httpx.TransportError, httpbounds.DeadlineExceeded) as exc:
            raise _Unreachable(_botocore_error(exc, self.endpoint_url)) from exc
        except (httpbounds.BodyTooLarge, httpbounds.UnsupportedEncoding) as exc:
            # An answer no retry would make smaller or readable: refused at once.
            error = {"Error": {"Code": "InvalidAnswer", "Message": str(exc)}}
            raise _client_error(error, operation) from exc

    def _report(self, outcome: Outcome) -> None:
        if self.observer is not None:
            self.observer.request("sink", self.name, outcome)


class _Unreachable(Exception):
    """Internal: one attempt could not reach the endpoint; carries botocore's exception."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _json_object(raw: bytes, operation: str) -> dict[str, Any]:
    problem = "the answer is not a JSON object"
    try:
        parsed = untrusted.loads(raw) if raw else {}
    except untrusted.TooDeep as exc:
        parsed, problem = None, f"the answer is JSON {exc}"
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        error = {"Error": {"Code": "InvalidAnswer", "Message": problem}}
        raise _client_error(error, operation)
    return parsed


def _error(status: int, headers: httpx.Headers, raw: bytes) -> dict[str, Any]:
    """The error answer as botocore's JSON parser words it: ``{"Error": {Code, Message}}``."""
    text = raw.decode("utf-8", "replace")
    try:
        body = untrusted.loads(raw) if raw else {}
    except ValueError:  # TooDeep included: the text is quoted, flattened, by the sink
        body = None
    if isinstance(body, dict):
        code = str(body.get("__type") or headers.get("x-amzn-ErrorType") or status)
        message = str(body.get("message") or body.get("Message") or "")
    else:
        # Not JSON (a proxy's HTML or XML page): botocore keeps the text as the message.
        code, message = str(headers.get("x-amzn-ErrorType") or status), text
    # "aws.protocoltests#Code:http://internal..." -> "Code"
    code = code.split(":", 1)[0].rpartition("#")[2]
    return {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }


def _client_error(error: dict[str, Any], operation: str) -> Exception:
    import botocore.exceptions  # noqa: PLC0415 - the sink imported botocore already

    # Shaped as botocore's parsed error answer; its TypedDict is only a stub-time type.
    return botocore.exceptions.ClientError(cast(Any, error), operation)


def _botocore_error(exc: Exception, url: str) -> Exception:
    """The botocore exception its own HTTP layer raises for this failure."""
    import botocore.exceptions as errors  # noqa: PLC0415 - the sink imported botocore already

    if isinstance(exc, httpx.ConnectTimeout):
        return errors.ConnectTimeoutError(endpoint_url=url, error=exc)
    if isinstance(exc, (httpx.TimeoutException, httpbounds.DeadlineExceeded)):
        return errors.ReadTimeoutError(endpoint_url=url, error=exc)
    if isinstance(exc, httpx.ConnectError):
        return errors.EndpointConnectionError(endpoint_url=url, error=exc)
    return errors.ConnectionClosedError(endpoint_url=url, error=exc)
