"""The case.dev key, the connection URI and the configs of the command-line tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from syncd.testing.casedev import RunningServer
from tests.support.configs import ConfigBuilder, binding

KEY = "cdk_cli_test_key_123456"
URI = "postgresql://owner:CliPassw0rdXYZ@db.example/app?sslmode=require"


def write_config(tmp_path: Path, server: RunningServer, **extra: Any) -> Path:
    """Two targets (``app`` direct as env, ``pooled`` as JSON) into a file sink; ``extra`` on top."""
    return (
        ConfigBuilder(tmp_path, log_level="info")
        .casedev(server.base_url, max_attempts=1)
        .file_sink()
        .target("app", [binding("local", "app.env", format="env")])
        .target("pooled", [binding("local", "pooled.json")], pooled=True)
        .set(**extra)
        .write()
    )


def aws_config(tmp_path: Path, server: RunningServer, **sink: Any) -> Path:
    """A config writing one target into an AWS sink with ``sink`` options."""
    return (
        ConfigBuilder(tmp_path, log_level="info")
        .casedev(server.base_url, max_attempts=1)
        .sink("aws", "aws-secrets-manager", **sink)
        .target("app", [binding("aws", "prod/app")])
        .write()
    )
