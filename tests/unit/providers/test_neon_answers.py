"""Tests for reading Neon's answers: statuses as syncd's errors, bodies as bounded JSON objects."""

from __future__ import annotations

import httpx
import pytest

from syncd import redaction
from syncd.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderNotFound,
    ProviderResponseError,
    ProviderUnavailable,
)
from syncd.providers import neon_answers
from syncd.testing.neon import FakeNeon
from tests.support.neonfake import provider, target


def test_unknown_branch_and_project_are_not_found(neon_api: FakeNeon) -> None:
    """A missing branch or project is ProviderNotFound, naming it."""
    p = provider(neon_api)
    with pytest.raises(ProviderNotFound, match="branch nope not found"):
        p.fetch(target(branch="nope"))
    with pytest.raises(ProviderNotFound, match="project other-project-1"):
        p.fetch(target(project="other-project-1"))


@pytest.mark.parametrize("status", [200, 400])
def test_deeply_nested_json_is_refused_in_one_line(neon_api: FakeNeon, status: int) -> None:
    """JSON nested 60,000 deep, as an answer or an error, is a one-line error, not a crash."""
    body = b'{"branches": ' + b"[" * 60_000
    p = provider(neon_api, handler=lambda _r: httpx.Response(status, content=body))
    with pytest.raises(ProviderResponseError) as info:
        p.branch_id(target())
    message = str(info.value)
    assert ("deeper than 32 levels" in message) is (status == 200)
    assert "\n" not in message and len(message) < 300


def answered(status: int, body: bytes = b"") -> httpx.Response:
    request = httpx.Request("GET", "https://neon.test/api/v2/projects/p-1/branches?search=x")
    return httpx.Response(status, content=body, request=request)


@pytest.mark.parametrize(
    ("status", "kind", "text"),
    [
        (401, ProviderAuthError, "rejected the API key"),
        (403, ProviderAuthError, "denied access to project p-1 (403 Forbidden)"),
        (404, ProviderNotFound, "project p-1: not found at Neon (404 from GET"),
        (423, ProviderUnavailable, "423 Locked for project p-1"),
        (503, ProviderUnavailable, "answered 503 for project p-1"),
        (400, ProviderResponseError, "answered 400 for project p-1: bad cursor"),
    ],
)
def test_each_status_is_the_error_it_means(
    status: int, kind: type[ProviderError], text: str
) -> None:
    """401/403 are auth errors, 404 not found, 423 and 5xx unavailable, other statuses a response error."""
    error = neon_answers.status_error(
        answered(status, b'{"message": "bad cursor"}'), b'{"message": "bad cursor"}', "project p-1"
    )
    assert type(error) is kind
    assert text in str(error)


def test_a_404_names_the_url_without_its_query() -> None:
    """A 404 shows the URL asked for, so a wrong base_url can be told from a wrong project id."""
    error = neon_answers.status_error(answered(404), b"", "project p-1")
    assert "https://neon.test/api/v2/projects/p-1/branches)" in str(error)
    assert "search=" not in str(error)


def test_a_404_of_a_role_lookup_is_role_missing() -> None:
    """A role lookup's 404 is RoleMissing: the branch was just found, so the role is what is missing."""
    error = neon_answers.status_error(answered(404), b"", "role app", role_lookup=True)
    assert isinstance(error, neon_answers.RoleMissing)
    assert str(error) == "role app: role not found"


def test_a_known_secret_in_an_error_message_is_masked() -> None:
    """Neon's message is scrubbed before it becomes part of an error."""
    redaction.register("hunter2-secret-pw")
    body = b'{"message": "password hunter2-secret-pw is wrong"}'
    error = neon_answers.status_error(answered(400, body), body, "role app")
    assert "hunter2-secret-pw" not in str(error)


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"[1, 2]", "is not a JSON object"),
        (b"{nope", "is not JSON"),
        (b'"x"', "is not a JSON object"),
    ],
)
def test_only_a_json_object_is_an_answer(raw: bytes, text: str) -> None:
    """An answer that is not a JSON object is a ProviderResponseError naming the answer."""
    with pytest.raises(ProviderResponseError, match=f"^the branch list {text}$"):
        neon_answers.json_object(raw, "the branch list")


def test_a_json_object_is_returned_as_is() -> None:
    """A JSON object answer is returned as its dict."""
    assert neon_answers.json_object(b'{"branch": {"id": "br-a"}}', "x") == {
        "branch": {"id": "br-a"}
    }


def test_a_path_segment_is_quoted_whole() -> None:
    """seg() encodes '/' too, so a name can never reach another endpoint."""
    assert neon_answers.seg("preview/main pr") == "preview%2Fmain%20pr"
