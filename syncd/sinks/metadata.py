"""What a sink records next to a value, as one flat map of strings, and reading it back.

Every sink keeps the same facts beside each secret it manages: that syncd
manages it, its owner (``<instance>/<target>``), the fingerprint of the value
it wrote and the last rotation mark. A store with a metadata map per secret
(tags, custom metadata, a JSON sidecar) can leave the encoding to
:class:`MetadataCodec`: :meth:`~MetadataCodec.encode` builds the map a write
records, keeping the recorded rotation mark when the write carries none (the
rule of :class:`~syncd.sinks.base.WriteRequest`), and
:meth:`~MetadataCodec.decode` turns a map read back into the
:class:`~syncd.core.models.SecretState` that :meth:`Sink.inspect
<syncd.sinks.base.Sink.inspect>` reports. The map is hostile input when read:
anything not in syncd's exact shape reads as absent, never as an error.

The key names are the codec's fields, so a store with its own naming rules
(or records written by an older release) keeps them; the defaults are the
keys syncd's AWS and in-memory sinks use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from syncd.core.fingerprint import Fingerprint
from syncd.core.models import Owner, RotationMark, SecretState
from syncd.sinks.base import MANAGED_BY_KEY, MANAGED_BY_VALUE, OWNER_KEY, TARGET_KEY, WriteRequest


@dataclass(frozen=True)
class MetadataCodec:
    """The metadata keys of one store, and the encoding of syncd's facts under them."""

    owner: str = OWNER_KEY
    fingerprint: str = "syncd:fingerprint"
    rotated_at: str = "syncd:rotated-at"
    role: str = "syncd:role"

    def encode(
        self, request: WriteRequest, recorded: Mapping[str, object] | None = None
    ) -> dict[str, str]:
        """The metadata ``request`` records with its value.

        Ownership, the target, the owner and the fingerprint; the request's
        rotation mark, or else the mark in ``recorded`` (what the secret has
        now), so a write without a mark never erases one.
        """
        meta = {
            MANAGED_BY_KEY: MANAGED_BY_VALUE,
            TARGET_KEY: request.target,
            self.owner: request.owner.encode(),
            self.fingerprint: request.fingerprint.encode(),
        }
        if request.rotation is not None:
            meta[self.rotated_at], meta[self.role] = request.rotation.encode()
        elif recorded:
            for key in (self.rotated_at, self.role):
                kept = _text(recorded.get(key))
                if kept is not None:
                    meta[key] = kept
        return meta

    def decode(
        self,
        meta: Mapping[str, object],
        *,
        value: str | None = None,
        version: str | None = None,
    ) -> SecretState:
        """The state of an existing secret whose metadata is ``meta``.

        The recorded fingerprint is reported only if it is well formed and,
        when the store read the current ``value`` too, matches it (a value
        written by someone else is drift). ``version`` is the store's id of
        the current version, for compare-and-set writes.
        """
        fingerprint = Fingerprint.decode(_text(meta.get(self.fingerprint)))
        if fingerprint is not None and value is not None and not fingerprint.matches(value):
            fingerprint = None
        return SecretState(
            exists=True,
            managed=meta.get(MANAGED_BY_KEY) == MANAGED_BY_VALUE,
            fingerprint=fingerprint,
            version=version,
            owner=Owner.decode(
                _text(meta.get(self.owner)), legacy_target=_text(meta.get(TARGET_KEY))
            ),
            rotation=RotationMark.decode(
                _text(meta.get(self.rotated_at)), _text(meta.get(self.role))
            ),
        )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
