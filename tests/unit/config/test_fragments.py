"""Config fragments (syncd.config.fragments) through the command line: bounds, errors, shards, reload."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncd.cli import main
from syncd.config import file as configfile
from syncd.config import fragments
from syncd.testing.casedev import FakeCaseDev, RunningServer
from tests.conftest import run_syncd, syncd_daemon
from tests.support.waiting import wait_for

KEY = "cdk_fragments_test_key_123456"
URI = "postgresql://owner:FragPassw0rdXYZ@db.example/app?sslmode=require"


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningServer]:
    """The fake case.dev API with one project, its key in the environment."""
    monkeypatch.setenv("CASEDEV_API_KEY", KEY)
    fake = FakeCaseDev(KEY)
    fake.set_branch("proj_1", "main", direct=URI, pooled=URI.replace("db.", "db-pooler."))
    with fake.serve() as server:
        yield server


def target(name: str, sink: str = "local") -> dict[str, Any]:
    return {
        "name": name,
        "provider": "casedev",
        "project": "proj_1",
        "sinks": [{"sink": sink, "secret": f"{name}.json"}],
    }


def one_line(name: str) -> str:
    """A target as one YAML flow mapping, for fragments whose line numbers a test names."""
    return f"{{name: {name}, provider: casedev, project: proj_1, sinks: [{{sink: local, secret: {name}}}]}}"


def write_main(tmp_path: Path, base_url: str = "http://127.0.0.1:9", **extra: Any) -> Path:
    """A main file with the provider, the file sink and ``include: [targets.d/*.yaml]``."""
    data: dict[str, Any] = {
        "log": {"level": "warning", "format": "json"},
        "metrics": {"enabled": False},
        "providers": {"casedev": {"type": "casedev", "base_url": base_url, "max_attempts": 1}},
        "sinks": {"local": {"type": "file", "directory": str(tmp_path / "out")}},
        "include": ["targets.d/*.yaml"],
        **extra,
    }
    path = tmp_path / "syncd.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    (tmp_path / "targets.d").mkdir(exist_ok=True)
    return path


def write_fragment(tmp_path: Path, name: str, names: list[str], **extra: Any) -> Path:
    """``targets.d/<name>`` with one target per name, written one per line."""
    path = tmp_path / "targets.d" / name
    path.write_text(yaml.safe_dump({"targets": [target(n) for n in names], **extra}))
    return path


def line_of(path: Path, start: str) -> int:
    """The number of the first line of ``path`` that starts with ``start``."""
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.startswith(start))


def lint(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["config", "lint", "--config", str(path)])
    out = capsys.readouterr()
    return code, out.out, out.err


def one_error(err: str) -> str:
    """The single ``syncd: config error:`` line of ``err`` (no traceback, nothing else)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("syncd: config error: "), err
    return lines[0].removeprefix("syncd: config error: ")


def test_lint_reports_every_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """config lint validates the main file and each fragment, in sorted order, and exits 0."""
    main_file = write_main(tmp_path)
    write_fragment(tmp_path, "b.yaml", ["b1", "b2"])
    write_fragment(tmp_path, "a.yaml", ["a1"])
    code, out, err = lint(main_file, capsys)
    assert code == 0, err
    d = tmp_path / "targets.d"
    assert out.splitlines() == [
        f"{main_file}: ok (0 targets)",
        f"{d / 'a.yaml'}: ok (1 targets)",
        f"{d / 'b.yaml'}: ok (2 targets)",
        "config ok: 3 target(s) in 3 file(s)",
    ]


def test_lint_contacts_nothing_and_speaks_json(tmp_path: Path) -> None:
    """config lint runs without an API key or a reachable provider, and --output json is parsable."""
    main_file = write_main(tmp_path)
    write_fragment(tmp_path, "a.yaml", ["a1", "a2"])
    env = {k: v for k, v in os.environ.items() if k != "CASEDEV_API_KEY"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "syncd",
            "config",
            "lint",
            "--config",
            str(main_file),
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] and report["targets"] == 2
    assert [f["targets"] for f in report["files"]] == [0, 2]


def test_duplicate_target_across_files_names_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A target name in two fragments is an error naming both files and lines, exit 2."""
    main_file = write_main(tmp_path)
    first, second = tmp_path / "targets.d" / "a.yaml", tmp_path / "targets.d" / "b.yaml"
    first.write_text(f"targets:\n  - {one_line('one')}\n  - {one_line('twice')}\n")
    second.write_text(f"targets:\n  - {one_line('other')}\n\n  - {one_line('twice')}\n")
    code, out, err = lint(main_file, capsys)
    assert code == 2 and out == ""
    assert one_error(err) == (
        f"{second}: line 4: duplicate target name 'twice'; first defined at {first}: line 3"
    )


def test_duplicate_target_through_a_real_process(tmp_path: Path) -> None:
    """The duplicate is reported the same by `python -m syncd run --once --shard`, before any sync."""
    main_file = write_main(tmp_path)
    write_fragment(tmp_path, "a.yaml", ["twice"])
    write_fragment(tmp_path, "b.yaml", ["twice"])
    result = run_syncd("run", "--once", "--shard", "3/10", "--config", str(main_file))
    assert result.code == 2
    assert "duplicate target name 'twice'" in result.stderr
    assert "a.yaml: line 2" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_a_fragment_too_large_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each fragment keeps the 1 MiB bound of one config file."""
    main_file = write_main(tmp_path)
    big = tmp_path / "targets.d" / "big.yaml"
    big.write_text("targets: []\n" + "#" * configfile.MAX_BYTES + "\n")
    code, _, err = lint(main_file, capsys)
    assert code == 2
    assert one_error(err) == (
        f"{big}: config file is too large ({big.stat().st_size:,} bytes); "
        f"the limit is {configfile.MAX_BYTES:,} bytes (1 MiB)"
    )


def test_total_bounds_are_checked_before_building(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Total bytes, fragment count and total targets each have a bound, named in the error."""
    main_file = write_main(tmp_path)
    for i in range(3):
        write_fragment(tmp_path, f"{i}.yaml", [f"t{i}a", f"t{i}b"])
    monkeypatch.setattr(fragments, "MAX_TOTAL_BYTES", 100)
    assert "the limit is 100 bytes" in one_error(lint(main_file, capsys)[2])
    monkeypatch.undo()
    monkeypatch.setattr(fragments, "MAX_FRAGMENTS", 2)
    assert "match more than 2 files" in one_error(lint(main_file, capsys)[2])
    monkeypatch.undo()
    monkeypatch.setattr(fragments, "MAX_TARGETS", 5)
    message = one_error(lint(main_file, capsys)[2])
    assert message.endswith(
        "defines more than 5 targets across its files; split the fleet "
        "between several syncd deployments"
    )


def test_a_missing_fragment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A named fragment that does not exist, or a glob matching nothing, is a clear error."""
    main_file = write_main(tmp_path, include=["targets.d/gone.yaml"])
    assert one_error(lint(main_file, capsys)[2]) == (
        f"{tmp_path / 'targets.d' / 'gone.yaml'}: fragment not found (or a symbolic link to "
        "nothing); fix the main file's include or create it"
    )
    main_file = write_main(tmp_path, include=["targets.d/*.yml"])
    assert one_error(lint(main_file, capsys)[2]) == (
        f"{main_file}: line {line_of(main_file, 'include:')}: include: 'targets.d/*.yml' "
        f"matches no file in {tmp_path}"
    )


def test_a_fifo_fragment_is_refused_without_blocking(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A FIFO is never opened for a blocking read: the error says what it is."""
    main_file = write_main(tmp_path)
    fifo = tmp_path / "targets.d" / "fifo.yaml"
    os.mkfifo(fifo)
    code, _, err = lint(main_file, capsys)
    assert code == 2
    assert one_error(err) == (
        f"{fifo}: fragment is a FIFO, not a regular file; a fragment must be a regular file"
    )


def test_links_are_followed_but_a_loop_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ConfigMap-style link to a regular file is read; a loop of links is named as one."""
    main_file = write_main(tmp_path)
    data = tmp_path / "..data"
    data.mkdir()
    write_fragment(tmp_path, "real.txt", ["linked"]).rename(data / "a.yaml")
    (tmp_path / "targets.d" / "a.yaml").symlink_to(data / "a.yaml")
    assert lint(main_file, capsys)[0] == 0
    loop = tmp_path / "targets.d" / "b.yaml"
    loop.symlink_to(tmp_path / "targets.d" / "c.yaml")
    (tmp_path / "targets.d" / "c.yaml").symlink_to(loop)
    assert one_error(lint(main_file, capsys)[2]) == (
        f"{loop}: fragment is a loop of symbolic links"
    )


def test_a_sink_defined_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A sink in the main file and again in a fragment names both files and lines."""
    main_file = write_main(tmp_path)
    fragment = write_fragment(
        tmp_path, "a.yaml", ["a1"], sinks={"local": {"type": "file", "directory": "/tmp"}}
    )
    assert one_error(lint(main_file, capsys)[2]) == (
        f"{fragment}: line {line_of(fragment, '  local:')}: sinks.local: sink 'local' is "
        f"already defined at {main_file}: line {line_of(main_file, '  local:')}; define it in "
        "one file only"
    )


def test_a_fragment_own_sink_and_provider_are_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A sink defined only in a fragment serves targets of any file."""
    main_file = write_main(tmp_path)
    path = tmp_path / "targets.d" / "a.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "sinks": {"other": {"type": "file", "directory": str(tmp_path / "other")}},
                "targets": [target("a1", sink="other")],
            }
        )
    )
    write_fragment(tmp_path, "b.yaml", ["b1"])
    assert lint(main_file, capsys)[0] == 0


def test_fragments_do_not_nest_and_hold_only_their_sections(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """include: in a fragment, or a main-file setting there, is refused and says why."""
    main_file = write_main(tmp_path)
    fragment = write_fragment(tmp_path, "a.yaml", ["a1"], include=["more/*.yaml"])
    assert one_error(lint(main_file, capsys)[2]) == (
        f"{fragment}: line 1: include: a fragment cannot include other fragments; list every "
        f"fragment in the main file's include ({main_file})"
    )
    fragment = write_fragment(tmp_path, "a.yaml", ["a1"], concurrency=4)
    assert one_error(lint(main_file, capsys)[2]) == (
        f"{fragment}: line 1: concurrency: a fragment may only define targets, sinks, providers; "
        f"set concurrency in the main file ({main_file})"
    )


def test_a_validation_error_names_the_fragment_and_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad value in a fragment is located in that fragment, by its index there."""
    main_file = write_main(tmp_path)
    write_fragment(tmp_path, "a.yaml", ["a1", "a2"])
    bad = tmp_path / "targets.d" / "b.yaml"
    bad.write_text(
        "targets:\n"
        "  - {name: b1, provider: casedev, project: proj_1, sinks: [{sink: local, secret: b1}]}\n"
        "  - {name: b2, provider: casedev, project: proj_1, interval: soon,\n"
        "     sinks: [{sink: local, secret: b2}]}\n"
    )
    message = one_error(lint(main_file, capsys)[2])
    assert message.startswith(f"{bad}: line 3: targets.1.interval: ")
    bad.write_text("targets:\n  - {name: b1, provider: casedev, provider: x}\n")
    assert one_error(lint(main_file, capsys)[2]).startswith(
        f"{bad}: line 2: duplicate key 'provider'"
    )


def test_without_include_nothing_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A single file still reports a duplicate target the way it always has."""
    path = tmp_path / "syncd.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "providers": {"casedev": {"type": "casedev"}},
                "sinks": {"local": {"type": "file", "directory": str(tmp_path)}},
                "targets": [
                    target("same"),
                    {**target("same"), "sinks": [{"sink": "local", "secret": "other.json"}]},
                ],
            }
        )
    )
    message = one_error(lint(path, capsys)[2])
    assert message.endswith("targets.1.name: duplicate target name 'same'")


@pytest.fixture
def fast_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory in memory when there is one: the file sink's fsyncs cost nothing there."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(dir=shm, prefix="syncd-fragments-") as tmp:
        yield Path(tmp)


def test_ten_shards_sync_every_target_exactly_once(
    fast_dir: Path, api: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """1,000 targets in 12 fragments: --shard I/10 syncs its own share; together, each once."""
    tmp_path = fast_dir
    main_file = write_main(tmp_path, api.base_url, concurrency=16)
    names = [f"t{i:04d}" for i in range(1000)]
    for f in range(12):
        write_fragment(tmp_path, f"{f:02d}.yaml", names[f::12])
    seen: list[str] = []
    for index in range(10):
        shard = f"{index}/10"
        code = main(
            ["run", "--once", "--shard", shard, "--output", "json", "--config", str(main_file)]
        )
        report = json.loads(capsys.readouterr().out)
        assert code == 0, report
        mine = [t["target"] for t in report["targets"]]
        assert mine, shard
        seen += mine
    assert sorted(seen) == names
    written = sorted(p.stem for p in (tmp_path / "out").glob("t*.json"))
    assert written == names


def test_a_shard_builds_only_its_own_fragment_targets(tmp_path: Path) -> None:
    """With a selector, other shards' fragment targets are named but not built."""
    from syncd.config import settings as config
    from syncd.config.sharding import Shard

    main_file = write_main(tmp_path)
    names = [f"t{i:03d}" for i in range(120)]
    for f in range(3):
        write_fragment(tmp_path, f"{f}.yaml", names[f::3])
    shard = Shard(2, 4)
    cfg = config.load(main_file, select=lambda _count: shard.holds)
    assert {t.name for t in cfg.targets} == {n for n in names if shard.holds(n)}
    assert cfg.defined == 120 and [c for _, c in cfg.files] == [0, 40, 40, 40]


def test_sighup_with_a_broken_fragment_keeps_the_old_config(
    tmp_path: Path, api: RunningServer
) -> None:
    """SIGHUP re-reads every fragment: a broken one keeps the old config, a fixed one applies."""
    main_file = write_main(
        tmp_path,
        api.base_url,
        log={"level": "info", "format": "json"},
        defaults={"interval": "1h", "jitter": "0s"},
    )
    write_fragment(tmp_path, "a.yaml", ["a1"])
    write_fragment(tmp_path, "b.yaml", ["b1"])
    out = tmp_path / "out"
    with syncd_daemon(main_file, {"CASEDEV_API_KEY": KEY}) as (proc, logs):

        def event(name: str, after: int) -> dict[str, Any] | None:
            assert proc.poll() is None, logs
            return next((e for e in logs[after:] if e.get("event") == name), None)

        wait_for(lambda: (out / "a1.json").exists() and (out / "b1.json").exists(), 20, "sync")
        broken = tmp_path / "targets.d" / "b.yaml"
        broken.write_text("targets:\n  - {name: b1, provider: casedev,\n")
        mark = len(logs)
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: event("config_reload_failed", mark), 20, "the failed reload")
        failed = event("config_reload_failed", mark)
        assert failed is not None and str(broken) in failed["error"]
        assert failed["kept"] == "previous config"
        write_fragment(tmp_path, "b.yaml", ["b1", "b2"])
        mark = len(logs)
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: event("config_reloaded", mark), 20, "the good reload")
        reloaded = event("config_reloaded", mark)
        assert reloaded is not None
        # Added to the old config's two targets: the broken reload changed nothing.
        assert (reloaded["added"], reloaded["removed"], reloaded["targets"]) == (1, 0, 3)
        wait_for((out / "b2.json").exists, 20, "the added target's secret")


def test_a_shard_builds_its_targets_from_merge_keys_too(tmp_path: Path) -> None:
    """A fragment PyYAML must construct (merge keys) is split by shard too, its lines intact."""
    from syncd.config import settings as config
    from syncd.config.sharding import Shard

    main_file = write_main(tmp_path)
    names = [f"m{i:02d}" for i in range(20)]
    shard = Shard(1, 3)
    wrong = next(n for n in names[1:] if shard.holds(n))

    def write(interval: str) -> Path:
        path = tmp_path / "targets.d" / "merged.yaml"
        first, *rest = names
        path.write_text(
            f"targets:\n  - &first {{name: {first}, provider: casedev, project: proj_1, "
            f"sinks: [{{sink: local, secret: {first}}}]}}\n"
            + "".join(
                f"  - {{<<: *first, name: {n}, sinks: [{{sink: local, secret: {n}}}]"
                + (f", interval: {interval}" if n == wrong else "")
                + "}\n"
                for n in rest
            )
        )
        return path

    write("1h")
    cfg = config.load(main_file, select=lambda _count: shard.holds)
    assert [t.name for t in cfg.targets] == [n for n in names if shard.holds(n)]
    path = write("soon")
    index = names.index(wrong)
    with pytest.raises(
        config.ConfigError, match=rf"^{path}: line {index + 2}: targets\.{index}\.interval: "
    ):
        config.load(main_file, select=lambda _count: shard.holds)


def test_other_shards_targets_keep_the_bounds_of_a_file(tmp_path: Path) -> None:
    """A target a shard does not build is still refused for a duplicate key, naming its line."""
    from syncd.config import settings as config
    from syncd.config.sharding import Shard

    main_file = write_main(tmp_path)
    shard = Shard(0, 4)
    names = [f"d{i:02d}" for i in range(12)]
    other = next(n for n in names if not shard.holds(n))
    path = tmp_path / "targets.d" / "a.yaml"
    path.write_text(
        "targets:\n"
        + "".join(
            f"  - {one_line(n)}\n".replace("project:", "project: p, project:")
            if n == other
            else f"  - {one_line(n)}\n"
            for n in names
        )
    )
    line = names.index(other) + 2
    with pytest.raises(config.ConfigError, match=rf"^{path}: line {line}: duplicate key 'project'"):
        config.load(main_file, select=lambda _count: shard.holds)


def test_check_reports_per_file(
    tmp_path: Path, api: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """check validates every fragment and ends with one line per file, failures counted there."""
    main_file = write_main(tmp_path, api.base_url)
    write_fragment(tmp_path, "a.yaml", ["a1", "a2"])
    path = tmp_path / "targets.d" / "b.yaml"
    path.write_text(f"targets:\n  - {one_line('b1').replace('proj_1', 'proj_missing')}\n")
    assert main(["check", "--config", str(main_file)]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[-3:] == [
        f"{main_file}: ok (0 targets)",
        f"{tmp_path / 'targets.d' / 'a.yaml'}: ok (2 targets)",
        f"{path}: FAILED (1 of 1 targets)",
    ]
    assert main(["check", "--output", "json", "--config", str(main_file)]) == 1
    files = json.loads(capsys.readouterr().out)["files"]
    assert [(f["targets"], f["targets_failed"]) for f in files] == [(0, 0), (2, 0), (1, 1)]
