"""The case.dev database API provider.

``GET {base_url}/database/v1/projects/{project}/connection?branch=&pooled=``
with ``Authorization: Bearer <key>`` answers ``{connectionUri, branch, pooled}``.
The base URL and key default to ``CASEDEV_BASE_URL`` and ``CASEDEV_API_KEY``,
the variables the official SDK reads.

The answer is untrusted input. ``timeout`` bounds each request as a whole
(connect, TLS, sending and every read together), the body is capped at
:data:`~syncd.net.bounds.MAX_BODY_BYTES` on the wire and once
decompressed, and the URI is validated part by part by
:meth:`ConnectionInfo.parse <syncd.core.models.ConnectionInfo.parse>`. Text from the
provider that reaches a message (an error ``message``, a ``branch``) is made
single-line and cut short.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal
from urllib.parse import quote

import httpx
from pydantic import Field, HttpUrl

from syncd import redaction
from syncd.core.models import ConnectionInfo, Target
from syncd.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderNotFound,
    ProviderResponseError,
    ProviderUnavailable,
)
from syncd.net.untrusted import MAX_QUOTED, TooDeep, loads, one_line
from syncd.providers import answers, api
from syncd.providers.api import USER_AGENT
from syncd.providers.base import ProviderFactory
from syncd.providers.httpprovider import HttpProvider, HttpProviderConfig

__all__ = [
    "DEFAULT_BASE_URL",
    "MAX_QUOTED",
    "USER_AGENT",
    "CaseDevConfig",
    "CaseDevProvider",
    "check_base_url",
    "one_line",
]

DEFAULT_BASE_URL = "https://api.case.dev"


class CaseDevConfig(HttpProviderConfig):
    """The ``providers.<name>`` section for ``type: casedev``."""

    type: Literal["casedev"] = "casedev"
    base_url: HttpUrl | None = Field(default=None, description="default: $CASEDEV_BASE_URL")
    api_key_file: Path | None = Field(default=None, description="default: $CASEDEV_API_KEY")
    rate_limit: float | None = Field(
        default=None, gt=0, description="requests per second (default: adapt to the API only)"
    )
    burst: float | None = Field(default=None, ge=1, description="default: rate_limit")


class CaseDevProvider(HttpProvider):
    """Fetches connection strings from case.dev over HTTPS."""

    config_model: ClassVar[type[CaseDevConfig]] = CaseDevConfig
    vendor = "case.dev"
    key_env = "CASEDEV_API_KEY"
    credential = "casedev_api_key"
    default_base_url = DEFAULT_BASE_URL
    base_url_env = "CASEDEV_BASE_URL"

    def fetch(self, target: Target) -> ConnectionInfo:
        """Fetch and validate the connection for ``target``; see :class:`Provider`."""
        path = f"/database/v1/projects/{quote(target.project, safe='')}/connection"
        params = {"branch": target.branch, "pooled": "true" if target.pooled else "false"}
        response, body = self._api.request(
            "GET",
            path,
            subject=f"project {target.project}",
            params=params,
            status_error=lambda response, body: _status_error(response, body, target),
            context={"target": target.name},
        )
        return self._parse(response, body, target)

    def _parse(self, response: httpx.Response, raw: bytes, target: Target) -> ConnectionInfo:
        where = f"case.dev answer for project {target.project} branch {target.branch}"
        try:
            body = loads(raw)
        except TooDeep as exc:
            raise ProviderResponseError(f"{where} is JSON {exc}") from None
        except ValueError:
            kind = response.headers.get("Content-Type", "no content type").split(";")[0]
            raise ProviderResponseError(f"{where} is not JSON ({one_line(kind, 64)})") from None
        if not isinstance(body, dict) or not isinstance(body.get("connectionUri"), str):
            raise ProviderResponseError(f"{where} has no connectionUri string")
        uri: str = body["connectionUri"]
        conn = answers.connection_of(self.name, uri, target, where)
        branch = body.get("branch", target.branch)
        pooled = body.get("pooled", target.pooled)
        if branch != target.branch or pooled is not target.pooled:
            raise ProviderResponseError(
                f"{where} is for branch {one_line(str(branch), 64)} "
                f"pooled={one_line(str(pooled), 8)}, not what was asked"
            )
        return conn


#: mypy checks the plugin's shape here, as a third-party plugin author would.
_FACTORY: ProviderFactory[CaseDevConfig] = CaseDevProvider


def check_base_url(name: str, base_url: str, *, allow_insecure_http: bool = False) -> None:
    """Refuse a base URL carrying credentials, or plain HTTP beyond loopback.

    Raises :class:`ConfigError` without echoing the URL (it may hold a key).
    """
    api.check_base_url(
        name,
        base_url,
        allow_insecure_http=allow_insecure_http,
        key_hint="CASEDEV_API_KEY or api_key_file",
    )


def _status_error(response: httpx.Response, body: bytes, target: Target) -> ProviderError:
    status = response.status_code
    message = api.error_message(body)
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
    if status in api.RETRYABLE_STATUS:
        return ProviderUnavailable(f"case.dev answered {status} for project {target.project}")
    return ProviderResponseError(
        f"case.dev answered {status} for project {target.project}: "
        f"{one_line(redaction.scrub(message)) or 'no message'}"
    )
