"""Tests for syncd.core.formats and ConnectionInfo parsing."""

import json
from urllib.parse import quote

import pytest

from syncd.core.formats import PRESETS, UnsafeEnvValue, env_safe, render
from syncd.core.models import ConnectionInfo, InvalidConnectionURI

URI = "postgresql://neondb_owner:p%40ss%2Fword@ep-x.us-east-1.aws.neon.tech/neondb?sslmode=require"


def conn(uri: str = URI, pooled: bool = False) -> ConnectionInfo:
    return ConnectionInfo.parse(uri, project="proj_1", branch="main", pooled=pooled)


def test_json_is_rds_compatible() -> None:
    """The json document has the RDS fields plus sslmode, uri, pooled, branch and project."""
    doc = json.loads(render(conn(), "json").text)
    assert doc == {
        "engine": "postgres",
        "host": "ep-x.us-east-1.aws.neon.tech",
        "port": 5432,
        "username": "neondb_owner",
        "password": "p@ss/word",
        "dbname": "neondb",
        "sslmode": "require",
        "uri": URI,
        "pooled": False,
        "branch": "main",
        "project": "proj_1",
    }


def test_json_rendering_is_deterministic() -> None:
    """Equal connections render to identical text, so fingerprints compare."""
    assert render(conn(), "json").text == render(conn(), "json").text


def test_uri_and_env_formats() -> None:
    """uri is the URI alone; env is one NAME=value line with a configurable name."""
    assert render(conn(), "uri").text == URI
    assert render(conn(), "env").text == f"DATABASE_URL={URI}\n"
    env = render(conn(), "env", env_var="PG_URL")
    assert env.text == f"PG_URL={URI}\n"
    assert env.fields == {"PG_URL": URI}


def test_explicit_port_is_kept() -> None:
    """A port in the URI is reported as an integer."""
    uri = "postgres://u:p@h:6543/db?sslmode=verify-full"
    assert json.loads(render(conn(uri), "json").text)["port"] == 6543


def test_document_repr_hides_the_credential() -> None:
    """repr() of documents and connections never shows the password."""
    assert "p@ss" not in repr(render(conn(), "json"))
    assert "p%40ss" not in repr(conn()) and "p@ss" not in repr(conn())


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("mysql://u:p@h/db?sslmode=require", "not a postgres"),
        ("postgresql://u@h/db?sslmode=require", "no password"),
        ("postgresql://:p@h/db?sslmode=require", "no user"),
        ("postgresql://u:p@h?sslmode=require", "no database"),
        ("postgresql://u:p@h/db", "sslmode=unset"),
        ("postgresql://u:p@h/db?sslmode=prefer", "sslmode=prefer"),
        ("postgresql://u:p@h:99999/db?sslmode=require", "cannot be parsed"),
    ],
)
def test_unsafe_uris_are_rejected_without_echoing_them(uri: str, reason: str) -> None:
    """URIs lacking parts or TLS are refused with a reason that does not contain the URI."""
    with pytest.raises(InvalidConnectionURI, match=reason) as info:
        conn(uri)
    assert uri not in str(info.value)


def test_formats_render_from_parts_not_the_provider_text() -> None:
    """Every format carries the canonical URI rebuilt from the parts, one line long."""
    given = "postgres://o%77ner:p%24%28id%29w@EP-X.example:6543/d%62?sslmode=require&x_y=a+b"
    c = conn(given)
    canonical = "postgres://owner:p%24%28id%29w@ep-x.example:6543/db?sslmode=require&x_y=a%2Bb"
    assert render(c, "uri").text == canonical
    assert render(c, "env").text == f"DATABASE_URL={canonical}\n"
    assert json.loads(render(c, "json").text)["uri"] == canonical


@pytest.mark.parametrize("fmt", ["uri", "env", "json"])
def test_renderers_refuse_a_value_they_cannot_hold_on_one_line(fmt: str) -> None:
    """Even if a part were corrupted after validation, no renderer writes a line break."""
    c = conn()
    object.__setattr__(c, "host", "h\nLD_PRELOAD=/tmp/x.so")  # bypasses the model's checks
    with pytest.raises(InvalidConnectionURI, match="one line"):
        render(c, fmt)


def test_json_carries_channel_binding_when_the_uri_has_it() -> None:
    """A client building its connection from the fields keeps channel_binding too."""
    doc = json.loads(render(conn(URI + "&channel_binding=require"), "json").text)
    assert (doc["sslmode"], doc["channel_binding"]) == ("require", "require")
    assert "channel_binding" not in json.loads(render(conn(), "json").text)


DIRECT = "postgresql://app:pw@ep-x.example/neondb?sslmode=require&channel_binding=require"
POOLED = "postgresql://app:pw@ep-x-pooler.example/neondb?sslmode=require&channel_binding=require"


def test_keys_write_one_line_per_name_in_the_order_given() -> None:
    """keys in the env format are NAME=value lines, in the order of the config."""
    keys = (("DB", "uri"), ("PORT", "port"), ("HOST", "host"), ("MODE", "sslmode"))
    doc = render(conn(), "env", keys=keys)
    assert doc.text == f"DB={URI}\nPORT=5432\nHOST=ep-x.us-east-1.aws.neon.tech\nMODE=require\n"
    assert doc.fields == {
        "DB": URI,
        "PORT": "5432",
        "HOST": "ep-x.us-east-1.aws.neon.tech",
        "MODE": "require",
    }


def test_keys_in_json_are_the_document_keys_as_strings() -> None:
    """keys in the json format are the document's (and Vault's) keys; every value a string."""
    keys = (("PGPORT", "port"), ("PGPASSWORD", "password"), ("PGUSER", "user"))
    doc = render(conn(), "json", keys=keys)
    assert json.loads(doc.text) == {"PGPORT": "5432", "PGPASSWORD": "p@ss/word", "PGUSER": "neondb_owner"}
    assert doc.fields == json.loads(doc.text)
    assert doc.text == render(conn(), "json", keys=tuple(reversed(keys))).text  # sorted: stable


def test_prisma_preset_takes_pooled_and_direct_from_both_connections() -> None:
    """DATABASE_URL is the pooled URI and DIRECT_URL the direct one, whichever the target names."""
    direct, pooled = conn(DIRECT), conn(POOLED, pooled=True)
    expected = f"DATABASE_URL={POOLED}\nDIRECT_URL={DIRECT}\n"
    assert render(direct, "env", keys=PRESETS["prisma"], other=pooled).text == expected
    assert render(pooled, "env", keys=PRESETS["prisma"], other=direct).text == expected


def test_a_missing_other_connection_is_refused() -> None:
    """pooled_uri of a direct target without its pooled connection is an error, not a guess."""
    with pytest.raises(ValueError, match="pooled connection was not fetched"):
        render(conn(DIRECT), "env", keys=(("DB", "pooled_uri"),))


def test_libpq_preset_adds_channel_binding_only_when_the_uri_has_it() -> None:
    """PGCHANNELBINDING is written only for a URI with channel_binding."""
    with_cb = render(conn(DIRECT), "env", keys=PRESETS["libpq"])
    assert with_cb.text == (
        "PGHOST=ep-x.example\nPGPORT=5432\nPGUSER=app\nPGPASSWORD=pw\nPGDATABASE=neondb\n"
        "PGSSLMODE=require\nPGCHANNELBINDING=require\n"
    )
    without = render(conn(), "env", keys=PRESETS["libpq"])
    assert "PGCHANNELBINDING" not in without.text
    assert without.fields["PGPASSWORD"] == "p@ss/word"


def test_spring_preset_has_a_jdbc_url_without_credentials() -> None:
    """SPRING_DATASOURCE_URL is jdbc:postgresql://host:port/db?sslmode=..., the credential apart."""
    doc = render(conn("postgres://u:p%2Bw@[::1]:6543/d%2Bb?sslmode=verify-full"), "env", keys=PRESETS["spring"])
    assert doc.fields == {
        "SPRING_DATASOURCE_URL": "jdbc:postgresql://[::1]:6543/d%2Bb?sslmode=verify-full",
        "SPRING_DATASOURCE_USERNAME": "u",
        "SPRING_DATASOURCE_PASSWORD": "p+w",
    }
    implicit_port = render(conn(DIRECT), "env", keys=(("URL", "jdbc_url"),))
    assert implicit_port.text == "URL=jdbc:postgresql://ep-x.example:5432/neondb?sslmode=require\n"


@pytest.mark.parametrize("char", [" ", '"', "'", "#", "$", "\\", "\u00a0", "\u2028"])
def test_env_values_that_loaders_read_differently_fail_without_the_value(char: str) -> None:
    """A raw value with a space, quote, #, $, backslash or odd whitespace fails; the message names the key."""
    password = f"pa{char}ss"
    c = conn(f"postgresql://app:{quote(password, safe='')}@h.example/db?sslmode=require")
    with pytest.raises(UnsafeEnvValue, match="the value of PGPASSWORD cannot be an env line: it has a space") as info:
        render(c, "env", keys=PRESETS["libpq"])
    assert password not in str(info.value)
    # URIs stay percent-encoded, so the same password is fine as a URI or in json.
    assert render(c, "env", keys=(("DATABASE_URL", "uri"),)).fields["DATABASE_URL"].startswith("postgresql://app:pa%")
    assert json.loads(render(c, "json", keys=PRESETS["libpq"]).text)["PGPASSWORD"] == password


def test_env_safe_accepts_what_every_loader_reads_as_written() -> None:
    """Printable ASCII but the listed characters, and non-ASCII letters, are safe."""
    assert env_safe("abc-._~!%&()*+,/:;<=>?@[]^`{|}XYZ019")
    assert env_safe("pässwörd")
    assert not env_safe("")
    assert not any(env_safe(f"a{c}b") for c in " \t\"'#$\\\x7f\x85")


@pytest.mark.parametrize("fmt", ["uri"])
def test_keys_need_a_keyed_format(fmt: str) -> None:
    """The uri format holds one URI, so keys are refused there."""
    with pytest.raises(ValueError, match="keys need format env or json"):
        render(conn(), fmt, keys=(("DB", "uri"),))
