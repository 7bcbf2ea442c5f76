"""Tests for syncd.core.fingerprint."""

from syncd.core.fingerprint import ENCODED_LENGTH, Fingerprint


def test_matches_only_the_original_value() -> None:
    """A fingerprint matches its own value and no other."""
    fp = Fingerprint.of("secret-a")
    assert fp.matches("secret-a")
    assert not fp.matches("secret-b")


def test_salt_makes_equal_values_look_different() -> None:
    """Two fingerprints of one value differ, so equal credentials are not linkable."""
    assert Fingerprint.of("same").encode() != Fingerprint.of("same").encode()


def test_encoding_round_trips_and_fits_a_client_request_token() -> None:
    """The encoding is 56 hex characters (AWS tokens take 32-64) and decodes back."""
    fp = Fingerprint.of("value")
    text = fp.encode()
    assert len(text) == ENCODED_LENGTH == 56
    decoded = Fingerprint.decode(text)
    assert decoded == fp
    assert decoded is not None and decoded.matches("value")


def test_foreign_version_ids_do_not_decode() -> None:
    """A UUID version id written by someone else is not mistaken for a fingerprint."""
    assert Fingerprint.decode("0a1b2c3d-0000-4000-8000-123456789abc") is None
    assert Fingerprint.decode("z" * ENCODED_LENGTH) is None
    assert Fingerprint.decode(None) is None
