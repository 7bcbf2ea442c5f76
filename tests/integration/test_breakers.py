"""End to end: `python -m syncd run` with one healthy case.dev and one that accepts and never answers.

The hung provider's breaker opens after 3 timed-out attempts; its other
targets then fail fast, the healthy provider's targets keep syncing on
schedule (the hung one holds at most its share of the workers), and
/readyz names the hung provider. Once it answers again, its targets
recover within one interval.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest

from syncd.core.breaker import FAILURES
from syncd.testing.casedev import FakeCaseDev
from tests.conftest import syncd_daemon
from tests.support.configs import ConfigBuilder, binding, target
from tests.support.loopback_http import get
from tests.support.servers.loopback import LoopbackServer
from tests.support.servers.ports import free_port
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e
API_KEY = "test-key-breaker-e2e"
HEALTHY = [f"ok{i}" for i in range(2)]
HUNG = [f"hung{i}" for i in range(5)]


def _hanging_handler(release: threading.Event) -> type[BaseHTTPRequestHandler]:
    class Hang(BaseHTTPRequestHandler):
        """Reads the request, then answers nothing until the test ends."""

        def do_GET(self) -> None:
            release.wait(60)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
            pass

    return Hang


@pytest.fixture
def hung_server() -> Iterator[LoopbackServer]:
    """A loopback server that accepts every connection and never answers."""
    release = threading.Event()
    with LoopbackServer(_hanging_handler(release)) as server:
        try:
            yield server
        finally:
            release.set()


def _target(name: str, provider: str) -> dict[str, Any]:
    return target(name, [binding("files", f"{name}.uri")], provider=provider, project="proj")


def test_a_hung_provider_fails_fast_and_the_healthy_one_keeps_its_schedule(
    tmp_path: Path, hung_server: LoopbackServer
) -> None:
    """After 3 timeouts the hung provider's targets fail fast; the other provider's sync every interval."""
    api = FakeCaseDev(API_KEY)
    api.set_branch(
        "proj",
        "main",
        direct="postgresql://app:pw-direct-123@db.example.com/app?sslmode=require",
        pooled="postgresql://app:pw-pooled-123@pool.example.com/app?sslmode=require",
    )
    port = free_port()
    with api.serve() as healthy:
        hung = {"base_url": hung_server.url, "timeout": 1.0, "max_attempts": 1}
        _write_config(tmp_path, port, 2, healthy.base_url, hung, HEALTHY)
        with syncd_daemon(tmp_path / "syncd.yaml", {"CASEDEV_API_KEY": API_KEY}) as (_, logs):
            _check(port, logs, tmp_path / "secrets")


def _write_config(
    tmp_path: Path,
    port: int,
    concurrency: int,
    healthy_url: str,
    hung: dict[str, Any],
    healthy_names: list[str],
) -> None:
    """syncd.yaml: a healthy and a hung case.dev, their targets, a file sink, a 10 s interval."""
    (
        ConfigBuilder(tmp_path, log_level="info")
        .set(metrics={"listen": f"127.0.0.1:{port}"}, shutdown_timeout="5s", concurrency=concurrency)
        .casedev(healthy_url, name="healthy")
        .provider("hung", "casedev", **hung)
        .file_sink("files", directory=tmp_path / "secrets")
        .set(defaults={"interval": "10s", "jitter": "0s", "format": "uri"})
        .targets(_target(name, "healthy") for name in healthy_names)
        .targets(_target(name, "hung") for name in HUNG)
        .write()
    )


def _check(port: int, logs: list[dict[str, Any]], secrets: Path) -> None:
    def failures(provider: str) -> list[str]:
        return [
            str(e["error"])
            for e in list(logs)
            if e.get("event") == "fetch_failed" and e.get("provider") == provider
        ]

    def healthy_syncs() -> int:
        body = get(port, "/metrics")[1]
        return sum(
            int(float(line.rsplit(" ", 1)[1]))
            for line in body.splitlines()
            if line.startswith("syncd_sync_total{") and 'result="ok"' in line
        )

    # Every hung target failed once: 3 by timing out, the others at once.
    wait_for(lambda: len(failures("hung")) >= len(HUNG), 20, "every hung target to fail")
    first = failures("hung")[: len(HUNG)]
    timed_out = [e for e in first if "timed out" in e]
    fast = [e for e in first if "circuit open since" in e]
    # Two workers: a fetch already in flight when the breaker opens still times out.
    assert FAILURES <= len(timed_out) <= FAILURES + 1, first
    assert len(fast) == len(HUNG) - len(timed_out), first
    assert fast[0].startswith("provider hung unavailable (circuit open since ")
    assert not failures("healthy")
    assert all((secrets / f"{name}.uri").exists() for name in HEALTHY)

    status, body = get(port, "/readyz")
    assert status == 503
    answer = json.loads(body)
    assert [(c["kind"], c["name"]) for c in answer["open_breakers"]] == [("provider", "hung")]
    assert answer["stale_by_provider"] == {"hung": len(HUNG)}
    assert set(answer["stale"]) == set(HUNG)
    assert 'syncd_dependency_up{kind="provider",name="hung"} 0.0' in get(port, "/metrics")[1]
    assert 'syncd_dependency_up{kind="provider",name="healthy"} 1.0' in get(port, "/metrics")[1]

    # The healthy targets sync again on their 10 s schedule, while the hung
    # ones' early retries keep failing fast (no more timeouts before the probe).
    wait_for(lambda: healthy_syncs() >= 2 * len(HEALTHY), 15, "the second healthy cycle")
    later = failures("hung")[len(HUNG) :]
    assert later, "the hung targets were retried"
    assert all("circuit open since" in e for e in later), later


def _switchable_handler(
    api: FakeCaseDev, hanging: threading.Event, released: threading.Event
) -> type[BaseHTTPRequestHandler]:
    class Switchable(BaseHTTPRequestHandler):
        """Answers like case.dev, except that while ``hanging`` is set it answers nothing."""

        def do_GET(self) -> None:
            if hanging.is_set():
                released.wait(60)
                return
            request = httpx.Request(
                "GET", f"http://case.dev{self.path}", headers=dict(self.headers.items())
            )
            response = api.handle(request)
            self.send_response(response.status_code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(response.content)))
            self.end_headers()
            self.wfile.write(response.content)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
            pass

    return Switchable


def test_a_provider_that_answers_again_recovers_within_one_interval(tmp_path: Path) -> None:
    """Hung, then back: its targets fail fast, then all sync within an interval; the other's never wait."""
    api = FakeCaseDev(API_KEY)
    api.set_branch(
        "proj",
        "main",
        direct="postgresql://app:pw-direct-456@db.example.com/app?sslmode=require",
        pooled="postgresql://app:pw-pooled-456@pool.example.com/app?sslmode=require",
    )
    hanging, released = threading.Event(), threading.Event()
    hanging.set()
    healthy_names = [f"ok{i}" for i in range(4)]
    port = free_port()
    with (
        api.serve() as healthy,
        LoopbackServer(_switchable_handler(api, hanging, released)) as flaky,
    ):
        hung = {"base_url": flaky.url, "timeout": 1.0}
        _write_config(tmp_path, port, 4, healthy.base_url, hung, healthy_names)
        with syncd_daemon(tmp_path / "syncd.yaml", {"CASEDEV_API_KEY": API_KEY}) as (_, logs):
            secrets = tmp_path / "secrets"
            # Every healthy target syncs at once: the hung provider holds 2 of 4 workers
            # (the healthy one its own 2: two of its targets wait a second for them).
            wait_for(
                lambda: all((secrets / f"{n}.uri").exists() for n in healthy_names),
                5,
                "the healthy targets' first sync",
            )
            wait_for(
                lambda: get(port, "/readyz")[0] == 503
                and json.loads(get(port, "/readyz")[1])["open_breakers"],
                10,
                "the hung provider's breaker to open",
            )
            released.set()
            hanging.clear()
            back = time.monotonic()
            wait_for(
                lambda: all((secrets / f"{n}.uri").exists() for n in HUNG),
                12,
                "every target of the provider that answers again",
            )
            recovered = time.monotonic() - back
            wait_for(lambda: get(port, "/readyz")[0] == 200, 5, "readiness")
    assert recovered < 12
    events = [e.get("event") for e in logs]
    assert "dependency_recovered" in events
    healthy_trouble = [
        e
        for e in logs
        if e.get("event") in {"cycle_skipped", "fetch_failed", "sync_failed"}
        and (e.get("target") in healthy_names or e.get("provider") == "healthy")
    ]
    assert not healthy_trouble
