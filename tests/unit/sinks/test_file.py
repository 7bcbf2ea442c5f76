"""Tests for the file sink: the sink contract plus file-specific guarantees."""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import signal
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncd.core.models import Action, RotationMark, SecretState
from syncd.errors import SecretNotManaged, SinkAuthError, SinkError
from syncd.sinks.file import MAX_NAME, NAME_MAX, FileSink
from syncd.testing.casedev import FakeCaseDev
from syncd.testing.contract import (
    LeaserContract,
    MarkWriter,
    ReadBack,
    SinkContract,
    StagerContract,
    SyncWorld,
    Writer,
)
from syncd.testing.fakes import MemorySink
from tests.conftest import run_syncd
from tests.support.configs import ConfigBuilder, binding


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

    @pytest.fixture
    def write_raw_mark(self, sink: FileSink) -> MarkWriter:
        def write(secret: str, rotated_at: str, role: str) -> None:
            sidecar = sink.directory / f".{secret}.syncd.json"
            meta = json.loads(sidecar.read_text())
            sidecar.write_text(json.dumps({**meta, "rotated_at": rotated_at, "role": role}))

        return write


def test_rotation_mark_lives_in_the_sidecar(tmp_path: Path) -> None:
    """A rotation's mark is the sidecar's rotated_at and role; a non-string one reads as none."""
    sink = FileSink("local", tmp_path / "s")
    world = SyncWorld(sink, "app.env", "env")
    mark = RotationMark(datetime(2035, 1, 1, 12, 0, tzinfo=UTC), "app_owner")
    sink.write(dataclasses.replace(world.request(sink), rotation=mark))
    sidecar = tmp_path / "s" / ".app.env.syncd.json"
    meta = json.loads(sidecar.read_text())
    assert (meta["rotated_at"], meta["role"]) == ("2035-01-01T12:00:00Z", "app_owner")
    sidecar.write_text(json.dumps({**meta, "rotated_at": 20350101}))
    assert sink.inspect("app.env").rotation is None


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

    @pytest.fixture
    def write_raw_mark(self, sink: MemorySink) -> MarkWriter:
        return sink.put_raw_mark


class TestMemoryRotation(StagerContract, LeaserContract):
    """The in-memory fake stages like the AWS sink does and keeps leases with compare-and-set."""

    @pytest.fixture
    def sink(self) -> MemorySink:
        return MemorySink()

    @pytest.fixture
    def read_back(self, sink: MemorySink) -> ReadBack:
        return lambda secret: sink.read(secret) or ""


class TestFileLeaser(LeaserContract):
    """The file sink's lease is a file replaced under flock."""

    @pytest.fixture
    def sink(self, tmp_path: Path) -> FileSink:
        return FileSink("local", tmp_path / "s")

    @pytest.fixture
    def read_back(self, sink: FileSink) -> ReadBack:
        return lambda secret: (sink.directory / secret).read_text()


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


# -- crash safety -------------------------------------------------------------------

STEPS = [
    "intent:staged",
    "intent",
    "data:staged",
    "data",
    "commit:staged",
    "commit",
]

_KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from syncd.sinks.file import FileSink
from syncd.testing.contract import SyncWorld

directory, secret, password, stop = sys.argv[1:]

def on_step(step):
    if step == stop:
        os.kill(os.getpid(), signal.SIGKILL)

world = SyncWorld(FileSink("local", Path(directory), on_step=on_step), secret, "env")
world.rotate(password)
world.sync()
"""


def kill_during_write(directory: Path, secret: str, password: str, step: str) -> None:
    """Run one sync in a child process that is killed with SIGKILL right after ``step``."""
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, str(directory), secret, password, step],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("step", STEPS)
def test_create_killed_at_any_step_converges(tmp_path: Path, step: str) -> None:
    """A create killed with SIGKILL at any step is completed by the next run, temporaries removed."""
    directory = tmp_path / "s"
    kill_during_write(directory, "app.env", "pw-new-1234567", step)
    world = SyncWorld(FileSink("local", directory), "app.env", "env")
    world.rotate("pw-new-1234567")
    action, _ = world.sync()
    assert action in (Action.CREATE, Action.UNCHANGED)
    assert "pw-new-1234567" in (directory / "app.env").read_text()
    assert leftovers(directory) == []
    assert world.sync() == (Action.UNCHANGED, False)


@pytest.mark.parametrize("step", STEPS)
def test_update_killed_at_any_step_converges(tmp_path: Path, step: str) -> None:
    """An update killed with SIGKILL at any step leaves the old or new value, and the next run converges."""
    directory = tmp_path / "s"
    world = SyncWorld(FileSink("local", directory), "app.env", "env")
    world.rotate("pw-old-1234567")
    world.sync()
    kill_during_write(directory, "app.env", "pw-new-1234567", step)
    content = (directory / "app.env").read_text()
    assert "pw-old-1234567" in content or "pw-new-1234567" in content
    world = SyncWorld(FileSink("local", directory), "app.env", "env")
    world.rotate("pw-new-1234567")
    action, _ = world.sync()
    assert action in (Action.UPDATE, Action.UNCHANGED)
    assert "pw-new-1234567" in (directory / "app.env").read_text()
    assert leftovers(directory) == []
    assert world.sync() == (Action.UNCHANGED, False)


def test_only_old_temporaries_of_the_secret_are_removed(tmp_path: Path) -> None:
    """Leftover temporaries of a secret from before this run are deleted; others are kept."""
    directory = tmp_path / "s"
    directory.mkdir()
    old = [directory / ".app.env.abcd1234.tmp", directory / "..app.env.syncd.json.zz_x9y8w.tmp"]
    other = directory / ".app.env.x.abcd1234.tmp"  # a temporary of secret "app.env.x"
    for path in [*old, other]:
        path.write_text("DATABASE_URL=postgresql://u:leaked@h/db")
        os.utime(path, (1_000_000, 1_000_000))
    sink = FileSink("local", directory)
    fresh = directory / ".app.env.fresh123.tmp"  # made after the sink started: maybe in flight
    fresh.write_text("x")
    assert sink.inspect("app.env") == SecretState.missing()
    assert leftovers(directory) == sorted([fresh.name, other.name])


def test_full_disk_during_commit_converges_through_the_cli(tmp_path: Path) -> None:
    """With the disk full after the data file (a real 8 KiB tmpfs), the run fails and the next one succeeds."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8k,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    ).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        api = FakeCaseDev(api_key=f"cdk_{secrets.token_urlsafe(24)}")
        uri = "postgresql://app:pw-disk-full-123@db.example.test:5432/app?sslmode=require"
        api.set_branch("proj_x", "main", direct=uri, pooled=uri)
        with api.serve() as server:
            config = _file_config(tmp_path, server.base_url, mount / "secrets")
            env = {"CASEDEV_API_KEY": api.api_key}
            (mount / "secrets").mkdir(mode=0o700)
            # Two pages: the intent sidecar and the data file fit, the committed sidecar does not.
            first = run_syncd("run", "--once", "--config", str(config), env=env)
            assert first.code == 1, first.output
            assert "No space left on device" in first.output
            assert "pw-disk-full-123" not in first.output
            assert "pw-disk-full-123" in (mount / "secrets" / "app.env").read_text()
            subprocess.run(
                ["mount", "-o", "remount,size=1m", str(mount)], check=True
            )
            second = run_syncd("run", "--once", "--config", str(config), env=env)
            assert second.code == 0, second.output
            assert leftovers(mount / "secrets") == []
            assert "not managed" not in second.output
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def _file_config(tmp_path: Path, base_url: str, directory: Path, **top: Any) -> Path:
    return (
        ConfigBuilder(tmp_path, log_level="info")
        .casedev(base_url)
        .file_sink(directory=directory)
        .target("app", [binding("local", "app.env", format="env")], project="proj_x")
        .set(**top)
        .write(f"syncd-{secrets.token_hex(3)}.yaml")
    )


# -- what inspect will not read ------------------------------------------------------


def test_fifo_at_the_target_is_refused_without_blocking(tmp_path: Path) -> None:
    """A FIFO planted at a secret's path fails the binding at once, naming it."""
    os.mkfifo(tmp_path / "app.env")
    world = SyncWorld(FileSink("local", tmp_path), "app.env", "env")
    error = world.engine.sync_target(world.target).sinks[0].error
    assert isinstance(error, SinkError) and "FIFO" in str(error)
    assert str(tmp_path / "app.env") in str(error)


@pytest.mark.parametrize("pointee", ["/dev/zero", "real.txt"])
def test_symlink_at_the_target_is_refused(tmp_path: Path, pointee: str) -> None:
    """A symlink at a secret's path (to a device or a file) is refused, never followed."""
    (tmp_path / "real.txt").write_text("x")
    (tmp_path / "app.env").symlink_to(pointee)
    world = SyncWorld(FileSink("local", tmp_path), "app.env", "env")
    error = world.engine.sync_target(world.target).sinks[0].error
    assert isinstance(error, SinkError) and "symbolic link" in str(error)
    assert (tmp_path / "real.txt").read_text() == "x"


def test_symlinked_sidecar_is_refused(tmp_path: Path) -> None:
    """A symlink planted as the sidecar is refused too."""
    (tmp_path / ".app.env.syncd.json").symlink_to("/dev/zero")
    world = SyncWorld(FileSink("local", tmp_path), "app.env", "env")
    error = world.engine.sync_target(world.target).sinks[0].error
    assert isinstance(error, SinkError) and "symbolic link" in str(error)


def test_directory_at_the_target_is_refused(tmp_path: Path) -> None:
    """A directory where the secret's file should be is a clear error."""
    (tmp_path / "app.env").mkdir()
    world = SyncWorld(FileSink("local", tmp_path), "app.env", "env")
    error = world.engine.sync_target(world.target).sinks[0].error
    assert isinstance(error, SinkError) and "directory, not a regular file" in str(error)


@pytest.mark.parametrize("content", [b"\xff\xfe not utf-8", b"x" * (2 * 1024 * 1024)])
def test_unreadable_content_of_a_managed_file_is_drift(tmp_path: Path, content: bytes) -> None:
    """A managed file holding non-UTF-8 bytes or an oversized blob is repaired as drift."""
    world = SyncWorld(FileSink("local", tmp_path), "app.env", "env")
    world.sync()
    (tmp_path / "app.env").write_bytes(content)
    assert world.sync() == (Action.DRIFT, True)
    assert world.password in (tmp_path / "app.env").read_text()


def test_non_utf8_unmanaged_file_is_refused_not_crashed(tmp_path: Path) -> None:
    """A foreign non-UTF-8 file is refused as not managed, not reported as a sink crash."""
    (tmp_path / "app.env").write_bytes(b"\xff\xfe")
    world = SyncWorld(FileSink("local", tmp_path), "app.env", "env")
    error = world.engine.sync_target(world.target).sinks[0].error
    assert isinstance(error, SecretNotManaged)


def test_deeply_nested_sidecar_reads_as_not_managed(tmp_path: Path) -> None:
    """A sidecar of JSON nested 60,000 deep is not syncd's: the file is refused, not crashed on."""
    (tmp_path / "app.env").write_text("DATABASE_URL=x\n")
    (tmp_path / ".app.env.syncd.json").write_text("[" * 60_000)
    world = SyncWorld(FileSink("local", tmp_path), "app.env", "env")
    error = world.engine.sync_target(world.target).sinks[0].error
    assert isinstance(error, SecretNotManaged)


# -- directory and names ---------------------------------------------------------------


def test_missing_parent_directory_is_refused(tmp_path: Path) -> None:
    """Only the last level is created: a missing parent fails with its path and creates nothing."""
    directory = tmp_path / "typo" / "secrets"
    world = SyncWorld(FileSink("local", directory), "app.env", "env")
    error = world.engine.sync_target(world.target).sinks[0].error
    assert isinstance(error, SinkError)
    assert str(tmp_path / "typo") in str(error) and "does not exist" in str(error)
    assert not (tmp_path / "typo").exists()


def test_names_leave_room_for_the_sidecar_temporary() -> None:
    """The longest valid name still gives a sidecar temporary within NAME_MAX; one more is refused."""
    FileSink.validate_secret_name("a" * MAX_NAME)
    assert len(f"..{'a' * MAX_NAME}.syncd.json.abcdefgh.tmp") == NAME_MAX
    with pytest.raises(ValueError, match="sidecar"):
        FileSink.validate_secret_name("a" * (MAX_NAME + 1))


def test_longest_name_is_written(tmp_path: Path) -> None:
    """A secret of the longest valid name is created, sidecar included."""
    assert SyncWorld(FileSink("local", tmp_path), "a" * MAX_NAME, "env").sync() == (
        Action.CREATE,
        True,
    )


# -- ownership ---------------------------------------------------------------------------


def test_sidecar_of_older_syncd_is_upgraded(tmp_path: Path) -> None:
    """A sidecar with only syncd:target is this target's; the next write records the owner."""
    world = SyncWorld(FileSink("local", tmp_path), "app.env", "env")
    (tmp_path / "app.env").write_text("old")
    (tmp_path / ".app.env.syncd.json").write_text(
        json.dumps({"managed-by": "syncd", "syncd:target": "contract", "fingerprint": "00"})
    )
    assert world.sync() == (Action.DRIFT, True)
    meta = json.loads((tmp_path / ".app.env.syncd.json").read_text())
    assert meta["owner"] == "contract-instance/contract" and "pending" not in meta


def test_two_instances_through_the_cli(tmp_path: Path) -> None:
    """A second config with another instance is refused (exit 1, how to resolve); adopt takes over."""
    api = FakeCaseDev(api_key=f"cdk_{secrets.token_urlsafe(24)}")
    uri = "postgresql://app:pw-owner-12345@db.example.test:5432/app?sslmode=require"
    api.set_branch("proj_x", "main", direct=uri, pooled=uri)
    directory = tmp_path / "secrets"
    env = {"CASEDEV_API_KEY": api.api_key}
    with api.serve() as server:
        team_a = _file_config(tmp_path, server.base_url, directory, instance="team-a")
        team_b = _file_config(tmp_path, server.base_url, directory, instance="team-b")
        assert run_syncd("run", "--once", "--config", str(team_a), env=env).code == 0
        refused = run_syncd("run", "--once", "--config", str(team_b), env=env)
        assert refused.code == 1
        assert "team-a/app" in refused.output and "adopt: true" in refused.output
        assert "instance" in refused.output
        data = yaml.safe_load(team_b.read_text())
        data["targets"][0]["sinks"][0]["adopt"] = True
        team_b.write_text(yaml.safe_dump(data))
        assert run_syncd("run", "--once", "--config", str(team_b), env=env).code == 0
    meta = json.loads((directory / ".app.env.syncd.json").read_text())
    assert meta["owner"] == "team-b/app"
