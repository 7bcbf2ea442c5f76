"""The case.dev database API provider.

``GET {base_url}/database/v1/projects/{project}/connection?branch=&pooled=``
with ``Authorization: Bearer <key>`` answers ``{connectionUri, branch, pooled}``.
The base URL and key default to ``CASEDEV_BASE_URL`` and ``CASEDEV_API_KEY``,
the variables the official SDK reads.

The answer is untrusted input. ``timeout`` bounds each request as a whole
(connect, TLS, sending and every read together), the body is capped at
:data:`~syncd.providers.httpbounds.MAX_BODY_BYTES` on the wire and once
decompressed, and the URI is validated part by part by
:meth:`ConnectionInfo.parse <syncd.models.ConnectionInfo.parse>`. Text from the
provider that reaches a message (an error ``message``, a ``branch``) is made
single-line and cut short.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Literal
from urllib.parse import quote

import httpx
import structlog
from pydantic import Field, HttpUrl, SecretStr

from syncd import __version__, credentials, redaction
from syncd.errors import (
    ConfigError,
    ProviderAuthError,
    ProviderError,
    ProviderNotFound,
    ProviderResponseError,
    ProviderUnavailable,
)
from syncd.models import ConnectionInfo, InvalidConnectionURI, Target
from syncd.observe import Outcome, RequestObserver, http_outcome
from syncd.providers import httpbounds
from syncd.providers.base import ProviderFactory
from syncd.ratelimit import TokenBucket
from syncd.retry import Backoff, parse_retry_after
from syncd.strict import PluginConfig

log = structlog.get_logger(__name__)

DEFAULT_BASE_URL = "https://api.case.dev"
USER_AGENT = f"syncd/{__version__} httpx/{httpx.__version__}"
_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_LOOPBACK_NAMES = frozenset({"localhost"})
# Control characters, including the C1 set, and Unicode line/paragraph separators.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
#: How much provider text (an error message, a branch) a message may quote.
MAX_QUOTED = 200


class CaseDevConfig(PluginConfig):
    """The ``providers.<name>`` section for ``type: casedev``."""

    type: Literal["casedev"] = "casedev"
    base_url: HttpUrl | None = Field(default=None, description="default: $CASEDEV_BASE_URL")
    api_key_file: Path | None = Field(default=None, description="default: $CASEDEV_API_KEY")
    timeout: float = Field(default=10.0, gt=0, le=300)
    max_attempts: int = Field(default=4, ge=1, le=10)
    rate_limit: float | None = Field(default=None, gt=0, description="requests per second")
    allow_insecure_http: bool = Field(
        default=False, description="allow http:// to a host that is not loopback"
    )


class CaseDevProvider:
    """Fetches connection strings from case.dev over HTTPS."""

    config_model: ClassVar[type[CaseDevConfig]] = CaseDevConfig

    def __init__(
        self,
        name: str,
        *,
        api_key: SecretStr,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 10.0,
        backoff: Backoff | None = None,
        rate_limit: float | None = None,
        allow_insecure_http: bool = False,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        check_base_url(name, base_url, allow_insecure_http=allow_insecure_http)
        self.name = name
        self._timeout = timeout
        self._api_key = api_key
        redaction.register(api_key.get_secret_value(), pinned=True)
        self._backoff = backoff or Backoff()
        self._bucket = TokenBucket(rate_limit) if rate_limit else None
        self._sleep = sleep
        self._observer: RequestObserver | None = None
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout),
            transport=transport or httpbounds.transport(),
            headers={
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
                "Accept-Encoding": httpbounds.ACCEPT_ENCODING,
            },
            follow_redirects=False,
        )

    @classmethod
    def from_config(cls, name: str, config: CaseDevConfig) -> CaseDevProvider:
        """Build the provider, resolving the base URL and API key from config or env."""
        api_key = credentials.resolve(
            "case.dev API key",
            file=config.api_key_file,
            env_var="CASEDEV_API_KEY",
            credential="casedev_api_key",
        )
        if api_key is None:
            raise ConfigError(
                f"providers.{name}: no case.dev API key; set CASEDEV_API_KEY, "
                f"providers.{name}.api_key_file, or a 'casedev_api_key' systemd credential"
            )
        base_url = str(config.base_url or os.environ.get("CASEDEV_BASE_URL") or DEFAULT_BASE_URL)
        return cls(
            name,
            api_key=api_key,
            base_url=base_url,
            timeout=config.timeout,
            backoff=Backoff(attempts=config.max_attempts),
            rate_limit=config.rate_limit,
            allow_insecure_http=config.allow_insecure_http,
        )

    def fetch(self, target: Target) -> ConnectionInfo:
        """Fetch and validate the connection for ``target``; see :class:`Provider`."""
        path = f"/database/v1/projects/{quote(target.project, safe='')}/connection"
        params = {"branch": target.branch, "pooled": "true" if target.pooled else "false"}
        response, body = self._get(path, params, target)
        return self._parse(response, body, target)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def observe(self, observer: RequestObserver) -> None:
        """Report every HTTP attempt, retries included, to ``observer`` (see syncd.observe)."""
        self._observer = observer

    def _report(self, outcome: Outcome) -> None:
        if self._observer is not None:
            self._observer.request("provider", self.name, outcome)

    def _get(
        self, path: str, params: dict[str, str], target: Target
    ) -> tuple[httpx.Response, bytes]:
        headers = {"Authorization": f"Bearer {self._api_key.get_secret_value()}"}
        attempt = 0
        while True:
            attempt += 1
            if self._bucket is not None:
                self._bucket.acquire()
            retry_after: float | None = None
            try:
                response, body = self._attempt(path, params, headers)
            except (httpx.TimeoutException, httpbounds.DeadlineExceeded):
                self._report("unavailable")
                error: ProviderError = ProviderUnavailable(
                    f"case.dev timed out fetching project {target.project} "
                    f"(no complete answer within {self._timeout:g}s)"
                )
            except httpx.TransportError as exc:
                self._report("unavailable")
                error = ProviderUnavailable(
                    f"cannot reach case.dev at {self._client.base_url}: {type(exc).__name__}"
                )
            except (httpbounds.BodyTooLarge, httpbounds.UnsupportedEncoding) as exc:
                self._report("error")
                error = ProviderResponseError(
                    f"case.dev answer for project {target.project} refused: {exc}"
                )
            else:
                self._report(http_outcome(response.status_code))
                if response.is_success:
                    return response, body
                error = _status_error(response, body, target)
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            log.debug(
                "provider_request_failed",
                provider=self.name,
                target=target.name,
                attempt=attempt,
                error=str(error),
            )
            if not error.transient or attempt >= self._backoff.attempts:
                raise error
            self._sleep(self._backoff.delay(attempt, retry_after))

    def _attempt(
        self, path: str, params: dict[str, str], headers: dict[str, str]
    ) -> tuple[httpx.Response, bytes]:
        """One request within one deadline: connect, send, headers and body together."""
        with httpbounds.deadline(self._timeout):
            request = self._client.build_request("GET", path, params=params, headers=headers)
            response = self._client.send(request, stream=True)
            try:
                return response, httpbounds.read_body(response)
            finally:
                response.close()

    def _parse(self, response: httpx.Response, raw: bytes, target: Target) -> ConnectionInfo:
        where = f"case.dev answer for project {target.project} branch {target.branch}"
        try:
            body = json.loads(raw)
        except ValueError:
            kind = response.headers.get("Content-Type", "no content type").split(";")[0]
            raise ProviderResponseError(f"{where} is not JSON ({one_line(kind, 64)})") from None
        if not isinstance(body, dict) or not isinstance(body.get("connectionUri"), str):
            raise ProviderResponseError(f"{where} has no connectionUri string")
        uri: str = body["connectionUri"]
        redaction.register(uri)
        branch = body.get("branch", target.branch)
        pooled = body.get("pooled", target.pooled)
        if branch != target.branch or pooled is not target.pooled:
            raise ProviderResponseError(
                f"{where} is for branch {one_line(str(branch), 64)} "
                f"pooled={one_line(str(pooled), 8)}, not what was asked"
            )
        try:
            conn = ConnectionInfo.parse(
                uri, project=target.project, branch=target.branch, pooled=target.pooled
            )
        except InvalidConnectionURI as exc:
            raise ProviderResponseError(f"{where}: {exc}") from None
        redaction.register(conn.password.get_secret_value())
        redaction.register(conn.uri.get_secret_value())
        return conn


#: mypy checks the plugin's shape here, as a third-party plugin author would.
_FACTORY: ProviderFactory[CaseDevConfig] = CaseDevProvider


def one_line(text: str, limit: int = MAX_QUOTED) -> str:
    """``text`` as one line of at most ``limit`` characters, safe to quote in a message."""
    flat = _UNPRINTABLE.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def check_base_url(name: str, base_url: str, *, allow_insecure_http: bool = False) -> None:
    """Refuse a base URL carrying credentials, or plain HTTP beyond loopback.

    Raises :class:`ConfigError` without echoing the URL (it may hold a key).
    """
    where = f"providers.{name}.base_url"
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL:
        raise ConfigError(f"{where}: not a valid URL") from None
    if url.userinfo:
        raise ConfigError(
            f"{where}: credentials in the URL are not allowed; put the API key in "
            "CASEDEV_API_KEY or api_key_file"
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


def _status_error(response: httpx.Response, body: bytes, target: Target) -> ProviderError:
    status = response.status_code
    message = _message(body)
    if status == 401:  # noqa: PLR2004 - HTTP status codes read better as numbers
        return ProviderAuthError(
            "case.dev rejected the API key (401 Unauthorized): invalid API key"
        )
    if status == 403:  # noqa: PLR2004
        return ProviderAuthError(
            f"case.dev denied access to project {target.project} (403 Forbidden); "
            "check the API key's permissions"
        )
    if status == 404:  # noqa: PLR2004
        # The URL names no secret (the key travels in a header): show it, so a
        # wrong base_url path is not mistaken for a wrong project id.
        url = response.request.url.copy_with(query=None)
        if "branch" in message.lower():
            return ProviderNotFound(
                f"branch {target.branch} not found in case.dev project {target.project} "
                f"(404 from GET {url})"
            )
        return ProviderNotFound(
            f"project {target.project} not found at case.dev (404 from GET {url}); "
            "if every project fails, check base_url"
        )
    if status in _RETRYABLE_STATUS:
        return ProviderUnavailable(f"case.dev answered {status} for project {target.project}")
    return ProviderResponseError(
        f"case.dev answered {status} for project {target.project}: "
        f"{one_line(redaction.scrub(message)) or 'no message'}"
    )


def _message(raw: bytes) -> str:
    try:
        body = json.loads(raw)
    except ValueError:
        return ""
    if isinstance(body, dict):
        for key in ("message", "error", "detail"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return ""
