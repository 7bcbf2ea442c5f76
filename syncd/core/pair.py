"""A target's other connection (pooled or direct), fetched with its own when a binding needs it.

A target names one connection (``pooled: true`` or not). A binding whose keys
include the other one (``pooled_uri`` of a direct target, ``direct_uri`` of a
pooled one; the ``prisma`` preset has both) makes the target fetch that one
too, in the same cycle; a target whose bindings do not ask costs one fetch, as
before.

The two are written together, so they must carry one credential: Prisma given
a ``DATABASE_URL`` with the new password and a ``DIRECT_URL`` with the old one
fails half its connections. When their users or passwords differ (a rotation
between the two requests), both are fetched once more; if they still differ,
the target fails with one line and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import structlog

from syncd.core.formats import needs_other
from syncd.core.models import ConnectionInfo, Target
from syncd.errors import ProviderResponseError

log = structlog.get_logger("syncd.pair")

#: Fetches one connection of a target (``Provider.fetch``, or a rotator's for one role).
Fetch = Callable[[Target], ConnectionInfo]
#: A target's connection, and its other one when a binding needs it (else None).
Pair = tuple[ConnectionInfo, ConnectionInfo | None]


def wants_other(target: Target) -> bool:
    """Whether any of ``target``'s bindings needs the connection the target does not name."""
    return any(needs_other(binding, pooled=target.pooled) for binding in target.sinks)


def other_of(target: Target) -> Target:
    """``target`` asking for its other connection: pooled for a direct one, and back."""
    return replace(target, pooled=not target.pooled)


def fetch_pair(fetch: Fetch, target: Target) -> Pair:
    """Fetch ``target``'s connection, and its other one when a binding needs it.

    Raises what ``fetch`` raises, and ProviderResponseError when the two
    carry different credentials twice in a row.
    """
    conn = fetch(target)
    if not wants_other(target):
        return conn, None
    other = fetch(other_of(target))
    if _agree(conn, other):
        return conn, other
    log.info("connections_disagree", refetching=True)
    conn, other = fetch(target), fetch(other_of(target))
    if _agree(conn, other):
        return conn, other
    raise ProviderResponseError(
        f"target {target.name}: the pooled and direct connections carry different "
        "credentials (user or password), twice in a row; nothing was written"
    )


def _agree(conn: ConnectionInfo, other: ConnectionInfo) -> bool:
    return (
        conn.username == other.username
        and conn.password.get_secret_value() == other.password.get_secret_value()
    )
