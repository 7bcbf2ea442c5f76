"""Tests for the file sink: the sink contract plus file-specific guarantees."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from syncd.errors import SinkAuthError
from syncd.sinks.file import FileSink
from syncd.testing.contract import ReadBack, SinkContract, SyncWorld, Writer
from syncd.testing.fakes import MemorySink


class TestFileSinkContract(SinkContract):
    """The file sink passes the sink contract."""

    @pytest.fixture
    def sink(self, tmp_path: Path) -> FileSink:
        return FileSink("local", tmp_path / "secrets")

    @pytest.fixture
    def read_back(self, sink: FileSink) -> ReadBack:
        return lambda secret: (sink.directory / secret).read_text()

    @pytest.fixture
    def write_foreign(self, sink: FileSink) -> Writer:
        return lambda secret, text: (sink.directory / secret).write_text(text)

    @pytest.fixture
    def create_unmanaged(self, sink: FileSink) -> Writer:
        def create(secret: str, text: str) -> None:
            sink.directory.mkdir(parents=True, exist_ok=True)
            (sink.directory / secret).write_text(text)

        return create


class TestMemorySinkContract(SinkContract):
    """The in-memory fake used by unit tests passes the same contract."""

    format = "uri"

    @pytest.fixture
    def sink(self) -> MemorySink:
        return MemorySink()

    @pytest.fixture
    def read_back(self, sink: MemorySink) -> ReadBack:
        return lambda secret: sink.secrets[secret].text

    @pytest.fixture
    def write_foreign(self, sink: MemorySink) -> Writer:
        return sink.put_foreign

    @pytest.fixture
    def create_unmanaged(self, sink: MemorySink) -> Writer:
        return sink.put_foreign


def test_files_are_private_and_leave_no_temporaries(tmp_path: Path) -> None:
    """Secrets are mode 0600 in a 0700 directory, and no temporary file is left behind."""
    SyncWorld(FileSink("local", tmp_path / "s"), "app.env", "env").sync()
    assert stat.S_IMODE((tmp_path / "s" / "app.env").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "s").stat().st_mode) == 0o700
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [".app.env.syncd.json", "app.env"]


def test_unusable_directory_is_a_clear_error(tmp_path: Path) -> None:
    """A directory path that is blocked by a file fails the binding, naming the path."""
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where a directory should be")
    world = SyncWorld(FileSink("local", blocked / "sub"), "x.env", "env")
    error = world.engine.sync_target(world.target).sinks[0].error
    assert error is not None
    assert "cannot read" in str(error) and str(blocked) in str(error)


@pytest.mark.parametrize("name", ["../escape", "/abs", ".hidden", "a/b", ""])
def test_secret_names_cannot_leave_the_directory(name: str) -> None:
    """Only plain file names are valid secrets."""
    with pytest.raises(ValueError, match="plain file names"):
        FileSink.validate_secret_name(name)


def test_permission_denied_maps_to_auth_error(tmp_path: Path) -> None:
    """EACCES is reported as SinkAuthError (fix permissions), not a crash."""
    sink = FileSink("local", tmp_path)
    assert isinstance(
        sink._os_error("write", "x", PermissionError(13, "Permission denied")), SinkAuthError
    )
