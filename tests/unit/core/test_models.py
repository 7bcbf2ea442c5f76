"""Tests for ConnectionInfo: a provider's URI is untrusted and held as validated parts."""

from __future__ import annotations

import pytest
from psycopg.conninfo import conninfo_to_dict
from pydantic import SecretStr

from syncd.core.models import MAX_URI_LENGTH, ConnectionInfo, InvalidConnectionURI

GOOD = "postgresql://owner:s3cretpw@ep-a.neon.tech/neondb?sslmode=require"


def parse(uri: str) -> ConnectionInfo:
    return ConnectionInfo.parse(uri, project="proj_1", branch="main", pooled=False)


@pytest.mark.parametrize("char", ["\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\x85"])
@pytest.mark.parametrize(
    "uri",
    [
        "postgresql://owner:pw{c}x@ep-a.neon.tech/neondb?sslmode=require",
        "postgresql://owner:pw@ep-a.neon.tech/neon{c}db?sslmode=require",
        "postgresql://owner:pw@ep-a.neon.tech/neondb?sslmode=require&x={c}INJECTED=1",
        "postgresql://owner:pw@ep-a.neon.tech/neondb?sslmode=require{c}",
        "postgresql://own{c}er:pw@ep-a.neon.tech/neondb?sslmode=require",
    ],
)
def test_control_characters_anywhere_are_refused(uri: str, char: str) -> None:
    """A C0 control, DEL, NUL or C1 control anywhere in the URI fails validation."""
    with pytest.raises(InvalidConnectionURI, match="control character") as info:
        parse(uri.format(c=char))
    assert "pw" not in str(info.value)


@pytest.mark.parametrize(
    "encoded",
    [
        "postgresql://owner:pw%0Ax@ep-a.neon.tech/neondb?sslmode=require",
        "postgresql://owner:pw@ep-a.neon.tech/neon%0Adb?sslmode=require",
        "postgresql://owner:pw@ep-a.neon.tech/neondb?sslmode=require&options=%0D%0AX%3D1",
        "postgresql://owner:pw@ep-a.neon.tech/neondb?sslmode=require&options=%00",
    ],
)
def test_percent_encoded_control_characters_are_refused(encoded: str) -> None:
    """A control character hidden behind %-encoding is refused once decoded."""
    with pytest.raises(InvalidConnectionURI, match="control character"):
        parse(encoded)


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("postgresql://owner:p@ss@evil.example/db?sslmode=require", "unencoded '@'"),
        ("postgresql://owner:pw@h/db?sslmode=require&x=a@b", "unencoded '@'"),
        ("postgresql://own er:pw@h/db?sslmode=require", "space"),
        ("postgresql://owner:pw#x@h/db?sslmode=require", "fragment"),
        ("postgresql://owner:p/w@h/db?sslmode=require", "unencoded '@'"),
        ("postgresql://owner:p%zzw@h/db?sslmode=require", "broken %-escape"),
        ("postgresql://owner:pw@h/d/b?sslmode=require", "not allowed in the database"),
        ("postgresql://owner:pw@h/db?sslmode=require&sslmode=disable", "repeats"),
        ("postgresql://owner:pw@h/db?sslmode=require&LD_PRELOAD=/tmp/x.so", "libpq keyword"),
        ("postgresql://owner:pw@h/db?sslmode", "without '='"),
        ("postgresql://owner:pw@h/db?sslmode=require&options=a=b", "not allowed in the query"),
        ("postgresql://owner:pw@h/db?sslmode=require+", "does not require TLS"),
        ("postgresql://owner:pw@h_1,h2/db?sslmode=require", "invalid host"),
        ("postgresql://owner:pw@h%2Fx/db?sslmode=require", "invalid host"),
        ("postgresql://owner:pw@-h/db?sslmode=require", "invalid host"),
        ("postgresql://owner:pw@[::1/db?sslmode=require", "malformed IPv6"),
        ("postgresql://owner:pw@[fe80::1%25eth0]/db?sslmode=require", "malformed IPv6"),
        ("postgresql://owner:pw@h:0/db?sslmode=require", "invalid port"),
        ("postgresql://owner:pw@h:/db?sslmode=require", "invalid port"),
        ("postgresql://owner:pw@h:54x/db?sslmode=require", "invalid port"),
        ("POSTGRESQL://owner:pw@h/db?sslmode=require", "not a postgres"),
        ("postgresql://owner:p\u00e9@h/db?sslmode=require", "non-ASCII"),
    ],
)
def test_ambiguous_or_malformed_uris_are_refused(uri: str, reason: str) -> None:
    """URIs that parsers could read differently, or that are malformed, are refused."""
    with pytest.raises(InvalidConnectionURI, match=reason) as info:
        parse(uri)
    assert uri not in str(info.value)


def test_uri_length_is_bounded() -> None:
    """A URI longer than the limit is refused before it is parsed."""
    uri = GOOD + "&options=" + "x" * MAX_URI_LENGTH
    with pytest.raises(InvalidConnectionURI, match=f"longer than {MAX_URI_LENGTH}"):
        parse(uri)


@pytest.mark.parametrize(
    "uri",
    [
        "postgresql://owner:p%40ss%2Fw%24%28id%29%20rd@ep-a.neon.tech/neon%20db?sslmode=require",
        "postgres://u%C3%A9:pw:with:colons@[2001:db8::1]:6543/db?sslmode=verify-full",
        "postgresql://owner:pw@10.0.0.5:5432/db?sslmode=require&channel_binding=require"
        "&options=-c%20search_path%3Dapp",
        "postgresql://owner:a+b@db.internal/db?sslmode=require&application_name=x+y",
    ],
)
def test_fields_and_rendered_uri_mean_the_same_to_libpq(uri: str) -> None:
    """libpq reads the canonical URI as exactly the parts syncd reports."""
    conn = parse(uri)
    seen = conninfo_to_dict(conn.uri.get_secret_value())
    assert seen["user"] == conn.username
    assert seen["password"] == conn.password.get_secret_value()
    assert seen["host"] == conn.host
    assert int(seen.get("port", 5432)) == conn.port
    assert seen["dbname"] == conn.dbname
    assert {k: v for k, v in seen.items() if k in dict(conn.params)} == dict(conn.params)


def test_plus_means_plus_like_libpq() -> None:
    """A '+' is a plus sign, as libpq reads it, not a space as form decoding would."""
    conn = parse("postgresql://owner:a+b@h/db?sslmode=require&application_name=x+y")
    assert conn.password.get_secret_value() == "a+b"
    assert dict(conn.params)["application_name"] == "x+y"


def test_rendered_uri_is_canonical_and_keeps_the_given_port() -> None:
    """The URI is re-rendered from parts; a port is kept only when the provider gave one."""
    assert parse(GOOD).uri.get_secret_value() == GOOD
    assert ":5432/" in parse(GOOD.replace(".tech/", ".tech:5432/")).uri.get_secret_value()
    assert parse("postgresql://o:p%2fq@EP-A.neon.tech/db?sslmode=require").uri.get_secret_value() == (
        "postgresql://o:p%2Fq@ep-a.neon.tech/db?sslmode=require"
    )


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
