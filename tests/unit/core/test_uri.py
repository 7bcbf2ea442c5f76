"""Tests for the connection URI grammar: only URIs every parser reads alike are accepted."""

from __future__ import annotations

import pytest
from psycopg.conninfo import conninfo_to_dict

from syncd.core import uri as grammar
from syncd.core.models import MAX_URI_LENGTH, InvalidConnectionURI
from tests.support.uris import GOOD, parse


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
    assert parse(
        "postgresql://o:p%2fq@EP-A.neon.tech/db?sslmode=require"
    ).uri.get_secret_value() == ("postgresql://o:p%2Fq@ep-a.neon.tech/db?sslmode=require")


def test_split_returns_the_decoded_parts_in_order() -> None:
    """split() gives scheme, lower-cased host, port, whether it was named, and decoded parts."""
    parts = grammar.split("postgres://u%40x:p%2Fw@EP-A.example:6543/my%20db?sslmode=require")
    assert parts == (
        "postgres",
        "ep-a.example",
        6543,
        True,
        "u@x",
        "p/w",
        "my db",
        (("sslmode", "require"),),
    )


def test_split_without_a_port_uses_the_default_and_says_so() -> None:
    """A URI that names no port gets 5432 and is marked as not naming it."""
    parts = grammar.split(GOOD)
    assert parts[2] == grammar.DEFAULT_PORT
    assert parts[3] is False


def test_render_encodes_every_part_and_brackets_ipv6() -> None:
    """render() percent-encodes user, password, database and params, and brackets an IPv6 host."""
    rendered = grammar.render(
        scheme="postgresql",
        username="u@x",
        password="p w/:",
        host="2001:db8::1",
        port=5432,
        port_in_uri=False,
        dbname="d b",
        params=(("sslmode", "require"), ("application_name", "a&b")),
    )
    assert rendered == (
        "postgresql://u%40x:p%20w%2F%3A@[2001:db8::1]/d%20b?sslmode=require&application_name=a%26b"
    )


def test_render_names_a_port_other_than_the_default() -> None:
    """A non-default port is written even when the provider's URI did not name one."""
    rendered = grammar.render(
        scheme="postgres",
        username="u",
        password="p",
        host="h",
        port=6432,
        port_in_uri=False,
        dbname="d",
        params=(("sslmode", "verify-full"),),
    )
    assert rendered == "postgres://u:p@h:6432/d?sslmode=verify-full"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"scheme": "mysql"}, "not a postgres"),
        ({"password": ""}, "no password"),
        ({"dbname": ""}, "no database"),
        ({"port": 0}, "invalid port"),
        ({"params": ()}, "does not require TLS"),
    ],
)
def test_check_refuses_parts_no_renderer_could_write_safely(
    changes: dict[str, object], reason: str
) -> None:
    """check() refuses a foreign scheme, an empty part, a bad port or a non-TLS sslmode."""
    parts: dict[str, object] = {
        "scheme": "postgresql",
        "host": "h.example",
        "port": 5432,
        "username": "u",
        "password": "pw",
        "dbname": "db",
        "params": (("sslmode", "require"),),
    }
    parts.update(changes)
    with pytest.raises(InvalidConnectionURI, match=reason):
        grammar.check(**parts)  # type: ignore[arg-type]


def test_check_accepts_every_tls_sslmode() -> None:
    """Each sslmode that refuses an unencrypted connection passes check()."""
    for mode in sorted(grammar.TLS_SSLMODES):
        grammar.check(
            scheme="postgres",
            host="h.example",
            port=5432,
            username="u",
            password="pw",
            dbname="db",
            params=(("sslmode", mode),),
        )
