"""Tests for finding a Neon branch's id: by id or exact name, paginated, bounded and cached."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from syncd.errors import ProviderNotFound, ProviderResponseError, ProviderUnavailable
from syncd.net.bounds import MAX_BODY_BYTES
from syncd.providers.neon import BRANCH_ID, BRANCH_LOOKUP_TIMEOUT, BRANCH_PAGE, MAX_BRANCH_PAGES
from syncd.testing.neon import FakeNeon
from tests.support.clock import Clock
from tests.support.neonfake import KEY, MAIN_ID, PROJECT, provider, target


def branch_listings(neon_api: FakeNeon) -> int:
    return sum(1 for r in neon_api.requests if r.path.endswith("/branches"))


def page(branches: list[Any], next_cursor: str | None = None) -> httpx.Response:
    """A branch list answer with Neon's shape."""
    body: dict[str, Any] = {"branches": branches}
    if next_cursor is not None:
        body["pagination"] = {"next": next_cursor, "sort_by": "updated_at"}
    return httpx.Response(200, json=body)


def test_branch_ids_are_cached_for_the_ttl(neon_api: FakeNeon) -> None:
    """Branch names are listed once per project per TTL, not once per fetch."""
    now = [1000.0]
    p = provider(neon_api, clock=lambda: now[0])
    for _ in range(3):
        p.fetch(target())
    assert branch_listings(neon_api) == 1
    now[0] += 61
    p.fetch(target())
    assert branch_listings(neon_api) == 2


def test_concurrent_fetches_share_one_branch_listing(neon_api: FakeNeon) -> None:
    """Many threads resolving one project's branch wait for a single in-flight listing."""

    def slow_listing(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/branches"):
            time.sleep(0.2)
        return neon_api.handle(request)

    p = provider(neon_api, handler=slow_listing)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _i: p.fetch(target()), range(8)))
    assert len(results) == 8
    assert branch_listings(neon_api) == 1


def test_a_branch_id_is_fetched_directly_without_listing(neon_api: FakeNeon) -> None:
    """A target naming its branch by a Neon id (br-...) costs one GET of that branch, no listing."""
    p = provider(neon_api)
    assert BRANCH_ID.fullmatch(MAIN_ID)
    assert p.fetch(target(branch=MAIN_ID)).username == "app"
    assert branch_listings(neon_api) == 0
    assert [r.path for r in neon_api.requests if "/branches/" in r.path and "/roles" not in r.path] == [
        f"/api/v2/projects/{PROJECT}/branches/{MAIN_ID}"
    ]


def test_an_unknown_branch_id_is_not_found_naming_it(neon_api: FakeNeon) -> None:
    """A br-... id Neon answers 404 for is ProviderNotFound naming the branch; nothing is listed."""
    with pytest.raises(ProviderNotFound, match="branch br-quiet-sea-000000 in project"):
        provider(neon_api).fetch(target(branch="br-quiet-sea-000000"))
    assert branch_listings(neon_api) == 0


def test_a_name_is_searched_and_only_an_exact_match_counts(neon_api: FakeNeon) -> None:
    """Searching "main" also finds main-preview-*: only the branch named exactly main is used."""
    previews = neon_api.add_branches(PROJECT, ["main-preview-1", "main-preview-2"])
    p = provider(neon_api)
    assert p.branch_id(target()) == MAIN_ID
    listing = next(r for r in neon_api.requests if r.path.endswith("/branches"))
    assert listing.params == {"search": "main", "limit": str(BRANCH_PAGE)}
    assert p.branch_id(target(branch="main-preview-2")) == previews[1]
    with pytest.raises(ProviderNotFound, match="branch main-preview not found"):
        p.branch_id(target(branch="main-preview"))


def test_pagination_is_followed_to_the_name(neon_api: FakeNeon) -> None:
    """The exact name on the third page is found by passing each page's pagination.next on."""
    neon_api.add_branches(PROJECT, [f"main-preview-{n}" for n in range(2 * BRANCH_PAGE + 10)])
    p = provider(neon_api)
    assert p.branch_id(target()) == MAIN_ID  # the oldest, so last by updated_at
    listings = [r for r in neon_api.requests if r.path.endswith("/branches")]
    assert len(listings) == 3
    assert "cursor" not in listings[0].params
    assert listings[1].params["cursor"] != listings[2].params["cursor"]
    assert all(r.params["search"] == "main" for r in listings)


def test_hundreds_of_branches_resolve_although_the_full_list_is_over_the_cap(
    neon_api: FakeNeon,
) -> None:
    """400 preview branches make the whole list larger than any answer syncd reads; names and ids still resolve."""
    neon_api.add_branches(PROJECT, [f"preview/main-pr-{n}" for n in range(400)])
    whole = neon_api.handle(
        httpx.Request(
            "GET",
            f"https://neon.test/api/v2/projects/{PROJECT}/branches",
            headers={"Authorization": f"Bearer {KEY}"},
        )
    )
    assert len(whole.read()) > MAX_BODY_BYTES
    p = provider(neon_api)
    assert p.fetch(target()).password.get_secret_value() == "oldpw123"
    assert p.fetch(target(branch="dev")).password.get_secret_value() == "devpw123"
    assert p.fetch(target(branch=MAIN_ID, name="by-id")).username == "app"


def test_a_looping_pagination_cursor_is_refused(neon_api: FakeNeon) -> None:
    """A next cursor already followed ends the search with ProviderResponseError, not a loop."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return page([{"id": "br-other-one-000001", "name": "main-x"}], next_cursor="c1")

    with pytest.raises(ProviderResponseError, match="repeats a pagination cursor"):
        provider(neon_api, handler=handler).branch_id(target())
    assert len(seen) == 2


def test_a_search_reads_at_most_max_pages(neon_api: FakeNeon) -> None:
    """An endless run of fresh cursors stops after MAX_BRANCH_PAGES, telling to name the branch by id."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return page([{"id": "br-other-one-000001", "name": "main-x"}], f"c{len(seen)}")

    with pytest.raises(ProviderResponseError, match=r"by its id \(br-"):
        provider(neon_api, handler=handler).branch_id(target())
    assert len(seen) == MAX_BRANCH_PAGES


def test_a_search_ends_when_its_time_is_up(neon_api: FakeNeon) -> None:
    """Pages that each take 4 s end the lookup at BRANCH_LOOKUP_TIMEOUT as ProviderUnavailable."""
    clock = Clock()
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        clock.now += 4.0
        return page([{"id": "br-other-one-000001", "name": "main-x"}], f"c{len(seen)}")

    start = clock.now
    with pytest.raises(ProviderUnavailable, match="ran out of time"):
        provider(neon_api, handler=handler, fake_time=clock).branch_id(target())
    assert len(seen) == BRANCH_LOOKUP_TIMEOUT // 4 + 1
    assert clock.now - start <= BRANCH_LOOKUP_TIMEOUT + 4.0


@pytest.mark.parametrize(
    "answer",
    [
        {"branches": {"id": "br-main-one-000001", "name": "main"}},
        {"branches": [{"name": "main"}]},
        {"branches": [{"id": 7, "name": "main"}]},
        {"branches": ["main"]},
        {"branches": [], "pagination": "next"},
        {"branches": [{"id": "br-a-b-000001", "name": "x"}], "pagination": {"next": 5}},
        {"branches": [{"id": "br-a-b-000001", "name": "x"}], "pagination": {"next": "c" * 5000}},
        {"branches": [{"id": "br-a-b-000001", "name": "x" * 70_000}]},
    ],
    ids=[
        "not-a-list",
        "no-id",
        "id-not-a-string",
        "item-not-an-object",
        "pagination-not-an-object",
        "cursor-not-a-string",
        "cursor-huge",
        "answer-huge",
    ],
)
def test_hostile_branch_pages_are_refused_in_one_line(neon_api: FakeNeon, answer: object) -> None:
    """Malformed, huge or odd branch pages are a one-line ProviderResponseError."""
    body = json.dumps(answer).encode()
    p = provider(neon_api, handler=lambda _r: httpx.Response(200, content=body))
    with pytest.raises(ProviderResponseError) as info:
        p.branch_id(target())
    assert "\n" not in str(info.value) and len(str(info.value)) < 300


def test_an_answer_for_another_branch_id_is_refused(neon_api: FakeNeon) -> None:
    """GET of a branch by id must describe that branch; anything else is ProviderResponseError."""
    body = json.dumps({"branch": {"id": "br-other-one-000001", "name": "main"}}).encode()
    p = provider(neon_api, handler=lambda _r: httpx.Response(200, content=body))
    with pytest.raises(ProviderResponseError, match="does not describe that branch"):
        p.branch_id(target(branch=MAIN_ID))
