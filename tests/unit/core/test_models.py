"""Tests for ConnectionInfo: a provider's URI is untrusted and held as validated parts."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from syncd.core.models import ConnectionInfo, InvalidConnectionURI
from tests.support.uris import GOOD, parse


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("dbname", "db\nX=1", "control character"),
        ("username", "", "no user"),
        ("host", "evil\n.example", "invalid host"),
        ("port", 70000, "invalid port"),
        ("params", (("sslmode", "disable"),), "does not require TLS"),
        ("params", (("sslmode", "require"), ("options", "a\nB=1")), "control character"),
    ],
)
def test_parts_are_validated_however_the_connection_is_built(
    field: str, value: object, reason: str
) -> None:
    """Building a ConnectionInfo directly (a plugin provider) applies the same checks."""
    parts: dict[str, object] = {
        "host": "h.example",
        "port": 5432,
        "username": "u",
        "password": SecretStr("pw"),
        "dbname": "db",
        "project": "p",
        "branch": "main",
        "pooled": False,
    }
    parts[field] = value
    with pytest.raises(InvalidConnectionURI, match=reason):
        ConnectionInfo(**parts)  # type: ignore[arg-type]


def test_repr_hides_password_and_query_parameters() -> None:
    """repr() shows neither the password nor query parameters (sslpassword is a secret)."""
    conn = parse(GOOD + "&sslpassword=keyphrase99")
    assert "s3cretpw" not in repr(conn) and "keyphrase99" not in repr(conn)
