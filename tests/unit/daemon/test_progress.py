"""Tests for syncd.daemon.progress: the one-line target counter, shown only to a person at a terminal."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from typing import TextIO

import pytest

from syncd.daemon.progress import Progress

ERASE = "\r\x1b[K"


@pytest.fixture
def terminal() -> Iterator[TextIO]:
    """The writing end of a real pseudo-terminal."""
    leader, follower = os.openpty()
    stream = os.fdopen(follower, "w", encoding="utf-8")
    try:
        yield stream
    finally:
        stream.close()
        os.close(leader)


def test_a_terminal_with_console_logs_wants_the_counter(terminal: TextIO) -> None:
    """The counter belongs on a TTY when logs are rendered for the console."""
    assert Progress.wanted(terminal, "console")


def test_json_logs_never_get_the_counter(terminal: TextIO) -> None:
    """In JSON mode nothing but log lines is written, even to a terminal."""
    assert not Progress.wanted(terminal, "json")


def test_a_pipe_or_file_never_gets_the_counter() -> None:
    """A stream that is not a terminal, or cannot say, gets no counter."""
    assert not Progress.wanted(io.StringIO(), "console")
    assert not Progress.wanted(object(), "console")  # type: ignore[arg-type]


def test_each_finished_target_moves_the_counter_and_close_erases_it() -> None:
    """The counter starts at 0/N, rises by one per outcome, each update ends in CR, close erases."""
    out = io.StringIO()
    progress = Progress(out, total=3)
    progress("first outcome")
    progress("second outcome")
    progress.close()
    assert out.getvalue() == (
        f"{ERASE}syncd: 0/3 targets\r{ERASE}syncd: 1/3 targets\r{ERASE}syncd: 2/3 targets\r{ERASE}"
    )


def test_outcomes_from_many_threads_are_each_counted_once() -> None:
    """The engine reports from worker threads; no update is lost or counted twice."""
    out = io.StringIO()
    progress = Progress(out, total=400)
    workers = [
        threading.Thread(target=lambda: [progress(None) for _ in range(50)]) for _ in range(8)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    shown = [line for line in out.getvalue().split("\r") if line.startswith("\x1b[Ksyncd:")]
    assert shown[-1] == "\x1b[Ksyncd: 400/400 targets"
    assert len(shown) == 401
