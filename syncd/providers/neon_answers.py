"""How Neon's answers are read: HTTP statuses as syncd's errors, bodies as JSON objects.

Shared by the Neon provider's modules (:mod:`syncd.providers.neon`, its branch
lookup and its password resets), so that a 404 or a 423 reads the same
whichever endpoint answered it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from syncd import redaction
from syncd.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderNotFound,
    ProviderResponseError,
    ProviderUnavailable,
)
from syncd.net.untrusted import TooDeep, loads, one_line
from syncd.providers import api

#: "Locked": a conflicting operation is running on the project.
LOCKED = 423


class RoleMissing(ProviderNotFound):
    """A role lookup answered 404 for the role (not the project or branch)."""


def seg(value: str) -> str:
    """``value`` as one URL path segment."""
    return quote(value, safe="")


def json_object(raw: bytes, what: str) -> dict[str, Any]:
    """The JSON object of an answer; anything else is refused, ``what`` naming the answer."""
    try:
        body = loads(raw)
    except TooDeep as exc:
        raise ProviderResponseError(f"{what} is JSON {exc}") from None
    except ValueError:
        raise ProviderResponseError(f"{what} is not JSON") from None
    if not isinstance(body, dict):
        raise ProviderResponseError(f"{what} is not a JSON object")
    return body


def status_error(
    response: httpx.Response, body: bytes, where: str, *, role_lookup: bool = False
) -> ProviderError:
    """A non-2xx answer about ``where`` as our error (a role lookup's 404: RoleMissing)."""
    status = response.status_code
    message = api.error_message(body)
    if status == 401:  # noqa: PLR2004 - HTTP status codes read better as numbers
        return ProviderAuthError("Neon rejected the API key (401 Unauthorized)")
    if status == 403:  # noqa: PLR2004
        return ProviderAuthError(
            f"Neon denied access to {where} (403 Forbidden); check the API key's permissions"
        )
    if status == 404:  # noqa: PLR2004
        return _not_found(response, message, where, role_lookup=role_lookup)
    if status == LOCKED:
        return ProviderUnavailable(
            f"Neon answered 423 Locked for {where}: another operation is running on the project"
        )
    if status in api.RETRYABLE_STATUS:
        return ProviderUnavailable(f"Neon answered {status} for {where}")
    return ProviderResponseError(
        f"Neon answered {status} for {where}: {one_line(redaction.scrub(message)) or 'no message'}"
    )


def _not_found(
    response: httpx.Response, message: str, where: str, *, role_lookup: bool
) -> ProviderNotFound:
    if role_lookup:  # the branch was just resolved: a 404 here is the role's
        return RoleMissing(f"{where}: role not found")
    # The URL names no secret (the key travels in a header): showing it tells a
    # wrong base_url from a wrong project id.
    url = response.request.url.copy_with(query=None)
    said = f": {one_line(redaction.scrub(message), 120)}" if message else ""
    return ProviderNotFound(
        f"{where}: not found at Neon (404 from {response.request.method} {url}{said}); "
        "if every project fails, check base_url"
    )
