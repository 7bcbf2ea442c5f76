"""Tests for what each command does with a loaded config: targets chosen, reports printed, exit codes."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from syncd import __version__, commands
from syncd.cli import main
from syncd.config import settings as config
from syncd.errors import UsageError
from tests.support.configs import ConfigBuilder, binding


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


def test_unknown_target_suggests_the_closest(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--target with a typo names the closest configured target."""
    assert main(["run", "--once", "--target", "poled", "--config", str(config_path)]) == 2
    assert "unknown target(s) poled (did you mean 'pooled'?)" in capsys.readouterr().err


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


def test_check_and_dry_run_summaries_say_would(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """check and --dry-run summaries say "would create N", a real run says "N created"."""
    assert main(["check", "--config", str(config_path)]) == 0
    assert "would create 2" in (out := capsys.readouterr().out) and "created" not in out
    assert main(["run", "--once", "--dry-run", "--config", str(config_path)]) == 0
    assert "would create 2" in (out := capsys.readouterr().out) and "created" not in out
    assert main(["run", "--once", "--config", str(config_path)]) == 0
    assert "2 created" in (out := capsys.readouterr().out) and "would" not in out


def test_plugins_lists_builtins(capsys: pytest.CaptureFixture[str]) -> None:
    """plugins lists every built-in provider and sink with its distribution."""
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    for name in ("casedev", "aws-secrets-manager", "file", "vault"):
        assert name in out
    assert f"syncd {__version__}" in out


def test_plugins_shows_usable_and_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """plugins shows whether each plugin's SDK is importable and the extra that installs it."""
    monkeypatch.setitem(sys.modules, "botocore", None)  # as if syncd[aws] was not installed
    assert main(["plugins"]) == 0
    lines = {line.split()[1]: line for line in capsys.readouterr().out.splitlines()}
    assert "USABLE" in lines["NAME"] and "EXTRA" in lines["NAME"]
    assert "no (botocore not installed)" in lines["aws-secrets-manager"]
    assert "pip install 'syncd[aws]'" in lines["aws-secrets-manager"]
    assert " yes " in lines["vault"] and "pip install 'syncd[vault]'" in lines["vault"]
    assert " yes " in lines["file"] and " yes " in lines["casedev"]


def two_targets(config_builder: ConfigBuilder) -> config.Config:
    path = (
        config_builder.casedev("http://127.0.0.1:9")
        .file_sink()
        .target("app", [binding("local", "app.json")])
        .target("pooled", [binding("local", "pooled.json")], pooled=True)
        .write()
    )
    return config.load(path)


def test_no_names_select_every_target_and_names_keep_the_config_order(
    config_builder: ConfigBuilder,
) -> None:
    """Without names every target is chosen; with names, those targets in the config's order."""
    cfg = two_targets(config_builder)
    assert commands.named_targets(cfg, None) == cfg.targets
    assert commands.named_targets(cfg, []) == cfg.targets
    assert [t.name for t in commands.named_targets(cfg, ["pooled", "app"])] == ["app", "pooled"]


def test_unknown_names_are_one_usage_error_listing_the_configured_ones(
    config_builder: ConfigBuilder,
) -> None:
    """Every unknown name is listed with its closest match, followed by the configured targets."""
    cfg = two_targets(config_builder)
    with pytest.raises(UsageError) as info:
        commands.named_targets(cfg, ["ap", "app", "zzz"])
    assert str(info.value) == (
        "unknown target(s) ap (did you mean 'app'?), zzz; configured: app, pooled"
    )


def test_lint_says_the_config_is_ok_per_file(config_builder: ConfigBuilder) -> None:
    """lint reports the targets and files of a config that loaded, and exits 0."""
    cfg = two_targets(config_builder)
    out = io.StringIO()
    assert commands.lint(cfg, out, output="text") == 0
    assert out.getvalue().endswith("config ok: 2 target(s) in 1 file(s)\n")


def test_lint_speaks_json(config_builder: ConfigBuilder) -> None:
    """With output json, lint prints one document saying ok, the targets and the files."""
    cfg = two_targets(config_builder)
    out = io.StringIO()
    assert commands.lint(cfg, out, output="json") == 0
    document = json.loads(out.getvalue())
    assert document["ok"] is True and document["targets"] == 2
    assert len(document["files"]) == 1


def test_rotate_refuses_targets_that_do_not_rotate(config_builder: ConfigBuilder) -> None:
    """Forcing a rotation of a refresh-only target is a usage error naming it, before any work."""
    cfg = two_targets(config_builder)
    with pytest.raises(UsageError, match="target\\(s\\) app do not rotate"):
        commands.rotate(cfg, ["app"], dry_run=True, output="text")
