"""Branches as :class:`~syncd.testing.neon.FakeNeon` keeps and describes them.

A branch gets an id of Neon's shape (``br-quiet-field-000042``) and is described
with the fields Neon sends, about 0.7 KB each. :func:`branch_list` answers
``GET /projects/{id}/branches`` as documented: ``search``, ``sort_by``,
``sort_order``, and pages of ``limit`` with a ``cursor`` (see the module
docstring of :mod:`syncd.testing.neon`). It lives apart from the fake's state
and locking so that the listing rules read on their own; with it, the shape of
every answer the fake gives (:func:`ok`, :func:`error`).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from syncd.testing.standin import json_response

#: Words for Neon-shaped branch ids (``br-<adjective>-<noun>-<digits>``).
_ADJECTIVES = ("quiet", "shiny", "young", "misty", "bold", "calm", "wild", "dry")
_NOUNS = ("field", "wind", "river", "frost", "leaf", "dust", "sea", "hill")
_SORT_KEYS = ("updated_at", "created_at", "name")
#: Neon's documented bounds for ``limit``.
_LIMIT_RANGE = range(1, 10001)
#: When the fake's branches were made: a fixed start, a second apart, so sorting is stable.
_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass
class Branch:
    """One branch: its databases, and its roles with their current passwords."""

    id: str
    name: str
    databases: set[str]
    roles: dict[str, str] = field(repr=False)
    created_at: str = ""
    parent_id: str | None = None

    @classmethod
    def numbered(
        cls,
        n: int,
        name: str,
        databases: set[str],
        roles: dict[str, str],
        *,
        parent_id: str | None,
        branch_id: str | None = None,
    ) -> Branch:
        """The fake's ``n``-th branch: a Neon-shaped id unless given, made ``n`` seconds in."""
        ident = branch_id or (
            f"br-{_ADJECTIVES[n % len(_ADJECTIVES)]}-"
            f"{_NOUNS[n // len(_ADJECTIVES) % len(_NOUNS)]}-{n:06d}"
        )
        created = (_EPOCH + timedelta(seconds=n)).isoformat().replace("+00:00", "Z")
        return cls(ident, name, databases, roles, created, parent_id)

    def as_json(self, project: str) -> dict[str, object]:
        """Neon's branch object, with the fields Neon sends (usage counters at zero)."""
        return {
            "id": self.id,
            "project_id": project,
            "parent_id": self.parent_id,
            "parent_lsn": "0/1F2E3D4" if self.parent_id else None,
            "parent_timestamp": self.created_at if self.parent_id else None,
            "name": self.name,
            "current_state": "ready",
            "state_changed_at": self.created_at,
            "logical_size": 30851072,
            "creation_source": "console",
            "primary": self.parent_id is None,
            "default": self.parent_id is None,
            "protected": False,
            "cpu_used_sec": 0,
            "compute_time_seconds": 0,
            "active_time_seconds": 0,
            "written_data_bytes": 0,
            "data_transfer_bytes": 0,
            "created_at": self.created_at,
            "updated_at": self.created_at,
            "created_by": {
                "name": "syncd test",
                "image": "https://avatars.example.test/u/4a1c9e0b7d2f?size=64",
            },
            "init_source": "parent-data",
        }


def branch_list(project: str, branches: list[Branch], params: dict[str, str]) -> httpx.Response:
    """The answer to listing ``project``'s ``branches`` with query ``params``."""
    sort_by = params.get("sort_by", "updated_at")
    order = params.get("sort_order", "desc")
    if sort_by not in _SORT_KEYS or order not in ("asc", "desc"):
        return error(400, "invalid sort_by or sort_order")
    search = params.get("search", "").lower()
    found = [b for b in branches if search in b.name.lower() or search in b.id.lower()]
    # created_at stands in for updated_at: the fake never changes a branch's settings.
    attr = "name" if sort_by == "name" else "created_at"

    def key(branch: Branch) -> tuple[str, str]:
        return getattr(branch, attr), branch.id

    descending = order == "desc"
    found.sort(key=key, reverse=descending)
    if "limit" not in params:
        return ok({"branches": [b.as_json(project) for b in found]})
    limit = params["limit"]
    if not limit.isdigit() or int(limit) not in _LIMIT_RANGE:
        return error(400, "limit must be an integer from 1 to 10000")
    if "cursor" in params:
        after = _decode_cursor(params["cursor"])
        if after is None:
            return error(400, "invalid cursor")
        found = [b for b in found if (key(b) < after if descending else key(b) > after)]
    page = found[: int(limit)]
    pagination = {"sort_by": sort_by, "sort_order": order.upper()}
    if page:
        pagination["next"] = _encode_cursor(key(page[-1]))
    body = {"branches": [b.as_json(project) for b in page], "pagination": pagination}
    return ok(body)


def _encode_cursor(key: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[str, str] | None:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError):
        return None
    if not (isinstance(key, list) and len(key) == 2 and all(isinstance(k, str) for k in key)):  # noqa: PLR2004 - a (sort value, id) pair
        return None
    return key[0], key[1]


def role_json(branch: Branch, role: str) -> dict[str, object]:
    """Neon's role object for ``role`` of ``branch`` (never its password)."""
    return {"branch_id": branch.id, "name": role, "protected": False}


def ok(body: object) -> httpx.Response:
    """A successful answer with ``body``."""
    return json_response(200, body)


def error(status: int, message: str) -> httpx.Response:
    """Neon's error answer."""
    return json_response(status, {"code": "", "message": message})
