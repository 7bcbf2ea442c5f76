"""Tests for the command line: exit codes, one-line errors, dry runs, plugins listing."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pty
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncd import __version__
from syncd.cli import main
from syncd.core.models import TargetOutcome
from syncd.daemon.progress import Progress
from syncd.testing.casedev import FakeCaseDev, Fault, RunningServer
from tests.conftest import run_syncd
from tests.support.cli import KEY, URI, aws_config, write_config


@pytest.fixture
def api(casedev_api: RunningServer) -> RunningServer:
    """The case.dev stand-in ``config_path`` points at (the shared ``api`` is Neon's)."""
    return casedev_api


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints the version and exits 0."""
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and __version__ in capsys.readouterr().out


@pytest.mark.parametrize("command", ["run", "check", "config", "demo", "plugins"])
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--help works on every command."""
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0 and "usage: syncd" in capsys.readouterr().out


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown flag is a usage error with exit code 2."""
    with pytest.raises(SystemExit) as info:
        main(["run", "--bogus"])
    assert info.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err


def test_run_once_syncs_and_second_run_is_unchanged(
    tmp_path: Path, config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """run --once creates every secret, prints a table, and a second run changes nothing."""
    assert main(["run", "--once", "--config", str(config_path)]) == 0
    out = capsys.readouterr()
    assert "create (written)" in out.out and "2 target(s) ok" in out.out
    assert '"event": "cycle_finished"' in out.err
    assert (tmp_path / "out" / "app.env").read_text() == f"DATABASE_URL={URI}\n"
    assert main(["run", "--once", "--config", str(config_path)]) == 0
    assert "2 unchanged" in capsys.readouterr().out


def test_dry_run_prints_actions_and_writes_nothing(
    tmp_path: Path, config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--dry-run reports create per target and sink and leaves no file."""
    assert main(["run", "--once", "--dry-run", "--config", str(config_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("create") >= 2 and "(dry run)" in out and "CliPassw0rd" not in out
    assert not (tmp_path / "out").exists()


def test_failed_target_exits_1_and_others_still_sync(
    tmp_path: Path, config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One target's 404 fails the run with exit 1 while the other target is written."""
    data = yaml.safe_load(config_path.read_text())
    data["targets"][0]["branch"] = "feature-y"
    config_path.write_text(yaml.safe_dump(data))
    assert main(["run", "--once", "--config", str(config_path)]) == 1
    out = capsys.readouterr().out
    assert "branch feature-y not found" in out
    assert (tmp_path / "out" / "pooled.json").exists()


def test_missing_api_key_is_a_config_error(
    tmp_path: Path, api: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without CASEDEV_API_KEY the run stops with exit 2 and says where keys come from."""
    assert main(["run", "--once", "--config", str(write_config(tmp_path, api))]) == 2
    err = capsys.readouterr().err
    assert "no case.dev API key; set CASEDEV_API_KEY" in err and "Traceback" not in err


def test_api_key_from_credentials_directory(
    tmp_path: Path, api: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """systemd's $CREDENTIALS_DIRECTORY/casedev_api_key is honoured."""
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "casedev_api_key").write_text(KEY + "\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert main(["run", "--once", "--config", str(write_config(tmp_path, api))]) == 0


def test_bad_config_through_a_real_process(tmp_path: Path) -> None:
    """A broken config file gives exit 2 and one line naming file and key, no traceback."""
    path = tmp_path / "syncd.yaml"
    path.write_text("concurrency: lots\n")
    result = run_syncd("run", "--once", "--config", str(path))
    assert result.code == 2
    assert result.stderr.strip().splitlines() == [
        f"syncd: config error: {path}: line 1: concurrency: Input should be a valid integer, "
        "unable to parse string as an integer (got 'lots')"
    ]


def test_config_path_from_environment(tmp_path: Path) -> None:
    """$SYNCD_CONFIG is used when --config is not given."""
    result = run_syncd("check", env={"SYNCD_CONFIG": str(tmp_path / "missing.yaml")})
    assert (
        result.code == 2
        and f"no config file at {tmp_path / 'missing.yaml'} (from $SYNCD_CONFIG" in result.stderr
    )


def test_metrics_file_is_refused_for_dry_runs(
    tmp_path: Path, config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A dry run cannot write a metrics file that would report successes nothing backs."""
    args = ["run", "--once", "--dry-run", "--metrics-file", str(tmp_path / "m.prom")]
    assert main([*args, "--config", str(config_path)]) == 2
    assert "cannot be combined with --dry-run" in capsys.readouterr().err
    assert not (tmp_path / "m.prom").exists()


BOMB = "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "    extra:\n      a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
            + "".join(f"      {line}\n" for line in BOMB.splitlines()),
            "expand this file beyond 250,000 values",
        ),
        (
            "log:\n  level: info\nlog:\n  level: debug\n",
            "line 11: duplicate key 'log' (first at line 9)",
        ),
        (
            "concurency: 4\n",
            "line 9: concurency: unknown key 'concurency' (did you mean 'concurrency'?)",
        ),
        ("jitter: 10%\n", "it belongs under defaults or targets[] (check indentation)"),
        (
            "defaults:\n  interval: 30\n",
            "line 10: defaults.interval: 30 (no unit): did you mean 30s?",
        ),
        (
            "  - name: b\n    provider: casedev\n    project: p\n    brnch: dev\n"
            "    sinks: [{sink: local, secret: b}]\n",
            "line 13: targets.1.brnch: unknown key 'brnch' (did you mean 'branch'?)",
        ),
    ],
)
def test_config_mistakes_are_one_line_each_with_exit_2(
    tmp_path: Path, extra: str, expected: str
) -> None:
    """Bombs, duplicate keys, unknown and misplaced keys: exit 2, one line each, no traceback."""
    text = (
        "providers:\n  casedev:\n    type: casedev\nsinks:\n  local:\n    type: file\n"
        f"    directory: {tmp_path}\n"
        "targets: [{name: a, provider: casedev, project: p, sinks: [{sink: local, secret: a}]}]\n"
    )
    if extra.startswith("    extra:"):
        text = text.replace(f"    directory: {tmp_path}\n", f"    directory: {tmp_path}\n{extra}")
    elif extra.startswith("  - name"):
        text = text.replace("targets: [{", "targets:\n  - {").replace("}]}]\n", "}]}\n") + extra
    else:
        text += extra
    path = tmp_path / "syncd.yaml"
    path.write_text(text)
    result = run_syncd("check", "--config", str(path), timeout=60)
    assert result.code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"syncd: config error: {path}: ")
    assert expected in lines[0] and "Traceback" not in result.stderr


def test_oversized_config_is_refused(tmp_path: Path) -> None:
    """A config file over 1 MiB is refused before parsing, naming its size."""
    path = tmp_path / "syncd.yaml"
    path.write_text("#" * (2 * 1024 * 1024))
    result = run_syncd("run", "--once", "--config", str(path))
    assert result.code == 2
    assert result.stderr.strip() == (
        f"syncd: config error: {path}: config file is too large (2,097,152 bytes); "
        "the limit is 1,048,576 bytes (1 MiB)"
    )


@pytest.mark.parametrize("command", ["run", "check"])
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the config file is empty; define at least one under 'targets:'"),
        (
            "providers: {casedev: {type: casedev}}\n",
            "no targets are configured; define at least one under 'targets:'",
        ),
    ],
)
def test_empty_config_or_no_targets_is_exit_2(
    tmp_path: Path, command: str, text: str, expected: str
) -> None:
    """An empty file (a ConfigMap that failed to render) or no targets is a config error."""
    path = tmp_path / "syncd.yaml"
    path.write_text(text)
    result = run_syncd(command, "--config", str(path))
    assert result.code == 2
    assert result.stderr.strip() == f"syncd: config error: {path}: {expected}"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"SYNCD_LOG": "{level: debug}"},
            "syncd: config error: SYNCD_LOG: not valid JSON (Expecting property name enclosed in double quotes at column 2)",
        ),
        (
            {"SYNCD_CONCURRENCY": "lots"},
            "syncd: config error: SYNCD_CONCURRENCY: Input should be a valid integer, unable to parse string as an integer (got 'lots')",
        ),
        (
            {"SYNCD_LOG__LEVEL": "loud"},
            "syncd: config error: SYNCD_LOG__LEVEL: Input should be 'debug', 'info', 'warning' or 'error' (got 'loud')",
        ),
    ],
)
def test_bad_environment_variable_is_named_with_exit_2(
    tmp_path: Path, api: RunningServer, env: dict[str, str], expected: str
) -> None:
    """A bad SYNCD_ value is one line naming the variable, not the file; exit 2, no traceback."""
    path = write_config(tmp_path, api)
    result = run_syncd("run", "--once", "--config", str(path), env=env)
    assert result.code == 2
    assert result.stderr.strip() == expected


def test_unknown_environment_variable_is_a_warning(tmp_path: Path, api: RunningServer) -> None:
    """A SYNCD_ variable matching no setting is logged as a warning with the closest name; the run goes on."""
    path = write_config(tmp_path, api)
    result = run_syncd(
        "run",
        "--once",
        "--config",
        str(path),
        env={"SYNCD_CONCURENCY": "4", "CASEDEV_API_KEY": KEY},
    )
    assert result.code == 0, result.stderr
    warnings = [
        line for line in result.stderr.splitlines() if "unknown_environment_variable" in line
    ]
    assert len(warnings) == 1
    assert '"variable": "SYNCD_CONCURENCY"' in warnings[0]
    assert '"did_you_mean": "SYNCD_CONCURRENCY"' in warnings[0]
    assert '"level": "warning"' in warnings[0]


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (
            ["--config", "{dir}/gone.yaml"],
            {},
            "syncd: config error: no config file at {dir}/gone.yaml (given by --config)",
        ),
        (
            [],
            {"SYNCD_CONFIG": "{dir}/gone.yaml"},
            "syncd: config error: no config file at {dir}/gone.yaml (from $SYNCD_CONFIG, as "
            "--config was not given; pass --config PATH or fix SYNCD_CONFIG)",
        ),
    ],
)
def test_missing_config_says_where_syncd_looked(
    tmp_path: Path, args: list[str], env: dict[str, str], expected: str
) -> None:
    """No config file: the message says which path was tried, why, and how to point elsewhere."""
    args = [a.format(dir=tmp_path) for a in args]
    env = {k: v.format(dir=tmp_path) for k, v in env.items()}
    result = run_syncd("check", *args, env=env)
    assert result.code == 2
    assert result.stderr.strip() == expected.format(dir=tmp_path)


def test_missing_default_config_names_both_ways_to_point_elsewhere(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --config and $SYNCD_CONFIG, the default path is named with both ways to override it."""
    monkeypatch.delenv("SYNCD_CONFIG", raising=False)
    monkeypatch.setattr("syncd.config.settings.DEFAULT_PATH", Path("/nonexistent/syncd.yaml"))
    assert main(["check"]) == 2
    assert capsys.readouterr().err.strip() == (
        "syncd: config error: no config file at /nonexistent/syncd.yaml (the default: --config "
        "was not given and $SYNCD_CONFIG is not set; pass --config PATH or set SYNCD_CONFIG)"
    )


# -- what a new user trips over (issue 8) ------------------------------------------------------


def test_help_describes_the_tool_and_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    """`syncd --help` describes the tool for users and gives every command a one-line description."""
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "keeps database connection strings" in out and "hand over" not in out
    assert "143 terminated (SIGTERM)" in out
    listed = {
        line.split()[0]: line.split(maxsplit=1)[1:]
        for line in out.split("commands:", 1)[1].splitlines()
        if line.startswith("    ") and not line.startswith("     ")
    }
    assert set(listed) == {"run", "rotate", "check", "config", "demo", "plugins"}
    assert all(description for description in listed.values())


def test_json_report_is_all_of_stdout(tmp_path: Path, config_path: Path) -> None:
    """`run --once --output json` prints one JSON document on stdout and nothing else."""
    data = yaml.safe_load(config_path.read_text())
    data["targets"][0]["branch"] = "feature-y"
    config_path.write_text(yaml.safe_dump(data))
    result = run_syncd("run", "--once", "--output", "json", "--config", str(config_path))
    assert result.code == 1
    report = json.loads(result.stdout)
    assert set(report) == {"ok", "dry_run", "duration_s", "counts", "targets", "warnings"}
    assert report["warnings"] == []
    assert report["ok"] is False and report["dry_run"] is False
    assert report["counts"] == {
        "targets_ok": 1,
        "targets_failed": 1,
        "create": 1,
        "update": 0,
        "drift": 0,
        "rotate": 0,
        "unchanged": 0,
        "sink_errors": 0,
    }
    failed, pooled = report["targets"]
    assert failed["rotation"] is None and pooled["rotation"] is None
    assert failed["target"] == "app" and "branch feature-y not found" in failed["error"]
    assert pooled["sinks"] == [
        {
            "sink": "local",
            "secret": "pooled.json",
            "action": "create",
            "written": True,
            "error": None,
        }
    ]
    assert "CliPassw0rd" not in result.output


def test_json_report_needs_once(config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The daemon has no final report, so --output json without --once is a usage error."""
    assert main(["run", "--output", "json", "--config", str(config_path)]) == 2
    assert "--output json needs --once" in capsys.readouterr().err


def test_check_json_report_via_report_alias(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check --report json` is the same JSON document, as a dry run that wrote nothing."""
    assert main(["check", "--report", "json", "--config", str(config_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["dry_run"] is True
    assert [s["action"] for t in report["targets"] for s in t["sinks"]] == ["create", "create"]
    assert not any(s["written"] for t in report["targets"] for s in t["sinks"])


class FakeTerminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_progress_counter_on_a_terminal_only() -> None:
    """The counter updates one line on a console terminal, erases it, and stays off otherwise."""
    stream = FakeTerminal()
    assert Progress.wanted(stream, "console")
    assert not Progress.wanted(stream, "json") and not Progress.wanted(io.StringIO(), "console")
    progress = Progress(stream, 2)
    progress(TargetOutcome("a"))
    progress(TargetOutcome("b"))
    progress.close()
    assert stream.getvalue().split("\r\x1b[K")[1:] == [
        "syncd: 0/2 targets\r",
        "syncd: 1/2 targets\r",
        "syncd: 2/2 targets\r",
        "",
    ]


def run_in_terminal(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Run syncd with stderr on a pseudo-terminal; return exit code, stdout and the terminal's text."""
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncd", *args],
        stdout=subprocess.PIPE,
        stderr=secondary,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **env},
    )
    os.close(secondary)
    seen = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(primary)
    assert proc.stdout is not None
    stdout = proc.stdout.read().decode()
    proc.stdout.close()
    return proc.wait(timeout=60), stdout, seen.decode(errors="replace")


def test_progress_shown_on_a_terminal_never_with_json_logs(config_path: Path) -> None:
    """On a TTY with console logs, run --once shows "syncd: N/M targets"; with JSON logs it does not."""
    env = {"CASEDEV_API_KEY": KEY}
    args = ("run", "--once", "--config", str(config_path))
    code, stdout, terminal = run_in_terminal(*args, "--log-format", "console", env=env)
    assert code == 0 and "syncd: 2/2 targets" in terminal and terminal.endswith("\r\x1b[K")
    assert "targets" not in stdout.split("\n\n")[0].replace("target(s)", "")
    code, _, terminal = run_in_terminal(*args, "--log-format", "json", env=env)
    assert code == 0 and "syncd: " not in terminal and '"cycle_finished"' in terminal


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("metrics.txt", "must end in .prom"),
        ("missing/metrics.prom", "directory "),
    ],
)
def test_metrics_file_checked_before_the_cycle(
    tmp_path: Path,
    config_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    problem: str,
) -> None:
    """A --metrics-file node_exporter would never read is a usage error before anything is synced."""
    path = tmp_path / name
    assert main(["run", "--once", "--metrics-file", str(path), "--config", str(config_path)]) == 2
    err = capsys.readouterr().err
    assert f"--metrics-file {path}: {problem}" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists() and not path.exists()


@pytest.mark.parametrize(
    ("planted", "problem"),
    [
        ("fifo", "is a FIFO, not a regular file"),
        ("devzero", "is a symbolic link"),
        ("directory", "is a directory, not a regular file"),
    ],
)
def test_metrics_file_that_is_no_regular_file_is_refused_up_front(
    tmp_path: Path, config_path: Path, planted: str, problem: str
) -> None:
    """A FIFO, a link to /dev/zero or a directory at --metrics-file: exit 2 at once, nothing synced."""
    path = tmp_path / "syncd.prom"
    if planted == "fifo":
        os.mkfifo(path)
    elif planted == "devzero":
        path.symlink_to("/dev/zero")
    else:
        path.mkdir()
    started = time.monotonic()
    result = run_syncd(
        "run", "--once", "--metrics-file", str(path), "--config", str(config_path), timeout=30
    )
    assert time.monotonic() - started < 20
    assert result.code == 2, result.output
    assert result.stderr.splitlines() == [
        f"syncd: error: --metrics-file {path}: {problem}; remove it, or choose another path"
    ]
    assert not (tmp_path / "out").exists() and result.stdout == ""


# -- AWS the way AWS users configure it --------------------------------------------------------


def test_no_aws_region_is_a_config_error(tmp_path: Path, api: RunningServer) -> None:
    """With no region in config, AWS_REGION or AWS_DEFAULT_REGION, run --once exits 2 in one line."""
    env = {"CASEDEV_API_KEY": KEY, "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
    environ = {k: v for k, v in os.environ.items() if k not in ("AWS_REGION", "AWS_DEFAULT_REGION")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "syncd",
            "run",
            "--once",
            "--config",
            str(aws_config(tmp_path, api)),
        ],
        capture_output=True,
        text=True,
        env={**environ, **env},
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "syncd: config error: aws sink aws: no AWS region; set sinks.aws.region, AWS_REGION "
        "or AWS_DEFAULT_REGION"
    ]


def test_aws_region_from_aws_region(
    tmp_path: Path, api: RunningServer, aws: Any, sm_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS_REGION alone (as on EKS and Lambda) is the sink's region, ahead of AWS_DEFAULT_REGION."""
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    result = run_syncd(
        "run", "--once", "--config", str(aws_config(tmp_path, api)), env={"CASEDEV_API_KEY": KEY}
    )
    assert result.code == 0, result.output
    assert sm_client.describe_secret(SecretId="prod/app")["ARN"].startswith(
        f"arn:aws:secretsmanager:{aws.region}:"
    )
    result = run_syncd(
        "run",
        "--once",
        "--config",
        str(aws_config(tmp_path, api)),
        env={"CASEDEV_API_KEY": KEY, "AWS_DEFAULT_REGION": "ap-south-1"},
    )
    assert result.code == 0 and "1 unchanged" in result.stdout, result.output


@contextlib.contextmanager
def tcp_server(answer: bytes | None) -> Iterator[int]:
    """A loopback TCP server that sends ``answer`` to each client, or never says a word."""
    listener = socket.create_server(("127.0.0.1", 0))
    clients: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            clients.append(client)
            if answer is not None:
                client.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        for client in clients:
            client.close()


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("failure", ["refused", "dns", "plain-tcp", "silent"])
def test_unreachable_aws_endpoint_is_named_with_its_cause(
    tmp_path: Path,
    api: RunningServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    failure: str,
) -> None:
    """check against an unreachable endpoint names it and what failed: DNS, refused, TLS, timeout."""
    monkeypatch.setenv("CASEDEV_API_KEY", KEY)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    answers = {"plain-tcp": b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" * 20, "silent": None}
    with contextlib.ExitStack() as stack:
        if failure == "refused":
            endpoint, cause = f"https://127.0.0.1:{closed_port()}", "connection refused"
        elif failure == "dns":
            endpoint = "https://secretsmanager.syncd-test.invalid"
            cause = "DNS lookup of secretsmanager.syncd-test.invalid failed"
        else:
            port = stack.enter_context(tcp_server(answers[failure]))
            endpoint = f"https://127.0.0.1:{port}"
            cause = "TLS handshake failed" if failure == "plain-tcp" else "TLS handshake timed out"
        config = aws_config(
            tmp_path, api, region="us-east-1", endpoint_url=endpoint, max_attempts=1, timeout=1
        )
        assert main(["check", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert f"aws sink aws: cannot reach Secrets Manager at {endpoint} ({cause}" in out


# -- Vault: a rejected token ---------------------------------------------------------------------


def test_rejected_vault_token_is_reported_as_such(
    tmp_path: Path,
    api: RunningServer,
    vault: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A token Vault rejects is reported as a rejected token, not a policy, and never "logged in"."""
    monkeypatch.setenv("CASEDEV_API_KEY", KEY)
    monkeypatch.setenv("VAULT_TOKEN", "hvs.NotARealToken0123456789")
    data = yaml.safe_load(write_config(tmp_path, api).read_text())
    data["sinks"] = {"vault": {"type": "vault", "url": vault.addr, "auth": {"method": "token"}}}
    data["targets"] = [
        {
            "name": "app",
            "provider": "casedev",
            "project": "proj_1",
            "sinks": [{"sink": "vault", "secret": "syncd/app"}],
        }
    ]
    (tmp_path / "syncd.yaml").write_text(yaml.safe_dump(data))
    assert main(["run", "--once", "--config", str(tmp_path / "syncd.yaml")]) == 1
    captured = capsys.readouterr()
    assert (
        "vault sink vault: Vault rejected the token: it is expired, revoked or not a token"
        in captured.out
    )
    assert "policy" not in captured.out and "NotARealToken" not in captured.out + captured.err
    events = [json.loads(line)["event"] for line in captured.err.splitlines()]
    assert "vault_token_invalid" in events and "vault_logged_in" not in events


# -- SIGTERM during run --once -------------------------------------------------------------------


def test_sigterm_stops_run_once_cleanly(tmp_path: Path) -> None:
    """SIGTERM mid-cycle: in-flight targets finish whole, no others start, one log line, exit 143."""
    fake = FakeCaseDev(KEY)
    body = json.dumps({"connectionUri": URI, "branch": "main", "pooled": False}).encode()
    fake.fail_next(Fault(status=200, body=body, delay=2.0), times=20)
    with fake.serve() as server:
        data = yaml.safe_load(write_config(tmp_path, server).read_text())
        data["concurrency"] = 2
        data["targets"] = [
            {
                "name": f"t{i}",
                "provider": "casedev",
                "project": "proj_1",
                "sinks": [{"sink": "local", "secret": f"t{i}.json"}],
            }
            for i in range(20)
        ]
        (tmp_path / "syncd.yaml").write_text(yaml.safe_dump(data))
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "syncd",
                "run",
                "--once",
                "--config",
                str(tmp_path / "syncd.yaml"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "CASEDEV_API_KEY": KEY},
        )
        deadline = time.monotonic() + 30
        while not fake.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fake.requests, "syncd never reached the provider"
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr and stdout == ""
    events = [json.loads(line) for line in stderr.splitlines()]
    interrupted = [e for e in events if e["event"] == "interrupted"]
    assert len(interrupted) == 1 and interrupted[0]["signal"] == "SIGTERM"
    assert len(fake.requests) <= 4  # the ones in flight, not the 20 configured
    written = sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith("."))
    assert 1 <= len(written) <= 4
    for name in written:
        assert json.loads((tmp_path / "out" / name).read_text())["password"] == "CliPassw0rdXYZ"
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".tmp")]
