"""Tests for syncd.localfile: reading a planted path without following links, blocking or reading forever."""

from __future__ import annotations

import errno
import os
import socket
import stat
from pathlib import Path

import pytest

from syncd import localfile
from syncd.localfile import NotRegular, kind, problem, read

pytestmark = pytest.mark.timeout(30)  # a read that blocks on a FIFO would hang here


def test_a_regular_file_is_read_whole(tmp_path: Path) -> None:
    """The content of a regular file no larger than the limit comes back as bytes."""
    path = tmp_path / "secret"
    path.write_bytes(b"x" * 10)
    assert read(path, 10) == b"x" * 10
    assert problem(path) is None


def test_a_file_over_the_limit_is_none_not_a_prefix(tmp_path: Path) -> None:
    """One byte over the limit yields None: a caller never gets a truncated file."""
    path = tmp_path / "big"
    path.write_bytes(b"x" * 200_000)
    assert read(path, 199_999) is None
    assert read(path, 200_000) == b"x" * 200_000


def test_a_symbolic_link_is_refused_unless_followed(tmp_path: Path) -> None:
    """A link is NotRegular by default; with follow it reads the regular file it names."""
    real = tmp_path / "real"
    real.write_bytes(b"data")
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(NotRegular, match="is a symbolic link"):
        read(link, 100)
    assert problem(link) == "is a symbolic link"
    assert read(link, 100, follow=True) == b"data"


def test_a_link_to_dev_zero_is_not_read_even_when_followed(tmp_path: Path) -> None:
    """Following a link to an endless device ends in NotRegular, not an endless read."""
    link = tmp_path / "zero"
    link.symlink_to("/dev/zero")
    with pytest.raises(NotRegular, match="is a device, not a regular file"):
        read(link, 100, follow=True)


def test_a_loop_of_links_is_eloop_when_followed(tmp_path: Path) -> None:
    """Two links naming each other are an OSError with ELOOP when followed, NotRegular when not."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(OSError) as info:
        read(a, 100, follow=True)
    assert info.value.errno == errno.ELOOP
    with pytest.raises(NotRegular):
        read(a, 100)


def test_a_fifo_without_a_writer_is_refused_at_once(tmp_path: Path) -> None:
    """Opening a FIFO does not wait for a writer: it is NotRegular straight away."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(NotRegular, match="is a FIFO, not a regular file"):
        read(fifo, 100)
    assert problem(fifo) == "is a FIFO, not a regular file"


def test_a_directory_is_refused(tmp_path: Path) -> None:
    """A directory at the path is NotRegular and named as one."""
    with pytest.raises(NotRegular, match="is a directory, not a regular file"):
        read(tmp_path, 100)
    assert problem(tmp_path) == "is a directory, not a regular file"


def test_a_socket_is_named_by_problem(tmp_path: Path) -> None:
    """problem() says what a non-regular file is without opening it, a socket included."""
    path = tmp_path / "sock"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        assert problem(path) == "is a socket, not a regular file"
    finally:
        server.close()


def test_nothing_at_the_path_is_no_problem_but_cannot_be_read(tmp_path: Path) -> None:
    """A missing path is None for problem() and FileNotFoundError for read()."""
    missing = tmp_path / "missing"
    assert problem(missing) is None
    with pytest.raises(FileNotFoundError):
        read(missing, 100)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (stat.S_IFLNK, "symbolic link"),
        (stat.S_IFDIR, "directory"),
        (stat.S_IFIFO, "FIFO"),
        (stat.S_IFCHR, "device"),
        (stat.S_IFBLK, "device"),
        (stat.S_IFSOCK, "socket"),
        (0, "special file"),
    ],
)
def test_each_kind_of_file_is_named_in_words(mode: int, expected: str) -> None:
    """kind() turns a st_mode into the word an operator reads in the error."""
    assert kind(mode | 0o644) == expected


def test_no_descriptor_is_left_open(tmp_path: Path) -> None:
    """Every read closes its file, whether it returned content or refused the path."""
    path = tmp_path / "secret"
    path.write_bytes(b"x")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    before = len(list(Path("/proc/self/fd").iterdir()))
    for _ in range(20):
        localfile.read(path, 10)
        with pytest.raises(NotRegular):
            localfile.read(fifo, 10)
    assert len(list(Path("/proc/self/fd").iterdir())) == before
