"""Tests for syncd.daemon.sdnotify against real AF_UNIX datagram sockets."""

from __future__ import annotations

import os
import secrets
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from syncd.daemon.sdnotify import Notifier


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # AF_UNIX paths are limited to 108 bytes; pytest's tmp_path can be longer.
    with tempfile.TemporaryDirectory(prefix="sdn-") as name:
        yield Path(name)


@pytest.fixture
def path_socket(short_dir: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(short_dir / "notify")
    sock.bind(path)
    sock.settimeout(5)
    with sock:
        yield sock, path


@pytest.fixture
def abstract_socket() -> Iterator[tuple[socket.socket, str]]:
    name = f"syncd-test-{secrets.token_hex(8)}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    with sock:
        yield sock, "@" + name


def _receive(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def test_ready_reaches_a_filesystem_socket(path_socket: tuple[socket.socket, str]) -> None:
    """ready() sends READY=1 to the path named by NOTIFY_SOCKET."""
    sock, path = path_socket
    notifier = Notifier({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    assert notifier.ready() is True
    assert _receive(sock) == "READY=1\n"


def test_abstract_socket_names_start_with_at(abstract_socket: tuple[socket.socket, str]) -> None:
    """An @name address is sent to the abstract-namespace socket of that name."""
    sock, address = abstract_socket
    notifier = Notifier({"NOTIFY_SOCKET": address})
    assert notifier.watchdog() is True
    assert _receive(sock) == "WATCHDOG=1\n"


def test_each_method_sends_its_documented_field(path_socket: tuple[socket.socket, str]) -> None:
    """status(), watchdog() and stopping() send the sd_notify(3) variables systemd expects."""
    sock, path = path_socket
    notifier = Notifier({"NOTIFY_SOCKET": path})
    notifier.status("synced 3 targets")
    notifier.watchdog()
    notifier.stopping()
    assert [_receive(sock) for _ in range(3)] == [
        "STATUS=synced 3 targets\n",
        "WATCHDOG=1\n",
        "STOPPING=1\n",
    ]


def test_reloading_carries_a_monotonic_timestamp(path_socket: tuple[socket.socket, str]) -> None:
    """reloading() sends RELOADING=1 with MONOTONIC_USEC, which systemd >= 253 requires."""
    sock, path = path_socket
    Notifier({"NOTIFY_SOCKET": path}).reloading()
    first, second, rest = _receive(sock).split("\n")
    assert first == "RELOADING=1"
    assert second.startswith("MONOTONIC_USEC=")
    assert int(second.removeprefix("MONOTONIC_USEC=")) > 0
    assert rest == ""


def test_notify_sends_all_fields_in_one_datagram(path_socket: tuple[socket.socket, str]) -> None:
    """notify(**fields) puts every field, in call order, into a single datagram."""
    sock, path = path_socket
    Notifier({"NOTIFY_SOCKET": path}).notify(READY=1, STATUS="up", MAINPID=os.getpid())
    assert _receive(sock) == f"READY=1\nSTATUS=up\nMAINPID={os.getpid()}\n"


def test_newlines_in_values_cannot_inject_fields(path_socket: tuple[socket.socket, str]) -> None:
    """A newline inside a value is flattened so the value cannot smuggle in READY=1."""
    sock, path = path_socket
    Notifier({"NOTIFY_SOCKET": path}).status("bad\nREADY=1")
    assert _receive(sock) == "STATUS=bad READY=1\n"


@pytest.mark.parametrize("key", ["", "A=B", "A\nB"])
def test_invalid_field_names_are_a_programming_error(key: str) -> None:
    """A field name that would break the line protocol raises ValueError, even when disabled."""
    with pytest.raises(ValueError, match="field name"):
        Notifier({}).notify(**{key: "1"})


def test_unset_notify_socket_makes_every_call_a_no_op() -> None:
    """Without NOTIFY_SOCKET nothing is sent, nothing is logged and nothing raises."""
    notifier = Notifier({})
    with capture_logs() as logs:
        results = [
            notifier.ready(),
            notifier.status("x"),
            notifier.watchdog(),
            notifier.stopping(),
            notifier.reloading(),
        ]
    assert not notifier.enabled
    assert results == [False] * 5
    assert logs == []


def test_default_environment_is_os_environ(
    path_socket: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Notifier() with no argument reads NOTIFY_SOCKET from the process environment."""
    sock, path = path_socket
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    Notifier().ready()
    assert _receive(sock) == "READY=1\n"


def test_send_failure_is_logged_not_raised(short_dir: Path) -> None:
    """A socket that is gone yields False and an sd_notify_failed warning instead of an error."""
    notifier = Notifier({"NOTIFY_SOCKET": str(short_dir / "missing")})
    with capture_logs() as logs:
        assert notifier.ready() is False
    assert len(logs) == 1
    assert logs[0]["event"] == "sd_notify_failed"
    assert logs[0]["log_level"] == "warning"
    assert logs[0]["fields"] == ["READY"]
    assert logs[0]["socket"] == str(short_dir / "missing")


def test_stream_socket_peer_is_a_send_failure(short_dir: Path) -> None:
    """A path that is not a datagram socket (here a stream listener) is logged, not raised."""
    path = str(short_dir / "stream")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen()
        with capture_logs() as logs:
            assert Notifier({"NOTIFY_SOCKET": path}).watchdog() is False
    assert [entry["event"] for entry in logs] == ["sd_notify_failed"]


@pytest.mark.parametrize("address", ["vsock:2:1234", "relative/path", "@"])
def test_unsupported_addresses_disable_the_notifier(address: str) -> None:
    """An address that is neither a path nor @abstract disables notifications with a warning."""
    with capture_logs() as logs:
        notifier = Notifier({"NOTIFY_SOCKET": address})
        assert notifier.ready() is False
    assert not notifier.enabled
    assert [entry["event"] for entry in logs] == ["sd_notify_failed"]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
        ({"WATCHDOG_USEC": "1"}, 0.0000005),
        ({}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "self"}, None),
    ],
)
def test_watchdog_interval_is_half_the_period_for_this_process(
    environ: dict[str, str], expected: float | None
) -> None:
    """watchdog_interval() is WATCHDOG_USEC/2 in seconds, and None unless armed for this pid."""
    assert Notifier(environ).watchdog_interval() == expected
