"""The case.dev database API provider.

``GET {base_url}/database/v1/projects/{project}/connection?branch=&pooled=``
with ``Authorization: Bearer <key>`` answers ``{connectionUri, branch, pooled}``.
The base URL and key default to ``CASEDEV_BASE_URL`` and ``CASEDEV_API_KEY``,
the variables the official SDK reads.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import quote

import httpx
import structlog
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr

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
from syncd.ratelimit import TokenBucket
from syncd.retry import Backoff, parse_retry_after

log = structlog.get_logger(__name__)

DEFAULT_BASE_URL = "https://api.case.dev"
USER_AGENT = f"syncd/{__version__} httpx/{httpx.__version__}"
_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class CaseDevConfig(BaseModel):
    """The ``providers.<name>`` section for ``type: casedev``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["casedev"] = "casedev"
    base_url: HttpUrl | None = Field(default=None, description="default: $CASEDEV_BASE_URL")
    api_key_file: Path | None = Field(default=None, description="default: $CASEDEV_API_KEY")
    timeout: float = Field(default=10.0, gt=0, le=300)
    max_attempts: int = Field(default=4, ge=1, le=10)
    rate_limit: float | None = Field(default=None, gt=0, description="requests per second")


class CaseDevProvider:
    """Fetches connection strings from case.dev over HTTPS."""

    config_model: ClassVar[type[BaseModel]] = CaseDevConfig

    def __init__(
        self,
        name: str,
        *,
        api_key: SecretStr,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 10.0,
        backoff: Backoff | None = None,
        rate_limit: float | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self._api_key = api_key
        redaction.register(api_key.get_secret_value())
        self._backoff = backoff or Backoff()
        self._bucket = TokenBucket(rate_limit) if rate_limit else None
        self._sleep = sleep
        self._observer: RequestObserver | None = None
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=False,
        )

    @classmethod
    def from_config(cls, name: str, config: Any) -> CaseDevProvider:
        """Build the provider, resolving the base URL and API key from config or env."""
        assert isinstance(config, CaseDevConfig)  # noqa: S101 - the registry validated it
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
        )

    def fetch(self, target: Target) -> ConnectionInfo:
        """Fetch and validate the connection for ``target``; see :class:`Provider`."""
        path = f"/database/v1/projects/{quote(target.project, safe='')}/connection"
        params = {"branch": target.branch, "pooled": "true" if target.pooled else "false"}
        response = self._get(path, params, target)
        return self._parse(response, target)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def observe(self, observer: RequestObserver) -> None:
        """Report every HTTP attempt, retries included, to ``observer`` (see syncd.observe)."""
        self._observer = observer

    def _report(self, outcome: Outcome) -> None:
        if self._observer is not None:
            self._observer.request("provider", self.name, outcome)

    def _get(self, path: str, params: dict[str, str], target: Target) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._api_key.get_secret_value()}"}
        attempt = 0
        while True:
            attempt += 1
            if self._bucket is not None:
                self._bucket.acquire()
            retry_after: float | None = None
            try:
                response = self._client.get(path, params=params, headers=headers)
            except httpx.TimeoutException as exc:
                self._report("unavailable")
                error: ProviderError = ProviderUnavailable(
                    f"case.dev timed out fetching project {target.project} ({type(exc).__name__})"
                )
            except httpx.TransportError as exc:
                self._report("unavailable")
                error = ProviderUnavailable(
                    f"cannot reach case.dev at {self._client.base_url}: {type(exc).__name__}"
                )
            else:
                self._report(http_outcome(response.status_code))
                if response.is_success:
                    return response
                error = _status_error(response, target)
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

    def _parse(self, response: httpx.Response, target: Target) -> ConnectionInfo:
        where = f"case.dev answer for project {target.project} branch {target.branch}"
        try:
            body = response.json()
        except ValueError:
            kind = response.headers.get("Content-Type", "no content type").split(";")[0]
            raise ProviderResponseError(f"{where} is not JSON ({kind})") from None
        if not isinstance(body, dict) or not isinstance(body.get("connectionUri"), str):
            raise ProviderResponseError(f"{where} has no connectionUri string")
        uri: str = body["connectionUri"]
        redaction.register(uri)
        branch = body.get("branch", target.branch)
        pooled = body.get("pooled", target.pooled)
        if branch != target.branch or pooled is not target.pooled:
            raise ProviderResponseError(
                f"{where} is for branch {branch!s:.64} pooled={pooled!s:.8}, not what was asked"
            )
        try:
            conn = ConnectionInfo.parse(
                uri, project=target.project, branch=target.branch, pooled=target.pooled
            )
        except InvalidConnectionURI as exc:
            raise ProviderResponseError(f"{where}: {exc}") from None
        redaction.register(conn.password.get_secret_value())
        return conn


def _status_error(response: httpx.Response, target: Target) -> ProviderError:
    status = response.status_code
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
        if "branch" in _message(response).lower():
            return ProviderNotFound(
                f"branch {target.branch} not found in case.dev project {target.project} (404)"
            )
        return ProviderNotFound(f"project {target.project} not found at case.dev (404)")
    if status in _RETRYABLE_STATUS:
        return ProviderUnavailable(f"case.dev answered {status} for project {target.project}")
    return ProviderResponseError(
        f"case.dev answered {status} for project {target.project}: "
        f"{redaction.scrub(_message(response))[:200] or 'no message'}"
    )


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        for key in ("message", "error", "detail"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return ""
