"""``python -m syncd.testing.casedev``: the case.dev stand-in run on its own, as the README shows."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_syncd

pytestmark = pytest.mark.e2e

LAST_LINE = "Serving until Ctrl-C or SIGTERM."


@dataclass
class StandIn:
    process: subprocess.Popen[str]
    base_url: str
    api_key: str
    config: str


@contextmanager
def stand_in(*args: str) -> Iterator[StandIn]:
    """Start the stand-in, read what it prints up to its last line, and kill it if a test fails."""
    env = {k: v for k, v in os.environ.items() if k != "CASEDEV_API_KEY"}
    process = subprocess.Popen(
        [sys.executable, "-m", "syncd.testing.casedev", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.rstrip("\n") == LAST_LINE:
                break
        text = "".join(lines)
        assert text.endswith(LAST_LINE + "\n"), text + process.communicate(timeout=10)[1]
        url = re.search(r"^case\.dev stand-in at (http://127\.0\.0\.1:\d+): ", text, re.M)
        key = re.search(r"^export CASEDEV_API_KEY=(\S+)$", text, re.M)
        config = re.search(r"^---\n(.*?)^\.\.\.$", text, re.M | re.S)
        assert url and key and config, text
        yield StandIn(process, url[1], key[1], config[1])
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_printed_config_and_key_work_with_syncd_run(tmp_path: Path) -> None:
    """syncd run --once with the printed config and key writes the sample secrets; SIGTERM ends it with 0."""
    secrets_dir = tmp_path / "secrets"
    with stand_in("--secrets-dir", str(secrets_dir)) as server:
        config = yaml.safe_load(server.config)
        assert config["providers"]["casedev"]["base_url"] == server.base_url
        assert config["sinks"]["local"] == {"type": "file", "directory": str(secrets_dir)}
        config_file = tmp_path / "syncd.yaml"
        config_file.write_text(server.config)
        result = run_syncd(
            "run", "--once", "--config", str(config_file), env={"CASEDEV_API_KEY": server.api_key}
        )
        assert result.code == 0, result.output
        assert "3 target(s) ok, 0 failed; secrets: 3 created" in result.stdout
        env_file = (secrets_dir / "app-main.env").read_text()
        assert re.fullmatch(
            r"DATABASE_URL=postgresql://neondb_owner:\S+@ep-demo-main\.demo\.invalid/neondb"
            r"\?sslmode=require\n",
            env_file,
        ), env_file
        # A wrong key is refused: the server checks the one it printed.
        refused = run_syncd(
            "run", "--once", "--config", str(config_file), env={"CASEDEV_API_KEY": "wrong"}
        )
        assert refused.code == 1
        server.process.send_signal(signal.SIGTERM)
        out, err = server.process.communicate(timeout=30)
    assert server.process.returncode == 0
    assert (out, err) == ("", "")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_port_option_and_ctrl_c(tmp_path: Path) -> None:
    """--port picks the port it serves on, and SIGINT (Ctrl-C) also ends it with exit 0."""
    port = _free_port()
    with stand_in("--port", str(port), "--secrets-dir", str(tmp_path)) as server:
        assert server.base_url == f"http://127.0.0.1:{port}"
        server.process.send_signal(signal.SIGINT)
        out, err = server.process.communicate(timeout=30)
    assert server.process.returncode == 0
    assert (out, err) == ("", "")
