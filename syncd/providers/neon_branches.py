"""Neon branch ids: a target names its branch by id or by name; Neon's endpoints want the id.

``GET /projects/{id}/branches/{branch_id}`` answers ``{branch: {id, name, ...}}``
and ``GET /projects/{id}/branches?search=&limit=&cursor=`` answers
``{branches: [{id, name, ...}], pagination: {next}}``. An id (``br-`` and
Neon's id shape, :data:`BRANCH_ID`) is checked with one GET. A name is
searched for (Neon matches any part of a name or an id) and only an exact
match is kept, following ``pagination.next`` :data:`BRANCH_PAGE` branches at a
time, so that each answer stays well under the 64 KiB cap, for at most
:data:`MAX_BRANCH_PAGES` pages and :data:`BRANCH_LOOKUP_TIMEOUT` seconds. The
whole list is never read: a few hundred preview branches make it larger than
any answer syncd accepts. An id is cached per project and branch for
:data:`BRANCH_TTL` seconds (about one cycle), and only one lookup per branch is
in flight however many targets ask at once.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

from syncd.core.models import Target
from syncd.errors import ProviderNotFound, ProviderResponseError, ProviderUnavailable
from syncd.providers.api import ApiClient
from syncd.providers.neon_answers import json_object, seg, status_error

#: How long a branch's id, looked up by name or checked, is reused (about one cycle).
BRANCH_TTL = 60.0
#: Neon's branch id: ``br-``, two words and a suffix (``br-purple-base-zayzqzt8``,
#: or older ``br-wispy-dew-591433``), the shape Neon's CLI tells ids from names by.
BRANCH_ID = re.compile(r"br-[a-z]+-[a-z]+-[a-z0-9]{6,8}")
#: Branches asked for per page. Neon describes a branch in some 25 fields, about
#: 0.7 KB: 50 make about 35 KiB, half the 64 KiB answer cap, with room for long names.
BRANCH_PAGE = 50
#: Pages a name search may read (2,000 branches matching the name) before it is
#: refused: a name that common is better given as the branch's id.
MAX_BRANCH_PAGES = 40
#: Seconds a branch lookup may take, every page and retry together.
BRANCH_LOOKUP_TIMEOUT = 30.0
#: The longest pagination cursor accepted (Neon's are short and opaque).
MAX_CURSOR_CHARS = 1024


class Branches:
    """Branch ids of Neon targets, looked up through ``api`` and cached; thread-safe."""

    def __init__(
        self, api: ApiClient, clock: Callable[[], float], ttl: float = BRANCH_TTL
    ) -> None:
        self._api = api
        self._clock = clock
        self._cache = _BranchCache(ttl, clock)

    def id_of(self, target: Target, deadline: float | None = None) -> str:
        """The id of ``target``'s branch; see :meth:`NeonProvider.branch_id`."""
        key = (target.project, target.branch)
        return self._cache.get(key, lambda: self._lookup_branch(target, deadline))

    def _lookup_branch(self, target: Target, deadline: float | None) -> str:
        limit = self._clock() + BRANCH_LOOKUP_TIMEOUT
        until = limit if deadline is None else min(deadline, limit)
        if BRANCH_ID.fullmatch(target.branch):
            return self._get_branch(target, until)
        return self._search_branch(target, until)

    def _get_branch(self, target: Target, deadline: float) -> str:
        where = f"branch {target.branch} in project {target.project}"
        _, raw = self._api.request(
            "GET",
            f"/projects/{seg(target.project)}/branches/{seg(target.branch)}",
            subject=where,
            status_error=lambda r, b: status_error(r, b, where),
            context={"target": target.name},
            deadline=deadline,
        )
        body = json_object(raw, f"Neon answer for {where}")
        branch = body.get("branch")
        if not isinstance(branch, dict) or branch.get("id") != target.branch:
            raise ProviderResponseError(f"Neon answer for {where} does not describe that branch")
        return target.branch

    def _search_branch(self, target: Target, deadline: float) -> str:
        project, name = target.project, target.branch
        where = f"project {project}"
        what = f"Neon branches answer for {where}"
        params = {"search": name, "limit": str(BRANCH_PAGE)}
        cursors: set[str] = set()
        for page in range(MAX_BRANCH_PAGES):
            if self._clock() >= deadline:
                raise ProviderUnavailable(
                    f"looking up branch {name} in Neon project {project} ran out of time "
                    f"after {page} pages"
                )
            _, raw = self._api.request(
                "GET",
                f"/projects/{seg(project)}/branches",
                subject=f"the branches of {where}",
                params=params,
                status_error=lambda r, b: status_error(r, b, where),
                context={"target": target.name},
                deadline=deadline,
            )
            listed, cursor = _branch_page(json_object(raw, what), what)
            found = _exact_match(listed, name, what)
            if found is not None:
                return found
            if not listed or cursor is None:
                raise ProviderNotFound(f"branch {name} not found in Neon project {project}")
            if cursor in cursors:
                raise ProviderResponseError(f"{what} repeats a pagination cursor")
            cursors.add(cursor)
            params["cursor"] = cursor
        raise ProviderResponseError(
            f"branch {name}: more than {MAX_BRANCH_PAGES * BRANCH_PAGE} branches of Neon "
            f"project {project} match the name; give the branch by its id (br-...)"
        )

class _BranchCache:
    """(project, branch) -> branch id for ``ttl`` seconds; one lookup per key at a time."""

    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], tuple[float, str]] = {}
        self._loading: dict[tuple[str, str], threading.Lock] = {}

    def get(self, key: tuple[str, str], load: Callable[[], str]) -> str:
        with self._lock:
            fresh = self._fresh(key)
            if fresh is not None:
                return fresh
            loading = self._loading.setdefault(key, threading.Lock())
        # Whoever holds ``loading`` looks the branch up; the others wait, then reuse it.
        with loading:
            with self._lock:
                fresh = self._fresh(key)
            if fresh is not None:
                return fresh
            ident = load()
            with self._lock:
                self._entries[key] = (self._clock() + self._ttl, ident)
            return ident

    def _fresh(self, key: tuple[str, str]) -> str | None:
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self._clock():
            return entry[1]
        return None


def _branch_page(body: dict[str, Any], what: str) -> tuple[list[Any], str | None]:
    """A page's branches and the cursor of the next page (None: this is the last)."""
    listed = body.get("branches")
    if not isinstance(listed, list):
        raise ProviderResponseError(f"{what} has no branches list")
    pagination = body.get("pagination")
    if pagination is None:
        return listed, None
    if not isinstance(pagination, dict):
        raise ProviderResponseError(f"{what} has a pagination field that is not an object")
    cursor = pagination.get("next")
    if cursor is None or cursor == "":
        return listed, None
    if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR_CHARS:
        raise ProviderResponseError(f"{what} has a pagination cursor that is not a short string")
    return listed, cursor


def _exact_match(listed: list[Any], branch: str, what: str) -> str | None:
    """The id of the listed branch named ``branch`` (or with that id), if any."""
    for item in listed:
        name = item.get("name") if isinstance(item, dict) else None
        ident = item.get("id") if isinstance(item, dict) else None
        if not isinstance(name, str) or not isinstance(ident, str) or not ident:
            raise ProviderResponseError(f"{what} lists a branch without a name and an id")
        if branch in (name, ident):
            return ident
    return None
