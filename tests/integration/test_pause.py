"""End-to-end: no server can stall syncd with a pause, and a signal ends the pauses it does take.

Each test runs ``python -m syncd`` against a hostile server on loopback
(:class:`~tests.support.servers.pausing.PausingServer`) standing in for case.dev, a
Vault sink or an AWS Secrets Manager sink, which answers every request with
"come back in three years": ``Retry-After: 99999999``, an HTTP-date far
ahead, or case.dev's ``x-ratelimit-remaining-requests: 0`` with
``x-ratelimit-reset-requests: 99999h``. ``run --once`` must end with exit 1
and a one-line "rate limited by ...; retry after 60 s", not sleep for years.
A pause below the cap (50 s) is one syncd does wait out: SIGTERM during it
must end ``run --once`` (143) and the daemon (0) within seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from syncd.testing.casedev import FakeCaseDev, RunningServer
from tests.conftest import run_syncd
from tests.support.configs import ConfigBuilder, binding
from tests.support.servers.pausing import (
    AWS_BODY,
    AWS_CONTENT_TYPE,
    CASEDEV_BODY,
    VAULT_BODY,
    PausingServer,
)

pytestmark = pytest.mark.e2e

KEY = "cdk_live_pausee2e0123456789abcdef"
VAULT_TOKEN = "hvs.PauseE2eVaultToken0123456789"
AWS_SECRET = "PauseE2eAwsSecretKey0123456789abcdefABCD"
URI = "postgresql://owner:PauseE2ePassw0rd@ep-a.neon.tech/neondb?sslmode=require"
ENV = {
    "CASEDEV_API_KEY": KEY,
    "VAULT_TOKEN": VAULT_TOKEN,
    "AWS_ACCESS_KEY_ID": "AKIAPAUSEE2E00000000",
    "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
}
CREDENTIALS = (KEY, VAULT_TOKEN, AWS_SECRET, "PauseE2ePassw0rd")
#: The longest a run may take against a server asking for years (the brief's bound).
RUN_BOUND = 60
#: The longest syncd may take to exit once SIGTERM arrived during a pause.
SIGNAL_BOUND = 10
#: A pause syncd waits out (below the 60 s cap and the 120 s target deadline).
WAITED_PAUSE = "50"
FAR_DATE = "Fri, 31 Dec 9999 23:59:59 GMT"


@dataclass(frozen=True)
class Hostile:
    """Which API the hostile server plays, and how it says "go away"."""

    role: str  # "casedev", "vault" or "aws"
    status: int
    headers: dict[str, str]

    @property
    def source(self) -> str:
        return {
            "casedev": "case.dev provider casedev",
            "vault": "vault sink vault",
            "aws": "aws sink aws",
        }[self.role]

    def serve(self) -> PausingServer:
        body, kind = {
            "casedev": (CASEDEV_BODY, "application/json"),
            "vault": (VAULT_BODY, "application/json"),
            "aws": (AWS_BODY, AWS_CONTENT_TYPE),
        }[self.role]
        return PausingServer(self.status, self.headers, body, content_type=kind)


def _throttle(role: str, headers: dict[str, str]) -> Hostile:
    return Hostile(role, 400 if role == "aws" else 429, headers)


ENORMOUS = [
    pytest.param(_throttle("casedev", {"Retry-After": "99999999"}), id="casedev-retry-after"),
    pytest.param(_throttle("casedev", {"Retry-After": FAR_DATE}), id="casedev-http-date"),
    pytest.param(
        _throttle(
            "casedev",
            {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "99999h"},
        ),
        id="casedev-x-ratelimit",
    ),
    pytest.param(_throttle("vault", {"Retry-After": "99999999"}), id="vault-retry-after"),
    pytest.param(_throttle("aws", {"Retry-After": "99999999"}), id="aws-retry-after"),
]

WAITED = [
    pytest.param(_throttle("casedev", {"Retry-After": WAITED_PAUSE}), id="casedev"),
    pytest.param(
        _throttle(
            "casedev",
            {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "50s"},
        ),
        id="casedev-x-ratelimit",
    ),
    pytest.param(_throttle("vault", {"Retry-After": WAITED_PAUSE}), id="vault"),
    pytest.param(_throttle("aws", {"Retry-After": WAITED_PAUSE}), id="aws"),
]


@pytest.fixture
def casedev() -> Iterator[RunningServer]:
    """A well-behaved case.dev, for the tests where a sink is the hostile one."""
    fake = FakeCaseDev(KEY)
    fake.set_branch("proj_1", "main", direct=URI, pooled=URI)
    with fake.serve() as server:
        yield server


def _config(tmp_path: Path, hostile: Hostile, url: str, casedev_url: str, **extra: Any) -> Path:
    """Two targets whose provider or sink is the hostile server."""
    builder = (
        ConfigBuilder(tmp_path, log_level="info")
        .set(metrics={"enabled": False})
        .casedev(url if hostile.role == "casedev" else casedev_url)
        .file_sink()
    )
    if hostile.role == "vault":
        builder.sink("vault", "vault", url=url)
    if hostile.role == "aws":
        builder.aws_sink(endpoint_url=url)
    sink = hostile.role if hostile.role != "casedev" else "local"
    for name in ("app", "worker"):
        secret = f"{name}.json" if sink == "local" else f"syncd/{name}"
        builder.target(name, [binding(sink, secret)])
    (tmp_path / "out").mkdir(exist_ok=True)
    return builder.set(**extra).write()


def _events(stderr: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("hostile", ENORMOUS)
def test_run_once_against_an_enormous_pause_fails_fast_in_one_line(
    tmp_path: Path, casedev: RunningServer, hostile: Hostile
) -> None:
    """A server asking for years: exit 1 well within a minute, "rate limited by X" per target."""
    with hostile.serve() as server:
        path = _config(tmp_path, hostile, server.url, casedev.base_url)
        started = time.monotonic()
        result = run_syncd("run", "--once", "--config", str(path), env=ENV, timeout=RUN_BOUND)
        took = time.monotonic() - started
    assert result.code == 1, result.output
    assert took < RUN_BOUND
    expected = f"rate limited by {hostile.source}; retry after 60 s"
    rows = [line for line in result.stdout.splitlines() if "rate limited" in line]
    assert len(rows) == 2, result.stdout  # one row per target, each one line
    assert all(expected in row and "FAILED" in row for row in rows)
    assert "Traceback" not in result.output
    for secret in CREDENTIALS:
        assert secret not in result.output
    assert server.requests <= 2  # one refused request at most per target, no retries


def _start(path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "syncd", "run", *args, "--config", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **ENV},
    )


def _terminate_during_the_pause(proc: subprocess.Popen[str], server: PausingServer) -> float:
    """Wait until syncd was told to pause, let it fall asleep, SIGTERM it; seconds to exit."""
    try:
        assert server.wait_for_request(30), "syncd never reached the hostile server"
        time.sleep(1.0)  # syncd is now sleeping in the 50 s pause
        assert proc.poll() is None, "syncd ended instead of waiting out the pause"
        proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        proc.wait(SIGNAL_BOUND)
        return time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("hostile", WAITED)
def test_sigterm_ends_run_once_sleeping_in_a_pause(
    tmp_path: Path, casedev: RunningServer, hostile: Hostile
) -> None:
    """SIGTERM while run --once waits out a 50 s pause: exit 143 within seconds, one log line."""
    with hostile.serve() as server:
        proc = _start(_config(tmp_path, hostile, server.url, casedev.base_url), "--once")
        took = _terminate_during_the_pause(proc, server)
        stdout, stderr = proc.communicate()
    assert proc.returncode == 143, stderr
    assert took < SIGNAL_BOUND
    assert "Traceback" not in stderr and stdout == ""
    interrupted = [e for e in _events(stderr) if e["event"] == "interrupted"]
    assert len(interrupted) == 1 and interrupted[0]["signal"] == "SIGTERM"
    for secret in CREDENTIALS:
        assert secret not in stdout + stderr


@pytest.mark.parametrize("hostile", WAITED[2:3])
def test_sigterm_ends_run_once_of_one_target_sleeping_in_a_pause(
    tmp_path: Path, casedev: RunningServer, hostile: Hostile
) -> None:
    """With one target the main thread sleeps in the pause itself: SIGTERM still ends it, 143."""
    with hostile.serve() as server:
        path = _config(tmp_path, hostile, server.url, casedev.base_url)
        proc = _start(path, "--once", "--target", "app")
        took = _terminate_during_the_pause(proc, server)
        _stdout, stderr = proc.communicate()
    assert proc.returncode == 143, stderr
    assert took < SIGNAL_BOUND and "Traceback" not in stderr


@pytest.mark.parametrize("hostile", WAITED)
def test_sigterm_ends_the_daemon_sleeping_in_a_pause(
    tmp_path: Path, casedev: RunningServer, hostile: Hostile
) -> None:
    """The daemon's shutdown wakes the syncs sleeping in a 50 s pause: exit 0 within seconds."""
    with hostile.serve() as server:
        path = _config(
            tmp_path, hostile, server.url, casedev.base_url, shutdown_timeout="45s"
        )
        proc = _start(path)
        took = _terminate_during_the_pause(proc, server)
        _stdout, stderr = proc.communicate()
    assert proc.returncode == 0, stderr
    assert took < SIGNAL_BOUND
    events = _events(stderr)
    assert [e["event"] for e in events if e["event"].startswith("shutdown_")] == [
        "shutdown_started",
        "shutdown_complete",
    ]
    assert "Traceback" not in stderr
    for secret in CREDENTIALS:
        assert secret not in stderr
