"""Fingerprints that detect change without storing or reading a credential.

A sink records, next to each version it writes, a fingerprint of the value:
a random per-write salt and ``HMAC-SHA256(salt, value)`` truncated to 160 bits.
Comparing a fingerprint with a candidate value needs only the value syncd just
fetched, so change detection never reads the secret back from the store. The
salt makes equal values in different secrets look unrelated, and the values
are generated credentials (high entropy), so the digest reveals nothing usable.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

_SALT_BYTES = 8
_DIGEST_BYTES = 20
#: Hex length of an encoded fingerprint: 16 for the salt, 40 for the digest.
ENCODED_LENGTH = 2 * (_SALT_BYTES + _DIGEST_BYTES)


def _digest(salt: bytes, value: str) -> bytes:
    return hmac.new(salt, value.encode(), hashlib.sha256).digest()[:_DIGEST_BYTES]


@dataclass(frozen=True)
class Fingerprint:
    """A salted digest of one secret value."""

    salt: bytes
    digest: bytes

    @classmethod
    def of(cls, value: str) -> Fingerprint:
        """Fingerprint ``value`` with a fresh random salt."""
        salt = secrets.token_bytes(_SALT_BYTES)
        return cls(salt, _digest(salt, value))

    def matches(self, value: str) -> bool:
        """Tell whether ``value`` is the value this fingerprint was made from."""
        return hmac.compare_digest(self.digest, _digest(self.salt, value))

    def encode(self) -> str:
        """Render as lowercase hex, salt first; safe for tags and metadata."""
        return (self.salt + self.digest).hex()

    @classmethod
    def decode(cls, text: str | None) -> Fingerprint | None:
        """Parse :meth:`encode` output; anything else (a foreign value) gives None."""
        if not text or len(text) != ENCODED_LENGTH:
            return None
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            return None
        return cls(raw[:_SALT_BYTES], raw[_SALT_BYTES:])
