"""Tests for syncd.sinks.metadata: the one encoding of syncd's facts beside a secret."""

from __future__ import annotations

import datetime as dt

import pytest

from syncd.core.fingerprint import Fingerprint
from syncd.core.models import Action, Document, Owner, RotationMark, SecretState
from syncd.sinks.base import WriteRequest
from syncd.sinks.metadata import MetadataCodec

TEXT = "postgresql://app:pw@db.example.test/app"
FINGERPRINT = Fingerprint.of(TEXT)
MARK = RotationMark(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "app_b")
#: The keys each store's deployed secrets carry.
AWS = MetadataCodec(fingerprint=None)
VAULT = MetadataCodec(
    owner="syncd-owner",
    fingerprint="syncd-fingerprint",
    rotated_at="syncd-rotated-at",
    role="syncd-role",
    target="syncd-target",
    written="syncd-version",
)
SIDECAR = MetadataCodec(
    owner="owner", fingerprint="fingerprint", rotated_at="rotated_at", role="role"
)


def request(rotation: RotationMark | None = None) -> WriteRequest:
    return WriteRequest(
        target="db",
        secret="apps/db",
        document=Document("uri", TEXT, {"uri": TEXT}),
        fingerprint=FINGERPRINT,
        observed=SecretState.missing(),
        action=Action.CREATE,
        instance="prod",
        rotation=rotation,
    )


def test_aws_tags_are_ownership_and_mark_without_a_fingerprint() -> None:
    """The AWS tags hold no fingerprint: the version id is the fingerprint."""
    assert AWS.encode(request(MARK)) == {
        "managed-by": "syncd",
        "syncd:target": "db",
        "syncd:owner": "prod/db",
        "syncd:rotated-at": MARK.encode()[0],
        "syncd:role": "app_b",
    }


def test_vault_metadata_keeps_its_key_names_and_records_the_version() -> None:
    """Vault's custom metadata uses its dashed names and records the KV version written."""
    meta = VAULT.encode(request(), version="7")
    assert meta == {
        "managed-by": "syncd",
        "syncd-target": "db",
        "syncd-owner": "prod/db",
        "syncd-fingerprint": FINGERPRINT.encode(),
        "syncd-version": "7",
    }


def test_sidecar_keys_keep_their_order() -> None:
    """The file sink's sidecar is JSON: the keys come in the order released versions wrote."""
    meta = SIDECAR.encode(request(MARK))
    assert list(meta) == [
        "managed-by",
        "syncd:target",
        "owner",
        "fingerprint",
        "rotated_at",
        "role",
    ]


def test_claim_leaves_the_fingerprint_out() -> None:
    """What a store records before the value carries ownership and the mark, not the fingerprint."""
    assert "syncd-fingerprint" not in VAULT.claim(request(MARK))
    assert VAULT.claim(request(MARK))["syncd-role"] == "app_b"


def test_a_write_without_a_mark_keeps_the_recorded_one() -> None:
    """A refresh never erases the rotation mark; only strings are carried over."""
    recorded = {"rotated_at": "2026-01-02T03:04:05Z", "role": 5}
    meta = SIDECAR.encode(request(), recorded)
    assert meta["rotated_at"] == "2026-01-02T03:04:05Z"
    assert "role" not in meta


def test_decode_reads_back_what_encode_wrote() -> None:
    """Owner, fingerprint and mark survive a round trip through every store's keys."""
    for codec, version in ((AWS, FINGERPRINT.encode()), (VAULT, "3"), (SIDECAR, None)):
        state = codec.decode(codec.encode(request(MARK), version=version), version=version)
        assert state.managed
        assert state.owner == Owner("prod", "db")
        assert state.fingerprint is not None and state.fingerprint.matches(TEXT)
        assert state.rotation is not None and state.rotation.role == "app_b"


def test_a_fingerprint_of_another_version_is_drift() -> None:
    """With a written-version key, a newer version someone else wrote has no fingerprint."""
    meta = VAULT.encode(request(), version="3")
    assert VAULT.decode(meta, version="4").fingerprint is None


def test_a_fingerprint_that_does_not_match_the_value_is_drift() -> None:
    """A store that read the value reports the fingerprint only when it matches."""
    meta = SIDECAR.encode(request())
    assert SIDECAR.decode(meta, value="something else").fingerprint is None
    assert SIDECAR.decode(meta, value=TEXT).fingerprint is not None


@pytest.mark.parametrize(
    "meta",
    [
        {},
        {"managed-by": "someone", "owner": ["prod/db"], "fingerprint": 12, "role": None},
        {"managed-by": ["syncd"], "syncd:target": {"x": 1}, "rotated_at": "yesterday"},
    ],
)
def test_hostile_metadata_reads_as_absent(meta: dict[str, object]) -> None:
    """Anything not in syncd's exact shape reads as not managed, no owner, no fingerprint."""
    state = SIDECAR.decode(meta)
    assert (state.managed, state.owner, state.fingerprint, state.rotation) == (
        False,
        None,
        None,
        None,
    )


def test_decode_passes_what_the_store_knows_beside_the_map() -> None:
    """The version, a pending version and a foreign rotator are reported as given."""
    state = AWS.decode({}, version="v1", pending="v2", foreign_rotation="RotationEnabled")
    assert (state.version, state.pending, state.foreign_rotation) == (
        "v1",
        "v2",
        "RotationEnabled",
    )
