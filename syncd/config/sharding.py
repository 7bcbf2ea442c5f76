"""Splitting the targets between N processes that share no state: ``--shard INDEX/COUNT``.

A target belongs to shard ``sha256(name) mod COUNT``. The hash depends on the
target's name only, so a shard's targets do not move when the config is
reordered, targets are added or removed elsewhere, or syncd is upgraded (no
``hash()``, which Python salts per process). N pods of a Kubernetes Indexed Job
each take ``INDEX`` from ``JOB_COMPLETION_INDEX`` and sync a disjoint part of
the same config, with no coordinator; every target is in exactly one shard,
so two pods never write one secret.

Where the shard comes from, first match wins:

1. ``--shard INDEX/COUNT``;
2. ``--shard-count COUNT`` or the config's ``shards: COUNT`` (``SYNCD_SHARDS``)
   when it is above 1, with ``INDEX`` from ``$JOB_COMPLETION_INDEX``;
3. otherwise there is one shard and every target is in it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from syncd.errors import UsageError

if TYPE_CHECKING:
    from syncd.core.models import Target

INDEX_ENV = "JOB_COMPLETION_INDEX"
MAX_SHARDS = 10_000
# [0-9], not \d: \d and str.isdigit() accept other scripts' digits ('٣', '²'),
# which int() then reads as 3 or refuses with a ValueError.
_SPEC = re.compile(r"([0-9]{1,5})/([0-9]{1,5})")


def is_number(text: str) -> bool:
    """Whether ``text`` is a whole number in ASCII digits (``str.isdigit`` takes '²' and '٣')."""
    return text.isascii() and text.isdigit()


def shard_of(name: str, count: int) -> int:
    """The shard (``0 <= shard < count``) that target ``name`` belongs to."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest(), "big") % count


@dataclass(frozen=True)
class Shard:
    """One part of ``count``: the targets whose :func:`shard_of` is ``index``."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS:
            raise UsageError(f"shard count {self.count} must be between 1 and {MAX_SHARDS}")
        if not 0 <= self.index < self.count:
            raise UsageError(
                f"shard index {self.index} must be between 0 and {self.count - 1} "
                f"(there are {self.count} shards)"
            )

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, name: str) -> bool:
        """Whether target ``name`` belongs to this shard."""
        return self.count == 1 or shard_of(name, self.count) == self.index

    def select(self, targets: Iterable[Target]) -> tuple[Target, ...]:
        """The targets that belong to this shard, in their configured order."""
        return tuple(t for t in targets if self.holds(t.name))

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``INDEX/COUNT`` as given to ``--shard``; a :class:`UsageError` names what is wrong."""
        match = _SPEC.fullmatch(text.strip())
        if match is None:
            raise UsageError(f"--shard {text!r} must be INDEX/COUNT in ASCII digits, e.g. 0/4")
        return cls(int(match.group(1)), int(match.group(2)))


def resolve(
    spec: str | None, count: int | None, configured: int, environ: Mapping[str, str]
) -> Shard:
    """The shard this process syncs, from the flags, the config and the environment."""
    if spec is not None:
        return Shard.parse(spec)
    total = count if count is not None else configured
    source = "--shard-count" if count is not None else "shards"
    if total == 1 and count is None:
        return Shard(0, 1)
    if not 1 <= total <= MAX_SHARDS:
        raise UsageError(f"{source} {total} must be between 1 and {MAX_SHARDS}")
    raw = environ.get(INDEX_ENV)
    if raw is None or raw == "":
        raise UsageError(
            f"{source} is {total} but ${INDEX_ENV} is not set; run in a Kubernetes Indexed Job "
            f"or pass --shard INDEX/{total}"
        )
    if not is_number(raw) or len(raw) > 5:  # noqa: PLR2004 - at most MAX_SHARDS
        raise UsageError(
            f"${INDEX_ENV} {raw!r} is not a shard index (ASCII digits, 0 to {total - 1})"
        )
    try:
        return Shard(int(raw), total)
    except UsageError as exc:
        raise UsageError(f"${INDEX_ENV}: {exc}") from None
