"""Tests for syncd.logs: which vendor loggers speak, and what syncd's events say."""

from __future__ import annotations

import io
import json
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml

from syncd import logs, redaction
from syncd.testing.casedev import FakeCaseDev, RunningServer
from tests.conftest import CliResult, run_syncd
from tests.support.servers.moto import MotoServer

PROJECT = "proj_logs"


def emit_vendor_debug() -> None:
    logging.getLogger("botocore.endpoint").debug("Sending http request: body=b'dump'")
    logging.getLogger("botocore.parsers").debug("Response body:\nb'dump'")
    logging.getLogger("botocore.auth").debug("CanonicalRequest:\nx-amz-security-token:dump")
    logging.getLogger("botocore.retryhandler").debug("No retry needed.")


def test_body_dumping_loggers_are_quiet_at_debug_without_vendor_debug() -> None:
    """At debug, botocore's body, header and signing dumps are dropped unless vendor_debug."""
    stream = io.StringIO()
    logs.configure("debug", "json", stream)
    emit_vendor_debug()
    loggers = [json.loads(line)["logger"] for line in stream.getvalue().splitlines()]
    assert loggers == ["botocore.retryhandler"]


def test_vendor_debug_lets_body_dumps_through_scrubbed() -> None:
    """With vendor_debug the dumps are logged, and known credentials in them are still masked."""
    redaction.register("dump-credential-42")
    stream = io.StringIO()
    logs.configure("debug", "json", stream, vendor_debug=True)
    emit_vendor_debug()
    logging.getLogger("botocore.endpoint").debug("body=%r", b'{"v": "dump-credential-42"}')
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert {line["logger"] for line in lines} >= set(logs.BODY_LOGGERS)
    assert "dump-credential-42" not in stream.getvalue()


def test_vendor_debug_does_not_unmute_libraries_at_info() -> None:
    """vendor_debug only matters at debug level: at info, botocore still speaks at WARNING only."""
    stream = io.StringIO()
    logs.configure("info", "json", stream, vendor_debug=True)
    emit_vendor_debug()
    logging.getLogger("botocore.endpoint").info("chatter")
    assert stream.getvalue() == ""


def test_vendor_lines_have_a_stable_event_and_their_text_as_message() -> None:
    """A library's line is event vendor_log with its logger; the formatted text is in message."""
    stream = io.StringIO()
    logs.configure("info", "json", stream)
    logging.getLogger("hvac.adapters").warning("Vault answered %d after %.1fs", 503, 2.5)
    logging.getLogger("urllib3.connectionpool").warning("Retrying (%r)", ["a"])
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(e["event"], e["logger"], e["message"], e["level"]) for e in lines] == [
        ("vendor_log", "hvac.adapters", "Vault answered 503 after 2.5s", "warning"),
        ("vendor_log", "urllib3.connectionpool", "Retrying (['a'])", "warning"),
    ]


def test_vendor_messages_are_redacted_and_tracebacks_kept() -> None:
    """Credentials in a library's message and traceback are masked; the event name stays put."""
    redaction.register("vendor-canary-7c6b5a")
    stream = io.StringIO()
    logs.configure("info", "json", stream)
    try:
        raise RuntimeError("boom vendor-canary-7c6b5a")
    except RuntimeError:
        logging.getLogger("httpx").exception("request with %s failed", "vendor-canary-7c6b5a")
    assert "vendor-canary-7c6b5a" not in stream.getvalue()
    [line] = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert line["event"] == "vendor_log"
    assert line["message"] == "request with *** failed"
    assert "Traceback" in line["exception"]


def test_syncd_events_are_not_renamed() -> None:
    """syncd's own structlog events keep their names and gain no message field."""
    stream = io.StringIO()
    logs.configure("info", "json", stream)
    structlog.get_logger("syncd.x").info("secret_written", target="a")
    [line] = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert line["event"] == "secret_written"
    assert "message" not in line


class World:
    """A case.dev fake over HTTP, a file sink and an AWS sink, run at debug level as JSON."""

    def __init__(self, tmp_path: Path, server: RunningServer, api: FakeCaseDev, aws: MotoServer):
        self.api = api
        self.aws = aws
        self.out = tmp_path / "out"
        self.path = tmp_path / "syncd.yaml"
        self.secrets = {
            "aws": ["logs/app/database", "logs/app/database-pooled"],
            "local": ["app.env"],
        }
        self.data: dict[str, Any] = {
            "log": {"level": "debug", "format": "json"},
            "providers": {"casedev": {"type": "casedev", "base_url": server.base_url}},
            "sinks": {
                "aws": {"type": "aws-secrets-manager", "region": "us-east-1", "max_attempts": 1},
                "local": {"type": "file", "directory": str(self.out)},
            },
            "targets": [
                {
                    "name": "app",
                    "provider": "casedev",
                    "project": PROJECT,
                    "sinks": [
                        {"sink": "aws", "secret": "logs/app/database"},
                        {"sink": "local", "secret": "app.env", "format": "env"},
                    ],
                },
                {
                    "name": "app-pooled",
                    "provider": "casedev",
                    "project": PROJECT,
                    "pooled": True,
                    "sinks": [{"sink": "aws", "secret": "logs/app/database-pooled"}],
                },
            ],
        }
        self.path.write_text(yaml.safe_dump(self.data))
        self.rotate()

    def rotate(self) -> str:
        password = secrets.token_urlsafe(16)
        self.api.set_branch(
            PROJECT,
            "main",
            direct=f"postgresql://owner:{password}@db.example/app?sslmode=require",
            pooled=f"postgresql://owner:{password}@pool.example/app?sslmode=require",
        )
        return password

    def run(self, env: dict[str, str] | None = None) -> tuple[CliResult, list[dict[str, Any]]]:
        base = {
            "CASEDEV_API_KEY": self.api.api_key,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": self.aws.endpoint_url,
        }
        result = run_syncd(
            "run", "--once", "--config", str(self.path), env={**base, **(env or {})}
        )
        assert result.code == 0, result.output
        events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
        return result, events


@pytest.fixture
def world(tmp_path: Path, aws: MotoServer) -> Iterator[World]:
    api = FakeCaseDev(api_key=f"cdk_{secrets.token_urlsafe(24)}")
    with api.serve() as server:
        yield World(tmp_path, server, api, aws)


def named(events: list[dict[str, Any]], event: str) -> set[tuple[str, str]]:
    return {(e["sink"], e["secret"]) for e in events if e["event"] == event}


@pytest.mark.e2e
def test_create_update_drift_events_name_each_secret(world: World, sm_client: Any) -> None:
    """Every created, updated and drift-repaired secret is named in its JSON event."""
    everything = {(sink, name) for sink, names in world.secrets.items() for name in names}
    _, created = world.run()
    assert named(created, "secret_created") == everything

    world.rotate()
    _, updated = world.run()
    assert named(updated, "secret_updated") == everything

    sm_client.put_secret_value(SecretId="logs/app/database", SecretString="hand-edited")
    (world.out / "app.env").write_text("DATABASE_URL=hand-edited\n")
    _, repaired = world.run()
    assert named(repaired, "secret_drift_repaired") == {
        ("aws", "logs/app/database"),
        ("local", "app.env"),
    }
    assert named(repaired, "secret_checked") == {("aws", "logs/app/database-pooled")}


@pytest.mark.e2e
def test_each_target_reports_a_debug_line(world: World) -> None:
    """At debug, every target logs target_synced with its action counts, unchanged ones too."""
    world.run()
    _, events = world.run()
    synced = {e["target"]: e for e in events if e["event"] == "target_synced"}
    assert set(synced) == {"app", "app-pooled"}
    assert synced["app"]["unchanged"] == 2 and synced["app"]["ok"] is True
    assert synced["app-pooled"]["unchanged"] == 1 and synced["app-pooled"]["sink_errors"] == 0


@pytest.mark.e2e
def test_vendor_body_dumps_need_log_vendor_debug(world: World) -> None:
    """At debug, botocore's request dumps appear only with SYNCD_LOG__VENDOR_DEBUG, masked."""
    password = world.rotate()
    _, quiet = world.run()
    loggers = {e.get("logger") for e in quiet}
    assert "botocore.endpoint" not in loggers and "botocore.auth" not in loggers
    assert any(str(name).startswith("botocore.") for name in loggers)

    password = world.rotate()
    result, loud = world.run(env={"SYNCD_LOG__VENDOR_DEBUG": "true"})
    assert any(
        e["event"] == "vendor_log" and e["message"].startswith("Sending http request")
        for e in loud
    )
    assert any(e.get("logger") == "botocore.auth" for e in loud)
    assert password not in result.output
