"""Tests for syncd.net.observe: the outcome vocabulary and handing an observer to plugins."""

from __future__ import annotations

import pytest

from syncd.net.observe import OUTCOMES, Kind, Observable, Outcome, attach, http_outcome
from syncd.testing.fakes import MemorySink


class Counting:
    """A RequestObserver that keeps every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[Kind, str, Outcome]] = []

    def request(self, kind: Kind, name: str, outcome: Outcome) -> None:
        self.calls.append((kind, name, outcome))


class Reporting:
    """A plugin that reports one request per call of ``call``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.observer: Counting | None = None

    def observe(self, observer: Counting) -> None:
        self.observer = observer

    def call(self, status: int) -> None:
        if self.observer is not None:
            self.observer.request("sink", self.name, http_outcome(status))


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "ok"),
        (404, "not_found"),
        (401, "denied"),
        (403, "denied"),
        (429, "throttled"),
        (408, "unavailable"),
        (503, "unavailable"),
        (400, "error"),
    ],
)
def test_http_statuses_map_to_outcomes(status: int, outcome: str) -> None:
    """HTTP answers become the fixed outcome vocabulary of the request counters."""
    assert http_outcome(status) == outcome


def test_every_http_status_maps_into_the_published_outcomes() -> None:
    """No status from 100 to 599 yields an outcome outside OUTCOMES, the label set dashboards know."""
    assert {http_outcome(status) for status in range(100, 600)} == set(OUTCOMES)


def test_attach_hands_the_observer_to_observable_plugins_only() -> None:
    """A plugin with observe() gets the observer and reports through it; one without is skipped."""
    observer = Counting()
    reporting, silent = Reporting("v"), MemorySink()
    attach([reporting, silent], observer)
    assert reporting.observer is observer
    assert isinstance(reporting, Observable) and not isinstance(silent, Observable)
    reporting.call(200)
    reporting.call(429)
    assert observer.calls == [("sink", "v", "ok"), ("sink", "v", "throttled")]
