"""What a sink records next to a value, as one flat map of strings, and reading it back.

Every sink keeps the same facts beside each secret it manages: that syncd
manages it, the target and its owner (``<instance>/<target>``), the
fingerprint of the value it wrote and the last rotation mark. A store with a
metadata map per secret (AWS tags, Vault custom metadata, a JSON sidecar, the
in-memory fake) leaves the encoding to :class:`MetadataCodec`, so the rules
exist once: :meth:`~MetadataCodec.encode` builds the map a write records,
keeping the recorded rotation mark when the write carries none (the rule of
:class:`~syncd.sinks.base.WriteRequest`), and :meth:`~MetadataCodec.decode`
turns a map read back into the :class:`~syncd.core.models.SecretState` that
:meth:`Sink.inspect <syncd.sinks.base.Sink.inspect>` reports. The map is
hostile input when read: anything not in syncd's exact shape reads as absent,
never as an error.

The key names are the codec's fields, because deployed secrets carry the
names each store was first given (AWS ``syncd:owner``, Vault ``syncd-owner``,
the sidecar's ``owner``) and must keep reading as syncd's. Two fields say
where a store keeps the fingerprint's context: ``fingerprint=None`` when the
store's version id *is* the fingerprint (AWS's ``ClientRequestToken``), and
``written`` names the key recording which store version the fingerprint
belongs to (Vault, the fake), so a version someone else wrote since is drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from syncd.core.fingerprint import Fingerprint
from syncd.core.models import Owner, RotationMark, SecretState
from syncd.sinks.base import MANAGED_BY_KEY, MANAGED_BY_VALUE, OWNER_KEY, TARGET_KEY, WriteRequest


@dataclass(frozen=True)
class MetadataCodec:
    """The metadata keys of one store, and the encoding of syncd's facts under them.

    ``fingerprint`` is None for a store whose version ids are the fingerprints;
    ``written``, when set, is the key of the store version syncd wrote last.
    """

    owner: str = OWNER_KEY
    fingerprint: str | None = "syncd:fingerprint"
    rotated_at: str = "syncd:rotated-at"
    role: str = "syncd:role"
    target: str = TARGET_KEY
    written: str | None = None

    def claim(
        self, request: WriteRequest, recorded: Mapping[str, object] | None = None
    ) -> dict[str, str]:
        """Ownership, the target, the owner and the rotation mark ``request`` records.

        What a store records before the value, so that a crash after it still
        reads as this owner's secret. The mark is the request's, or else the
        one in ``recorded`` (what the secret has now): a write without a mark
        never erases one.
        """
        meta = self._ownership(request)
        self._mark(meta, request, recorded)
        return meta

    def encode(
        self,
        request: WriteRequest,
        recorded: Mapping[str, object] | None = None,
        *,
        version: str | None = None,
    ) -> dict[str, str]:
        """The metadata ``request`` records with its value: :meth:`claim` and the fingerprint.

        ``version`` is the store's id of the version just written, recorded
        under :attr:`written` when the codec has that key.
        """
        meta = self._ownership(request)
        if self.fingerprint is not None:
            meta[self.fingerprint] = request.fingerprint.encode()
        if self.written is not None and version is not None:
            meta[self.written] = version
        self._mark(meta, request, recorded)
        return meta

    def decode(
        self,
        meta: Mapping[str, object],
        *,
        value: str | None = None,
        version: str | None = None,
        pending: str | None = None,
        foreign_rotation: str | None = None,
    ) -> SecretState:
        """The state of an existing secret whose metadata is ``meta``.

        ``version`` is the store's id of the current version, for
        compare-and-set writes. The recorded fingerprint is reported only if
        it is well formed, was recorded for ``version`` (when the codec keeps
        :attr:`written`) and, when the store read the current ``value`` too,
        matches it: a value written by someone else is drift. ``pending`` and
        ``foreign_rotation`` are what a staging store knows beside the map
        (see :class:`~syncd.core.models.SecretState`).
        """
        # Inline str checks and positional fields (SecretState's order), not a helper and
        # keywords: this runs once per secret per cycle, and the keywords cost 10% of it.
        get = meta.get
        if self.fingerprint is None:
            fingerprint = Fingerprint.decode(version)
        elif self.written is not None and get(self.written) != version:
            fingerprint = None
        else:
            recorded = get(self.fingerprint)
            fingerprint = Fingerprint.decode(recorded) if isinstance(recorded, str) else None
        if fingerprint is not None and value is not None and not fingerprint.matches(value):
            fingerprint = None
        owner, target = get(self.owner), get(self.target)
        rotated_at, role = get(self.rotated_at), get(self.role)
        return SecretState(
            True,
            get(MANAGED_BY_KEY) == MANAGED_BY_VALUE,
            fingerprint,
            version,
            Owner.decode(
                owner if isinstance(owner, str) else None,
                legacy_target=target if isinstance(target, str) else None,
            ),
            RotationMark.decode(
                rotated_at if isinstance(rotated_at, str) else None,
                role if isinstance(role, str) else None,
            ),
            pending,
            foreign_rotation,
        )

    def _ownership(self, request: WriteRequest) -> dict[str, str]:
        return {
            MANAGED_BY_KEY: MANAGED_BY_VALUE,
            self.target: request.target,
            self.owner: request.owner.encode(),
        }

    def _mark(
        self, meta: dict[str, str], request: WriteRequest, recorded: Mapping[str, object] | None
    ) -> None:
        if request.rotation is not None:
            meta[self.rotated_at], meta[self.role] = request.rotation.encode()
        elif recorded:
            for key in (self.rotated_at, self.role):
                kept = _text(recorded.get(key))
                if kept is not None:
                    meta[key] = kept


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
