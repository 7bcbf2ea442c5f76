"""syncd.plugin: the one import of a plugin author, and the metadata codec it offers."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from datetime import UTC, datetime

import syncd.plugin
from syncd.core.formats import render
from syncd.core.models import ConnectionInfo
from syncd.plugin import (
    Action,
    Fingerprint,
    MetadataCodec,
    Owner,
    RotationMark,
    SecretState,
    WriteRequest,
)

URI = "postgresql://app:kitpw123456@db.example.test:5432/app?sslmode=require"


def test_every_public_name_resolves() -> None:
    """Each name in __all__ is importable, the contract suites included."""
    for name in syncd.plugin.__all__:
        assert getattr(syncd.plugin, name) is not None, name
    from syncd.testing.contract import ProviderContract, SinkContract

    assert syncd.plugin.SinkContract is SinkContract
    assert syncd.plugin.ProviderContract is ProviderContract


def test_importing_the_kit_imports_no_test_or_vendor_library() -> None:
    """A plugin importing syncd.plugin at run time pays for neither pytest nor an SDK."""
    code = (
        "import sys, syncd.plugin; "
        "print(sorted(m for m in ('pytest', 'botocore', 'hvac') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def _request(rotation: RotationMark | None = None) -> WriteRequest:
    conn = ConnectionInfo.parse(URI, project="p", branch="main", pooled=False)
    document = render(conn, "uri")
    return WriteRequest(
        target="t",
        secret="s",
        document=document,
        fingerprint=Fingerprint.of(document.text),
        observed=SecretState.missing(),
        action=Action.CREATE,
        instance="team-a",
        rotation=rotation,
    )


def test_codec_round_trip() -> None:
    """What encode records, decode reports: managed, owner, fingerprint, mark, version."""
    mark = RotationMark(datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC), "app")
    request = _request(mark)
    state = MetadataCodec().decode(
        MetadataCodec().encode(request), value=request.document.text, version="7"
    )
    assert state.exists and state.managed and state.version == "7"
    assert state.owner == Owner("team-a", "t")
    assert state.rotation == mark
    assert state.fingerprint is not None and state.fingerprint.matches(request.document.text)


def test_codec_keeps_the_recorded_mark_and_drops_a_foreign_fingerprint() -> None:
    """A write without a mark keeps the one recorded; a value that changed reads as drift."""
    mark = RotationMark(datetime(2031, 1, 2, tzinfo=UTC), "app")
    codec = MetadataCodec()
    recorded = codec.encode(_request(mark))
    meta = codec.encode(dataclasses.replace(_request(), target="t"), recorded)
    assert codec.decode(meta).rotation == mark
    assert codec.decode(meta, value="someone else's").fingerprint is None


def test_codec_reads_hostile_metadata_as_absent() -> None:
    """Non-string or malformed metadata reads as unmanaged, no owner, no mark, no fingerprint."""
    state = MetadataCodec().decode(
        {"managed-by": ["syncd"], "syncd:owner": 3, "syncd:fingerprint": "zz", "syncd:role": {}}
    )
    assert state == SecretState(exists=True)
