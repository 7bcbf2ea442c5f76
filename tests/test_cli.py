"""Tests for the command line: exit codes, one-line errors, dry runs, plugins listing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from syncd import __version__
from syncd.cli import main
from syncd.testing.casedev import FakeCaseDev, RunningServer
from tests.conftest import run_syncd

KEY = "cdk_cli_test_key_123456"
URI = "postgresql://owner:CliPassw0rdXYZ@db.example/app?sslmode=require"


@pytest.fixture
def api() -> Any:
    fake = FakeCaseDev(KEY)
    fake.set_branch("proj_1", "main", direct=URI, pooled=URI.replace("db.", "db-pooler."))
    with fake.serve() as server:
        yield server


def write_config(tmp_path: Path, server: RunningServer, **extra: Any) -> Path:
    data: dict[str, Any] = {
        "log": {"level": "info", "format": "json"},
        "providers": {
            "casedev": {"type": "casedev", "base_url": server.base_url, "max_attempts": 1}
        },
        "sinks": {"local": {"type": "file", "directory": str(tmp_path / "out")}},
        "targets": [
            {
                "name": "app",
                "provider": "casedev",
                "project": "proj_1",
                "sinks": [{"sink": "local", "secret": "app.env", "format": "env"}],
            },
            {
                "name": "pooled",
                "provider": "casedev",
                "project": "proj_1",
                "pooled": True,
                "sinks": [{"sink": "local", "secret": "pooled.json"}],
            },
        ],
        **extra,
    }
    path = tmp_path / "syncd.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def config_path(tmp_path: Path, api: RunningServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A valid config against the fake API, with the API key in the environment."""
    monkeypatch.setenv("CASEDEV_API_KEY", KEY)
    return write_config(tmp_path, api)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints the version and exits 0."""
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and __version__ in capsys.readouterr().out


@pytest.mark.parametrize("command", ["run", "check", "demo", "plugins"])
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


def test_target_selection(
    tmp_path: Path, config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--target limits the cycle; an unknown target name is a usage error."""
    assert main(["run", "--once", "--target", "pooled", "--config", str(config_path)]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")) == [
        "pooled.json"
    ]
    assert main(["run", "--once", "--target", "nope", "--config", str(config_path)]) == 2
    assert "unknown target(s) nope" in capsys.readouterr().err


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


def test_check_prints_a_table_and_writes_nothing(
    tmp_path: Path,
    config_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """check validates access end to end, prints a table and writes nothing."""
    assert main(["check", "--config", str(config_path)]) == 0
    out = capsys.readouterr().out
    assert "ok (would create)" in out and not (tmp_path / "out").exists()
    monkeypatch.setenv("CASEDEV_API_KEY", "cdk_wrong_000000000")
    assert main(["check", "--config", str(config_path)]) == 1
    assert "invalid API key" in capsys.readouterr().out


def test_bad_config_through_a_real_process(tmp_path: Path) -> None:
    """A broken config file gives exit 2 and one line naming file and key, no traceback."""
    path = tmp_path / "syncd.yaml"
    path.write_text("concurrency: lots\n")
    result = run_syncd("run", "--once", "--config", str(path))
    assert result.code == 2
    assert result.stderr.strip().splitlines() == [
        f"syncd: config error: {path}: concurrency: Input should be a valid integer, "
        "unable to parse string as an integer (got 'lots')"
    ]


def test_config_path_from_environment(tmp_path: Path) -> None:
    """$SYNCD_CONFIG is used when --config is not given."""
    result = run_syncd("check", env={"SYNCD_CONFIG": str(tmp_path / "missing.yaml")})
    assert (
        result.code == 2 and f"{tmp_path / 'missing.yaml'}: config file not found" in result.stderr
    )


def test_plugins_lists_builtins(capsys: pytest.CaptureFixture[str]) -> None:
    """plugins lists every built-in provider and sink with its distribution."""
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    for name in ("casedev", "aws-secrets-manager", "file", "vault"):
        assert name in out
    assert f"syncd {__version__}" in out


def test_metrics_file_is_refused_for_dry_runs(
    tmp_path: Path, config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A dry run cannot write a metrics file that would report successes nothing backs."""
    args = ["run", "--once", "--dry-run", "--metrics-file", str(tmp_path / "m.prom")]
    assert main([*args, "--config", str(config_path)]) == 2
    assert "cannot be combined with --dry-run" in capsys.readouterr().err
    assert not (tmp_path / "m.prom").exists()
