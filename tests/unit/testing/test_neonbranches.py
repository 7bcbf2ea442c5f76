"""Unit tests for syncd.testing.neonbranches: branch ids, the branch object and the documented listing."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from syncd.testing.neonbranches import Branch, branch_list, error, ok, role_json

PROJECT = "proj"
ID = re.compile(r"br-[a-z]+-[a-z]+-[0-9]{6}")


def _branches(names: list[str]) -> list[Branch]:
    root = Branch.numbered(1, names[0], {"db"}, {"app": "pw"}, parent_id=None)
    rest = [
        Branch.numbered(n, name, set(), {}, parent_id=root.id)
        for n, name in enumerate(names[1:], start=2)
    ]
    return [root, *rest]


def _names(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [b["name"] for b in answer.json()["branches"]]


def test_numbered_branches_get_neon_shaped_ids_a_second_apart() -> None:
    """A numbered branch's id is br-<adjective>-<noun>-<n>, unless one is given; n seconds after the epoch."""
    first = Branch.numbered(1, "main", set(), {}, parent_id=None)
    second = Branch.numbered(2, "dev", set(), {}, parent_id=first.id)
    assert ID.fullmatch(first.id) and ID.fullmatch(second.id) and first.id != second.id
    assert first.id.endswith("-000001")
    assert (first.created_at, second.created_at) == ("2025-01-01T00:00:01Z", "2025-01-01T00:00:02Z")
    given = Branch.numbered(3, "x", set(), {}, parent_id=None, branch_id="br-given-id-1")
    assert given.id == "br-given-id-1"


def test_only_the_root_branch_is_primary_and_its_object_is_neon_sized() -> None:
    """The root branch is primary and default with no parent; a child names its parent; ~0.7 KB each."""
    root, child = _branches(["main", "dev"])
    root_json, child_json = root.as_json(PROJECT), child.as_json(PROJECT)
    assert [root_json[k] for k in ("primary", "default", "parent_id")] == [True, True, None]
    assert (child_json["primary"], child_json["parent_id"]) == (False, root.id)
    assert child_json["project_id"] == PROJECT and child_json["current_state"] == "ready"
    assert 500 < len(json.dumps(child_json)) < 1000


def test_the_branch_object_and_role_object_never_carry_a_password() -> None:
    """Neither as_json nor role_json mentions a role's password."""
    branch = Branch.numbered(1, "main", {"db"}, {"app": "s3cret-pw"}, parent_id=None)
    role = role_json(branch, "app")
    assert role == {"branch_id": branch.id, "name": "app", "protected": False}
    assert "s3cret-pw" not in json.dumps(branch.as_json(PROJECT)) + json.dumps(role)
    assert "s3cret-pw" not in repr(branch)


def test_search_matches_name_or_id_case_insensitively_newest_first() -> None:
    """search keeps branches whose name or id contains it, any case; the default order is newest first."""
    branches = _branches(["main", "Main-preview", "dev"])
    assert _names(branch_list(PROJECT, branches, {"search": "MAIN"})) == ["Main-preview", "main"]
    assert _names(branch_list(PROJECT, branches, {"search": branches[2].id.upper()})) == ["dev"]
    assert _names(branch_list(PROJECT, branches, {})) == ["dev", "Main-preview", "main"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"sort_by": "name", "sort_order": "asc"}, ["a", "b", "c"]),
        ({"sort_by": "name"}, ["c", "b", "a"]),
        ({"sort_by": "created_at", "sort_order": "asc"}, ["b", "c", "a"]),
    ],
)
def test_sort_by_and_sort_order_are_honoured(params: dict[str, str], expected: list[str]) -> None:
    """sort_by name or a date, in sort_order (default desc), decides the listing's order."""
    assert _names(branch_list(PROJECT, _branches(["b", "c", "a"]), params)) == expected


def test_pages_follow_the_cursor_until_an_empty_page() -> None:
    """With limit, each non-empty page carries a next cursor; following them lists every branch once."""
    branches = _branches([f"b{n}" for n in range(7)])
    seen: list[str] = []
    params: dict[str, str] = {"limit": "3"}
    pages = 0
    while True:
        body: dict[str, Any] = branch_list(PROJECT, branches, params).json()
        pages += 1
        if not body["branches"]:
            assert "next" not in body["pagination"]
            break
        assert len(body["branches"]) <= 3
        seen += [b["name"] for b in body["branches"]]
        params = {"limit": "3", "cursor": body["pagination"]["next"]}
    assert pages == 4  # 3 + 3 + 1, then the empty page
    assert seen == [f"b{n}" for n in reversed(range(7))]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "10001"},
        {"limit": "ten"},
        {"sort_by": "size"},
        {"sort_order": "up"},
        {"limit": "2", "cursor": "not-base64!"},
        {"limit": "2", "cursor": "WzFd"},  # base64 of [1]: no (value, id) pair
    ],
)
def test_malformed_listing_parameters_answer_400(params: dict[str, str]) -> None:
    """A malformed limit, sort_by, sort_order or cursor is answered 400 with Neon's error shape."""
    answer = branch_list(PROJECT, _branches(["main", "dev"]), params)
    assert answer.status_code == 400
    assert set(answer.json()) == {"code", "message"}


def test_ok_and_error_have_neons_shapes() -> None:
    """ok answers 200 with the body as JSON; error answers the status with code and message."""
    assert ok({"a": 1}).status_code == 200 and ok({"a": 1}).json() == {"a": 1}
    refused = error(404, "branch not found")
    assert refused.status_code == 404
    assert refused.json() == {"code": "", "message": "branch not found"}
    assert refused.headers["Content-Type"] == "application/json"
