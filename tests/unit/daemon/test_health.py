"""The listener's answer when its port is taken: it must not invite a second daemon of one configuration."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import pytest

from syncd.config import settings as config_mod
from syncd.core.breaker import OpenCircuit
from syncd.daemon.health import Health, HttpListener, json_answer, text_answer
from syncd.daemon.scheduler import run_daemon
from syncd.errors import ListenError
from tests.support.configs import ConfigBuilder, binding

SAME_SECRETS = "write the same secrets"


@pytest.fixture
def syncd_listener() -> Iterator[int]:
    """A syncd listener, as a running daemon has, on a free loopback port."""
    listener = HttpListener("127.0.0.1:0", {"/healthz": lambda _accept: text_answer(True, "ok")})
    try:
        yield listener.port
    finally:
        listener.close()


def _refusal(listen: str) -> str:
    with pytest.raises(ListenError) as info:
        HttpListener(listen, {}).close()
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_running_syncd_is_named_and_a_second_writer_warned_of(syncd_listener: int) -> None:
    """When syncd already serves the address, the error says so, and that two daemons write the same secrets."""
    message = _refusal(f"127.0.0.1:{syncd_listener}")
    assert message.startswith(f"cannot listen on 127.0.0.1:{syncd_listener} for metrics")
    assert "another syncd daemon is serving there; stop it first" in message
    assert SAME_SECRETS in message


def test_a_wildcard_listen_finds_syncd_through_loopback() -> None:
    """With metrics.listen on 0.0.0.0 the running daemon is still recognised."""
    listener = HttpListener("0.0.0.0:0", {})
    try:
        message = _refusal(f"0.0.0.0:{listener.port}")
    finally:
        listener.close()
    assert "another syncd daemon is serving there" in message


def test_a_silent_process_on_the_port_is_not_taken_for_syncd() -> None:
    """A port held by something that does not answer gets the generic message, which still warns."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        message = _refusal(f"127.0.0.1:{port}")
    assert "another syncd daemon is serving there" not in message
    assert "Address already in use" in message
    assert "if it is another syncd daemon with this configuration, stop it first" in message
    assert SAME_SECRETS in message


def test_another_web_server_is_not_taken_for_syncd() -> None:
    """An HTTP server that is not syncd (its Server header differs) gets the generic message."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        message = _refusal(f"127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert "another syncd daemon is serving there" not in message
    assert SAME_SECRETS in message


def test_daemon_refuses_to_start_next_to_a_running_one(
    syncd_listener: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`syncd run` with the address of a running syncd prints that one line and exits 2."""
    config = (
        ConfigBuilder(tmp_path, log_level=None)
        .set(metrics={"listen": f"127.0.0.1:{syncd_listener}"})
        .casedev("http://127.0.0.1:9", name="cd")
        .file_sink("out")
        .target("app", [binding("out", "app")], provider="cd", project="proj_app")
        .write()
    )
    assert run_daemon(config_mod.load(config)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"syncd: error: cannot listen on 127.0.0.1:{syncd_listener}")
    assert "another syncd daemon is serving there" in err


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_readiness_body_names_open_breakers_and_counts_stale_targets() -> None:
    """/readyz's JSON names each open breaker and counts stale targets per provider and sink."""
    since = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    health = Health(clock=_Clock())
    health.set_targets(
        {"a": 10.0, "b": 10.0, "c": 10.0},
        uses={"a": ("hung", ("vault", "aws")), "b": ("hung", ("vault",)), "c": ("ok", ("aws",))},
    )
    health.watch_breakers(lambda: [OpenCircuit("provider", "hung", since)])
    health.record("c", ok=True)
    ok, body = health.readiness()
    assert not ok
    assert body == {
        "ready": False,
        "targets": 3,
        "stale": {"a": "no successful sync yet", "b": "no successful sync yet"},
        "stale_by_provider": {"hung": 2},
        "stale_by_sink": {"aws": 1, "vault": 2},
        "open_breakers": [{"kind": "provider", "name": "hung", "since": "2026-01-02T03:04:05Z"}],
    }
    status, content_type, raw = json_answer(ok, body)
    assert (status, content_type) == (503, "application/json")
    assert json.loads(raw) == body


def test_readiness_body_when_ready() -> None:
    """Fresh targets and closed breakers: 200 with nothing stale and no open breaker."""
    health = Health(clock=_Clock())
    health.set_targets({"a": 10.0}, uses={"a": ("cd", ("mem",))})
    health.record("a", ok=True)
    ok, body = health.readiness()
    assert ok
    assert body["stale"] == {}
    assert body["open_breakers"] == []
    assert json_answer(ok, body)[0] == 200
