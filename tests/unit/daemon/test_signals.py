"""Tests for syncd.daemon.signals: the main thread's inbox of signals and requests."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from syncd.daemon.signals import Inbox

#: A lost signal would leave the loop waiting for ever.
pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox()
    yield box
    box.close()


def test_a_posted_request_is_what_wait_returns(inbox: Inbox) -> None:
    """post() from any thread queues the signal number; wait() hands it to the main loop."""
    inbox.post(signal.SIGHUP)
    assert inbox.wait(1.0) == bytes([signal.SIGHUP])


def test_wait_returns_nothing_when_the_timeout_passes(inbox: Inbox) -> None:
    """With nothing posted, wait() gives up after its timeout and returns no signals."""
    assert inbox.wait(0.01) == b""


def test_serve_reloads_on_sighup_and_returns_on_a_stop_request(inbox: Inbox) -> None:
    """SIGHUP calls on_reload, the loop keeps going, and SIGTERM ends it with a logged stop."""
    reloads: list[None] = []
    inbox.post(signal.SIGHUP)

    def on_reload() -> None:
        reloads.append(None)
        inbox.post(signal.SIGHUP if len(reloads) < 2 else signal.SIGTERM)

    with capture_logs() as logs:
        inbox.serve(tick=None, on_tick=lambda: None, on_reload=on_reload, install=False)
    assert len(reloads) == 2
    assert [(e["event"], e["signal"]) for e in logs] == [("stop_requested", "SIGTERM")]


def test_a_stop_wins_over_a_reload_received_with_it(inbox: Inbox) -> None:
    """When SIGHUP and SIGINT arrive together the daemon stops without reloading first."""
    inbox.post(signal.SIGHUP)
    inbox.post(signal.SIGINT)
    reloads: list[None] = []
    inbox.serve(
        tick=None, on_tick=lambda: None, on_reload=lambda: reloads.append(None), install=False
    )
    assert reloads == []


def test_on_tick_runs_every_tick_while_waiting(inbox: Inbox) -> None:
    """With a tick the loop calls on_tick periodically (the watchdog) until a stop arrives."""
    ticks: list[None] = []

    def on_tick() -> None:
        ticks.append(None)
        if len(ticks) == 3:
            inbox.post(signal.SIGTERM)

    inbox.serve(tick=0.01, on_tick=on_tick, on_reload=lambda: None, install=False)
    assert len(ticks) == 3


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_real_signals_reload_and_stop_and_the_old_handlers_come_back(
    inbox: Inbox, stop: signal.Signals
) -> None:
    """A real SIGHUP to the own process reloads, a real SIGTERM or SIGINT stops, handlers are restored."""
    before = {s: signal.getsignal(s) for s in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)}
    reloads: list[None] = []

    def on_reload() -> None:
        reloads.append(None)
        os.kill(os.getpid(), stop)

    def on_tick() -> None:
        # The first tick comes after install(): the handlers are in place.
        if not reloads:
            os.kill(os.getpid(), signal.SIGHUP)

    with capture_logs() as logs:
        inbox.serve(tick=5.0, on_tick=on_tick, on_reload=on_reload)
    assert len(reloads) == 1
    assert [e["signal"] for e in logs if e["event"] == "stop_requested"] == [stop.name]
    assert {s: signal.getsignal(s) for s in before} == before


def test_uninstall_restores_the_previous_wakeup_fd(inbox: Inbox) -> None:
    """install() takes over the wakeup fd and uninstall() gives the previous one back."""
    previous = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(previous)
    inbox.install([signal.SIGHUP])
    try:
        taken = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(taken, warn_on_full_buffer=False)
    finally:
        inbox.uninstall()
    assert taken not in (-1, previous)
    assert signal.set_wakeup_fd(previous) == previous
