"""End to end for daemon mode: `python -m syncd run` as a real process under a fake systemd.

The daemon syncs from the case.dev-compatible API (backed by the real
PostgreSQL) into files and AWS (moto's server), while the test plays systemd:
it listens on a NOTIFY_SOCKET, sends SIGHUP and SIGTERM, and probes the
metrics and health endpoints. Intervals are the 10s minimum with no jitter.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from syncd.testing.casedev import Fault
from tests.conftest import CaseDevWorld, connects
from tests.support.configs import ConfigBuilder, binding, target
from tests.support.loopback_http import get
from tests.support.servers.moto import MotoServer
from tests.support.servers.ports import free_port
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e
PROJECT = "proj_daemon"
INTERVAL = 10.0


@dataclass
class Daemon:
    """The running `syncd run` process, its log lines and what it told 'systemd'."""

    proc: subprocess.Popen[str]
    port: int
    logs: list[dict[str, Any]] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in list(self.logs) if e.get("event") == name]

    def get(self, path: str) -> tuple[int, str]:
        return get(self.port, path)


def write_config(
    path: Path, casedev: CaseDevWorld, aws: MotoServer, port: int, targets: list[dict[str, Any]]
) -> None:
    (
        ConfigBuilder(path.parent, log_level="info")
        .set(metrics={"listen": f"127.0.0.1:{port}"}, shutdown_timeout="10s")
        .casedev(casedev.base_url)
        .file_sink("files", directory=path.parent / "secrets")
        .aws_sink(region=aws.region)
        .set(defaults={"interval": "10s", "jitter": "0s", "format": "uri"})
        .targets(targets)
        .write(path.name)
    )


def app_target() -> dict[str, Any]:
    bindings = [binding("files", "app.uri"), binding("aws", "prod/app/db")]
    return target("app", bindings, project=PROJECT)


def feature_target() -> dict[str, Any]:
    return target("feature", [binding("files", "feature.uri")], project=PROJECT, branch="feature")


@pytest.fixture
def notify_socket() -> Iterator[tuple[str, list[str]]]:
    """A NOTIFY_SOCKET like systemd's, collecting every datagram in a list."""
    with tempfile.TemporaryDirectory(prefix="sdn-") as tmp:  # AF_UNIX paths are short
        path = str(Path(tmp) / "notify")
        received: list[str] = []
        stop = threading.Event()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(path)
            sock.settimeout(0.1)

            def collect() -> None:
                while not stop.is_set():
                    try:
                        received.extend(sock.recv(4096).decode().splitlines())
                    except TimeoutError:
                        continue

            reader = threading.Thread(target=collect, name="notify-reader")
            reader.start()
            try:
                yield path, received
            finally:
                stop.set()
                reader.join()


@pytest.fixture
def daemon(
    tmp_path: Path, casedev: CaseDevWorld, aws: MotoServer, notify_socket: tuple[str, list[str]]
) -> Iterator[Daemon]:
    """`python -m syncd run` with one target, a watchdog of 2s and a free metrics port."""
    casedev.add_branch(PROJECT, "main")
    casedev.add_branch(PROJECT, "feature")
    port = free_port()
    write_config(tmp_path / "syncd.yaml", casedev, aws, port, [app_target()])
    env = {
        **os.environ,
        "CASEDEV_API_KEY": casedev.api.api_key,
        "NOTIFY_SOCKET": notify_socket[0],
        "WATCHDOG_USEC": "2000000",
    }
    with subprocess.Popen(
        [sys.executable, "-m", "syncd", "run", "--config", str(tmp_path / "syncd.yaml")],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        running = Daemon(proc, port, notes=notify_socket[1])

        def read() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                running.raw.append(line)
                with contextlib.suppress(ValueError):
                    running.logs.append(json.loads(line))

        reader = threading.Thread(target=read, name="stderr-reader")
        reader.start()
        try:
            yield running
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
            reader.join()


def test_daemon_syncs_rotates_reloads_and_stops_cleanly(
    tmp_path: Path, casedev: CaseDevWorld, aws: MotoServer, daemon: Daemon, sm_client: Any
) -> None:
    """The daemon follows a rotation within one interval, survives a bad SIGHUP, applies a good one, stops on SIGTERM."""
    secrets = tmp_path / "secrets"
    config = tmp_path / "syncd.yaml"
    started = time.monotonic()

    # Start-up: READY=1, the first cycle, and connection strings that really connect.
    wait_for(lambda: "READY=1" in daemon.notes, 15, "READY=1")
    assert daemon.get("/healthz") == (200, "ok\n")
    wait_for(lambda: daemon.get("/readyz")[0] == 200, 15, "the first sync (/readyz 200)")
    main = casedev.branches[(PROJECT, "main")]
    uri = (secrets / "app.uri").read_text()
    assert connects(uri) == main.role
    assert sm_client.get_secret_value(SecretId="prod/app/db")["SecretString"] == uri

    # Metrics.
    status, metrics = daemon.get("/metrics")
    assert status == 200
    assert 'syncd_sync_total{result="ok",sink="files",target="app"} 1.0' in metrics
    assert 'syncd_secrets_written_total{kind="created",sink="aws",target="app"} 1.0' in metrics
    assert 'syncd_provider_requests_total{outcome="ok",provider="casedev"} 1.0' in metrics
    assert 'syncd_sink_requests_total{outcome="not_found",sink="aws"} 1.0' in metrics
    assert main.password not in metrics and casedev.api.api_key not in metrics

    # Rotation at the provider, and at the same moment an invalid config on SIGHUP.
    rotated_at = time.monotonic()
    rotated = casedev.rotate(PROJECT, "main")
    good_config = config.read_text()
    config.write_text(good_config.replace("interval: 10s", "interval: 1s"))
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: daemon.events("config_reload_failed"), 5, "config_reload_failed")
    (failed,) = daemon.events("config_reload_failed")
    assert "interval must be at least 10s" in failed["error"]
    assert daemon.proc.poll() is None

    # The old config keeps syncing: the rotation arrives within one interval (jitter is 0).
    wait_for(
        lambda: rotated.password in (secrets / "app.uri").read_text(),
        INTERVAL + 3,
        "the rotated credential",
    )
    assert time.monotonic() - rotated_at <= INTERVAL + 3
    new_uri = (secrets / "app.uri").read_text()
    assert connects(new_uri) == main.role
    with pytest.raises(psycopg.OperationalError):
        connects(uri)
    wait_for(
        lambda: sm_client.get_secret_value(SecretId="prod/app/db")["SecretString"] == new_uri,
        5,
        "AWS rotation",
    )

    # A valid SIGHUP adds a target without a restart. Its first provider answer is slow
    # (1.5s), and SIGTERM arrives while that sync is in flight: the daemon stops taking new
    # work but lets it finish, writes the secret whole, then exits 0.
    feature = casedev.branches[(PROJECT, "feature")]
    answer = {
        "connectionUri": casedev.postgres.direct_uri(feature),
        "branch": "feature",
        "pooled": False,
    }
    casedev.api.fail_next(Fault(200, json.dumps(answer).encode(), delay=1.5))
    seen = len(casedev.api.requests)
    write_config(config, casedev, aws, daemon.port, [app_target(), feature_target()])
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(
        lambda: any(r.params.get("branch") == "feature" for r in casedev.api.requests[seen:]),
        5,
        "the added target's fetch",
    )
    assert not (secrets / "feature.uri").exists()

    # sd_notify so far: status lines and watchdog pings from the healthy loop.
    assert any(n.startswith("STATUS=") and "targets ok" in n for n in daemon.notes)
    assert daemon.notes.count("WATCHDOG=1") >= 3

    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(15) == 0
    (reloaded,) = daemon.events("config_reloaded")
    assert (reloaded["added"], reloaded["removed"], reloaded["changed"]) == (1, 0, 0)
    (stopping,) = daemon.events("shutdown_started")
    assert stopping["in_flight"] == 1
    assert connects((secrets / "feature.uri").read_text()) == feature.role
    wait_for(lambda: "STOPPING=1" in daemon.notes, 2, "STOPPING=1")
    assert [p.name for p in secrets.iterdir() if p.name.endswith(".tmp")] == []
    assert (secrets / "app.uri").read_text() == new_uri
    assert daemon.events("shutdown_complete")
    assert not [line for line in daemon.raw if "Traceback" in line]
    assert time.monotonic() - started < 45
