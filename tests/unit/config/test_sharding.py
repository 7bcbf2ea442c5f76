"""Sharding: every target in exactly one shard, stable, chosen by flag, config or Indexed Job."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncd.cli import main
from syncd.config.sharding import Shard, resolve, shard_of
from syncd.core.models import SinkBinding, Target
from syncd.errors import UsageError
from syncd.testing.casedev import FakeCaseDev, RunningServer
from tests.conftest import run_syncd
from tests.support.configs import ConfigBuilder, binding

KEY = "cdk_shard_test_key_123456"
URI = "postgresql://owner:ShardPassw0rdXYZ@db.example/app?sslmode=require"
NAMES = [f"target-{i}" for i in range(12)]


def _targets(names: list[str]) -> list[Target]:
    return [
        Target(n, "casedev", "proj_1", sinks=(SinkBinding("s", f"{n}.json", "json"),))
        for n in names
    ]


def test_every_target_is_in_exactly_one_shard() -> None:
    """For any count, the shards partition the targets: each target lands in exactly one."""
    names = [f"app-{i}" for i in range(500)]
    for count in (1, 2, 3, 7, 16):
        held = [[s for s in range(count) if Shard(s, count).holds(n)] for n in names]
        assert all(len(h) == 1 for h in held)
        if count > 1:  # and every shard gets some work
            assert {h[0] for h in held} == set(range(count))


def test_shard_is_sha256_of_the_name_mod_count() -> None:
    """The shard is sha256(name) mod COUNT: fixed across releases, processes and machines."""
    name = "prod-eu/app"
    expected = int(hashlib.sha256(name.encode()).hexdigest(), 16) % 5
    assert shard_of(name, 5) == expected


def test_selection_is_stable_under_reordering_and_other_targets() -> None:
    """Reordering the config or adding other targets never moves a target to another shard."""
    targets = _targets(NAMES)
    shuffled = targets[:]
    random.Random(7).shuffle(shuffled)
    more = shuffled + _targets([f"extra-{i}" for i in range(20)])
    for index in range(3):
        shard = Shard(index, 3)
        names = {t.name for t in shard.select(targets)}
        assert {t.name for t in shard.select(shuffled)} == names
        assert {t.name for t in shard.select(more)} & set(NAMES) == names


@pytest.mark.parametrize(
    ("spec", "count", "configured", "env", "expected"),
    [
        (None, None, 1, {}, Shard(0, 1)),
        ("2/4", None, 1, {"JOB_COMPLETION_INDEX": "0"}, Shard(2, 4)),
        (None, None, 3, {"JOB_COMPLETION_INDEX": "1"}, Shard(1, 3)),
        (None, 4, 3, {"JOB_COMPLETION_INDEX": "3"}, Shard(3, 4)),
        (None, 1, 3, {"JOB_COMPLETION_INDEX": "0"}, Shard(0, 1)),
    ],
)
def test_resolve_precedence(
    spec: str | None, count: int | None, configured: int, env: dict[str, str], expected: Shard
) -> None:
    """--shard wins, then --shard-count over the config's shards, INDEX from JOB_COMPLETION_INDEX."""
    assert resolve(spec, count, configured, env) == expected


@pytest.mark.parametrize(
    ("spec", "count", "configured", "env", "message"),
    [
        ("4/4", None, 1, {}, "shard index 4 must be between 0 and 3"),
        ("1/0", None, 1, {}, "shard count 0 must be between 1"),
        ("a/b", None, 1, {}, "must be INDEX/COUNT"),
        ("1", None, 1, {}, "must be INDEX/COUNT"),
        ("-1/4", None, 1, {}, "must be INDEX/COUNT"),
        (None, None, 4, {}, "shards is 4 but $JOB_COMPLETION_INDEX is not set"),
        (None, 4, 1, {}, "--shard-count is 4 but $JOB_COMPLETION_INDEX is not set"),
        (None, 4, 1, {"JOB_COMPLETION_INDEX": "x"}, "$JOB_COMPLETION_INDEX 'x' is not a shard"),
        (None, 4, 1, {"JOB_COMPLETION_INDEX": "4"}, "$JOB_COMPLETION_INDEX: shard index 4"),
        (None, 4, 1, {"JOB_COMPLETION_INDEX": "\u00b2"}, "is not a shard index (ASCII digits"),
        (None, 4, 1, {"JOB_COMPLETION_INDEX": "\u0661"}, "is not a shard index (ASCII digits"),
        ("\u0660/\u0663", None, 1, {}, "must be INDEX/COUNT in ASCII digits"),
        ("1/\uff13", None, 1, {}, "must be INDEX/COUNT in ASCII digits"),
    ],
)
def test_bad_shards_are_usage_errors(
    spec: str | None, count: int | None, configured: int, env: dict[str, str], message: str
) -> None:
    """A malformed or out-of-range shard, or a missing index, is one UsageError naming it."""
    with pytest.raises(UsageError) as info:
        resolve(spec, count, configured, env)
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.fixture
def api() -> Any:
    fake = FakeCaseDev(KEY)
    fake.set_branch("proj_1", "main", direct=URI, pooled=URI)
    with fake.serve() as server:
        yield server


def _config(tmp_path: Path, server: RunningServer, **extra: Any) -> Path:
    builder = ConfigBuilder(tmp_path).casedev(server.base_url).file_sink()
    for n in NAMES:
        builder.target(n, [binding("local", f"{n}.json")])
    return builder.set(**extra).write()


def _written(tmp_path: Path) -> set[str]:
    out = tmp_path / "out"
    if not out.exists():
        return set()
    return {p.name.removesuffix(".json") for p in out.iterdir() if not p.name.startswith(".")}


def test_shard_flag_syncs_only_that_shards_targets(
    tmp_path: Path, api: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run --once --shard I/3 writes exactly shard I's targets; the three runs cover all, once."""
    monkeypatch.setenv("CASEDEV_API_KEY", KEY)
    path = _config(tmp_path, api)
    seen: list[str] = []
    for index in range(3):
        before = _written(tmp_path)
        assert main(["run", "--once", "--shard", f"{index}/3", "--config", str(path)]) == 0
        new = _written(tmp_path) - before
        assert new == {n for n in NAMES if shard_of(n, 3) == index}
        seen += new
    assert sorted(seen) == sorted(NAMES)


@pytest.mark.e2e
def test_indexed_job_takes_index_from_the_environment(tmp_path: Path, api: RunningServer) -> None:
    """With shards: 3 in the config, a process syncs the shard named by JOB_COMPLETION_INDEX."""
    path = _config(tmp_path, api, shards=3)
    env = {"CASEDEV_API_KEY": KEY, "JOB_COMPLETION_INDEX": "2"}
    result = run_syncd("run", "--once", "--config", str(path), env=env)
    assert result.code == 0, result.output
    assert _written(tmp_path) == {n for n in NAMES if shard_of(n, 3) == 2}


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--shard", "3/3"], {}, "syncd: error: shard index 3 must be between 0 and 2"),
        (["--shard", "one/3"], {}, "syncd: error: --shard 'one/3' must be INDEX/COUNT"),
        (["--shard-count", "3"], {}, "$JOB_COMPLETION_INDEX is not set"),
        (["--shard-count", "3"], {"JOB_COMPLETION_INDEX": "7"}, "shard index 7 must be"),
        (["--shard-count", "0"], {}, "'0' is not a shard count"),
        (["--shard-count", "3"], {"JOB_COMPLETION_INDEX": "\u00b2"}, "'\u00b2' is not a shard"),
        (["--shard", "\u0660/\u0663"], {}, "must be INDEX/COUNT in ASCII digits"),
        (["--shard-count", "\u0663"], {}, "'\u0663' is not a shard count (ASCII digits"),
    ],
)
def test_bad_shard_values_exit_2_with_one_line(
    tmp_path: Path, api: RunningServer, args: list[str], env: dict[str, str], message: str
) -> None:
    """A bad --shard, --shard-count or JOB_COMPLETION_INDEX is one line on stderr, exit 2, no write."""
    path = _config(tmp_path, api)
    result = run_syncd(
        "run", "--once", *args, "--config", str(path), env={"CASEDEV_API_KEY": KEY, **env}
    )
    assert result.code == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    # One error line, last (argparse's own errors come after its usage text).
    errors = [line for line in result.stderr.splitlines() if line.startswith("syncd: error:")]
    assert errors == [result.stderr.splitlines()[-1]]
    assert _written(tmp_path) == set()


@pytest.mark.parametrize("output", ["text", "json"])
def test_a_shard_with_no_targets_succeeds_with_a_warning(
    tmp_path: Path, api: RunningServer, output: str
) -> None:
    """A shard holding none of the targets exits 0, logs shard_empty and says so in the report."""
    path = _config(tmp_path, api)
    data = yaml.safe_load(path.read_text())
    data["targets"] = data["targets"][:1]
    path.write_text(yaml.safe_dump(data))
    empty = next(i for i in range(3) if shard_of(NAMES[0], 3) != i)
    result = run_syncd(
        "run", "--once", "--shard", f"{empty}/3", "--output", output, "--config", str(path),
        env={"CASEDEV_API_KEY": KEY},
    )
    assert result.code == 0, result.output
    (event,) = [json.loads(line) for line in result.stderr.splitlines()]
    assert event["event"] == "shard_empty" and event["level"] == "warning"
    assert event["shard"] == f"{empty}/3" and event["targets"] == 1
    warning = f"shard {empty}/3 holds none of the 1 configured target(s); nothing was synced"
    if output == "json":
        assert json.loads(result.stdout)["warnings"] == [warning]
    else:
        assert result.stdout.splitlines()[-1] == f"warning: {warning}"
    assert _written(tmp_path) == set()


def test_a_shard_with_targets_has_no_warning(
    tmp_path: Path, api: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shard that holds targets reports no warning (an empty list in JSON)."""
    monkeypatch.setenv("CASEDEV_API_KEY", KEY)
    path = _config(tmp_path, api)
    index = shard_of(NAMES[0], 3)
    result = run_syncd("run", "--once", "--shard", f"{index}/3", "--output", "json",
                       "--config", str(path))
    assert result.code == 0 and json.loads(result.stdout)["warnings"] == []
    assert "shard_empty" not in result.stderr


def test_daemon_schedules_only_its_shard_and_keeps_it_on_reload(
    tmp_path: Path, api: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """syncd run --shard I/N hands the daemon shard I's targets, and its reloads keep that shard."""
    import syncd.daemon.scheduler

    seen: dict[str, Any] = {}

    def fake_daemon(cfg: Any, *, load_config: Any) -> int:
        seen["initial"] = {t.name for t in cfg.targets}
        seen["reloaded"] = {t.name for t in load_config(cfg.path).targets}
        return 0

    monkeypatch.setattr(syncd.daemon.scheduler, "run_daemon", fake_daemon)
    monkeypatch.setenv("CASEDEV_API_KEY", KEY)
    path = _config(tmp_path, api)
    assert main(["run", "--shard", "1/3", "--config", str(path)]) == 0
    expected = {n for n in NAMES if shard_of(n, 3) == 1}
    assert seen == {"initial": expected, "reloaded": expected}
