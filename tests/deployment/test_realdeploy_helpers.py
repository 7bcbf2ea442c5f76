"""Unit tests of the real-deployment helpers (tests/support/realdeploy): skip policy and apt sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.realdeploy import common, debian


def test_missing_prerequisite_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without CI=true a missing tool skips the test, naming the tool."""
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-such-tool-xyz"):
        common.require(root=False, tools=["no-such-tool-xyz"])


def test_missing_prerequisite_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """With CI=true a missing tool fails the test instead of skipping it."""
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"CI=true.*no-such-tool-xyz"):
        common.require(root=False, tools=["no-such-tool-xyz"])


def test_host_sources_read_deb822_and_one_line_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mirror comes from the host's apt files, both formats, disabled entries and other suites left out."""
    parts = tmp_path / "sources.list.d"
    parts.mkdir()
    (tmp_path / "sources.list").write_text(
        "# comment\n"
        "deb [signed-by=/usr/share/keyrings/x.gpg] http://mirror.example/debian/ bookworm main contrib\n"
        "deb-src http://mirror.example/debian bookworm main\n"
    )
    (parts / "debian.sources").write_text(
        "Types: deb\n"
        "URIs: http://mirror.example/debian\n"
        "Suites: bookworm-updates\n"
        "Components: main\n"
        "\n"
        "Types: deb\n"
        "URIs: http://security.example/debian-security\n"
        "Suites: bookworm-security\n"
        "Components: main\n"
        "\n"
        "Types: deb\n"
        "URIs: http://disabled.example/debian\n"
        "Suites: bookworm\n"
        "Components: main\n"
        "Enabled: no\n"
    )
    (parts / "other.list").write_text("deb https://packages.example/apt stable main\n")
    (parts / "off.list.disabled").write_text("deb http://ignored.example/debian bookworm main\n")
    monkeypatch.setattr(debian, "SOURCES", tmp_path / "sources.list")
    monkeypatch.setattr(debian, "SOURCE_PARTS", parts)
    assert [s.line() for s in debian.host_sources()] == [
        "deb http://mirror.example/debian bookworm main",
        "deb http://mirror.example/debian bookworm-updates main",
        "deb http://security.example/debian-security bookworm-security main",
    ]


def test_host_without_a_bookworm_source_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host whose apt has no bookworm source gets an error naming where it looked."""
    (tmp_path / "sources.list").write_text("deb http://mirror.example/debian trixie main\n")
    monkeypatch.setattr(debian, "SOURCES", tmp_path / "sources.list")
    monkeypatch.setattr(debian, "SOURCE_PARTS", tmp_path / "none")
    with pytest.raises(common.CommandFailed, match="no apt source for Debian bookworm"):
        debian.host_sources()
