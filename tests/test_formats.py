"""Tests for syncd.formats and ConnectionInfo parsing."""

import json

import pytest

from syncd.formats import render
from syncd.models import ConnectionInfo, InvalidConnectionURI

URI = "postgresql://neondb_owner:p%40ss%2Fword@ep-x.us-east-1.aws.neon.tech/neondb?sslmode=require"


def conn(uri: str = URI, pooled: bool = False) -> ConnectionInfo:
    return ConnectionInfo.parse(uri, project="proj_1", branch="main", pooled=pooled)


def test_json_is_rds_compatible() -> None:
    """The json document has the RDS fields plus uri, pooled, branch and project."""
    doc = json.loads(render(conn(), "json").text)
    assert doc == {
        "engine": "postgres",
        "host": "ep-x.us-east-1.aws.neon.tech",
        "port": 5432,
        "username": "neondb_owner",
        "password": "p@ss/word",
        "dbname": "neondb",
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
