"""Reading a ``DescribeSecret`` answer: its tags and which version carries which label.

Secrets Manager keeps staging labels per version (``VersionIdsToStages``):
``AWSCURRENT`` is what consumers read, ``AWSPENDING`` a staged version, and
syncd adds ``SYNCD_LEASE`` for the rotation lease. The answer may come from
something that is not Secrets Manager, so :func:`shape_problem` checks the
parts syncd reads once, and the readers below rely on that check.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from syncd.core.fingerprint import Fingerprint
from syncd.core.lease import Lease, Record

CURRENT = "AWSCURRENT"
PENDING = "AWSPENDING"
#: The label on the version that holds a target's rotation lease.
LEASE_STAGE = "SYNCD_LEASE"
#: The label a new lease version is put with, before the lease label is moved to it.
LEASE_NEXT_STAGE = "SYNCD_LEASE_NEXT"
#: The tag with the lease's intent and holder (:meth:`syncd.core.lease.Lease.encode`).
LEASE_TAG = "syncd:lease"
_LEASE_TOKEN = re.compile(r"syncd-lease-([0-9]{10})-([0-9a-f]{16})")


def shape_problem(described: Mapping[str, Any]) -> str | None:
    """What is wrong with the parts of a DescribeSecret answer syncd reads, or None.

    The one check of an answer's shape: after it, ``Tags`` is a list of
    ``{Key, Value}`` strings and ``VersionIdsToStages`` maps version ids to
    lists of labels (either may be absent or null, as for a secret without
    tags). An answer from something that is not Secrets Manager, or a hostile
    one, is refused here rather than crashing whoever reads it.
    """
    tags = described.get("Tags")
    if tags is not None:
        if not isinstance(tags, list):
            return f"Tags is {_json_type(tags)}, not a list"
        for tag in tags:
            # AWS's model requires neither: a tag with an empty value may come without it.
            if (
                not isinstance(tag, dict)
                or not isinstance(tag.get("Key"), str)
                or not isinstance(tag.get("Value", ""), str)
            ):
                return "Tags holds an item that is not a {Key, Value} pair of strings"
    stages = described.get("VersionIdsToStages")
    if stages is not None:
        if not isinstance(stages, dict):
            return f"VersionIdsToStages is {_json_type(stages)}, not an object"
        for labels in stages.values():
            if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
                return "VersionIdsToStages maps a version to something other than a list of labels"
    return None


def _json_type(value: object) -> str:
    names = {str: "a string", int: "a number", float: "a number", bool: "a boolean"}
    return "an object" if isinstance(value, dict) else names.get(type(value), "a list")


def tag_map(described: Mapping[str, Any]) -> dict[str, str]:
    """The tags of a DescribeSecret answer checked by :func:`shape_problem`."""
    return {t["Key"]: t.get("Value", "") for t in described.get("Tags") or ()}


def labelled(described: Mapping[str, Any], stage: str) -> str | None:
    """The version carrying ``stage`` in a DescribeSecret answer, if any."""
    for version, stages in (described.get("VersionIdsToStages") or {}).items():
        if stage in stages:
            return str(version)
    return None


def lease_token(lease: Lease) -> str:
    """The id of the version that holds ``lease``: its expiry and holder."""
    return f"syncd-lease-{int(lease.expires.timestamp()):010d}-{lease.holder}"


def lease_record(described: Mapping[str, Any]) -> Record | None:
    """The lease on the version labelled ``SYNCD_LEASE``, read with the ``syncd:lease`` tag.

    The version id (:func:`lease_token`) carries the holder and the expiry,
    so they are as reliable as the label; the tag adds the intent and the
    holder's process, and counts only when it names the same holder.
    """
    token = labelled(described, LEASE_STAGE)
    if token is None:
        return None
    match = _LEASE_TOKEN.fullmatch(token)
    if match is None:
        return Record(token, None)
    expires = dt.datetime.fromtimestamp(int(match.group(1)), dt.UTC)
    tagged = Lease.decode(tag_map(described).get(LEASE_TAG))
    if tagged is not None and tagged.holder == match.group(2):
        return Record(token, dataclasses.replace(tagged, expires=expires))
    return Record(token, Lease(match.group(2), expires))


def foreign_rotation(described: Mapping[str, Any], pending: str | None) -> str | None:
    """Why another rotator manages this secret (AWS rotation, a foreign AWSPENDING), or None.

    syncd's own pending versions carry a fingerprint as their id; any other id
    under ``AWSPENDING`` was staged by someone else, most often a rotation
    Lambda between its createSecret and finishSecret steps.
    """
    if described.get("RotationEnabled") is True:
        return "AWS-managed rotation is enabled on it (RotationEnabled)"
    if pending is not None and Fingerprint.decode(pending) is None:
        return (
            "it has an AWSPENDING version syncd did not write (AWS-managed rotation "
            "or another rotator is under way)"
        )
    return None


def current_and_pending(described: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The versions labelled AWSCURRENT and AWSPENDING in a DescribeSecret answer."""
    found: dict[str, str] = {}
    for version, stages in (described.get("VersionIdsToStages") or {}).items():
        for stage in stages:
            found.setdefault(stage, version)
    return found.get(CURRENT), found.get(PENDING)
