"""Tests for syncd.daemon.reload: what a reload changes, and building or refusing the new config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from syncd.config import settings as config_mod
from syncd.core.runtime import Runtime
from syncd.daemon.metrics import Metrics
from syncd.daemon.reload import Generation, ReloadPlan, prepare, warn_restart_only
from syncd.errors import ConfigError
from syncd.net.observe import RequestObserver
from syncd.testing.fakes import MemorySink, StaticProvider
from tests.support.configs import offline_config


class ConfigFile:
    """One config file, rewritten by the test with the targets it names."""

    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "syncd.yaml"

    def write(self, targets: list[dict[str, Any]], **settings: Any) -> None:
        offline_config(self.path, targets, **settings)


def target(name: str, **kw: Any) -> dict[str, Any]:
    return {
        "name": name,
        "provider": "cd",
        "project": f"p-{name}",
        "sinks": [{"sink": "mem", "secret": name}],
        **kw,
    }


class ObservedProvider(StaticProvider):
    """A StaticProvider that keeps the request observer it is handed, and whether it was closed."""

    def __init__(self) -> None:
        super().__init__()
        self.observers: list[RequestObserver] = []
        self.closed = False

    def observe(self, observer: RequestObserver) -> None:
        self.observers.append(observer)

    def close(self) -> None:
        self.closed = True


def loaded(tmp_path: Path, *names: str, **settings: Any) -> config_mod.Config:
    file = ConfigFile(tmp_path)
    file.write([target(n) for n in names], **settings)
    return config_mod.load(file.path)


def test_reload_plan_names_added_removed_and_changed_targets(tmp_path: Path) -> None:
    """Targets are compared by name; interval, jitter or a used plugin's section count as a change."""
    w = ConfigFile(tmp_path)
    w.write([target("keep"), target("slower"), target("jittery"), target("gone")])
    old = config_mod.load(w.path)
    w.write(
        [
            target("keep"),
            target("slower", interval="20m"),
            target("jittery", jitter="5%"),
            target("new"),
        ]
    )
    new = config_mod.load(w.path)
    plan = ReloadPlan.between(old, new)
    assert plan == ReloadPlan(added=("new",), removed=("gone",), changed=("slower", "jittery"))
    w.write([target("keep")], sinks={"mem": {"type": "file", "directory": "/elsewhere"}})
    assert ReloadPlan.between(new, config_mod.load(w.path)).changed == ("keep",)


def test_an_unchanged_config_plans_nothing(tmp_path: Path) -> None:
    """Reloading the same file adds, removes and changes no target."""
    cfg = loaded(tmp_path, "a", "b")
    assert ReloadPlan.between(cfg, loaded(tmp_path, "a", "b")) == ReloadPlan((), (), ())


def test_the_plan_logs_how_many_targets_it_touched(tmp_path: Path) -> None:
    """config_reloaded carries the counts of added, removed and changed targets, and the new total."""
    old = loaded(tmp_path, "a", "gone")
    new = loaded(tmp_path, "a", "b", "c")
    with capture_logs() as logs:
        ReloadPlan.between(old, new).log(new)
    (event,) = logs
    assert event["event"] == "config_reloaded"
    assert (event["added"], event["removed"], event["changed"], event["targets"]) == (2, 1, 0, 3)


def test_prepare_builds_a_generation_whose_plugins_report_to_the_metrics(tmp_path: Path) -> None:
    """A valid config becomes a Generation with its targets by name; observable plugins get the metrics."""
    cfg = loaded(tmp_path, "a", "b")
    provider = ObservedProvider()
    metrics = Metrics(daemon=True)
    generation = prepare(
        cfg.path,
        load_config=config_mod.load,
        build_runtime=lambda c: Runtime(c, {"cd": provider}, {"mem": MemorySink("mem")}),
        metrics=metrics,
    )
    assert isinstance(generation, Generation)
    assert set(generation.targets) == {"a", "b"}
    assert provider.observers == [metrics]
    assert not generation.retired and generation.inflight == 0
    generation.close()
    assert provider.closed


def test_a_daemon_without_a_config_file_cannot_reload(tmp_path: Path) -> None:
    """Without a path there is nothing to re-read: the reload fails and says why."""
    with capture_logs() as logs:
        generation = prepare(
            None,
            load_config=config_mod.load,
            build_runtime=lambda _c: Runtime(loaded(tmp_path, "a"), {}, {}),
            metrics=Metrics(daemon=True),
        )
    assert generation is None
    (failed,) = [e for e in logs if e["event"] == "config_reload_failed"]
    assert "without a config file" in failed["error"]
    assert failed["kept"] == "previous config"


def test_an_invalid_config_is_reported_and_nothing_is_built(tmp_path: Path) -> None:
    """A ConfigError while loading is logged as config_reload_failed with its message; no runtime is built."""
    built: list[object] = []

    def refuse(_path: Path) -> config_mod.Config:
        raise ConfigError("targets[0].interval: too short")

    with capture_logs() as logs:
        generation = prepare(
            tmp_path / "syncd.yaml",
            load_config=refuse,
            build_runtime=lambda c: built.append(c) or Runtime(c, {}, {}),
            metrics=Metrics(daemon=True),
        )
    assert generation is None and built == []
    (failed,) = [e for e in logs if e["event"] == "config_reload_failed"]
    assert failed["error"] == "targets[0].interval: too short"


def test_a_crashing_plugin_does_not_take_the_daemon_down(tmp_path: Path) -> None:
    """An unexpected exception while building plugins is logged as plugin_crashed and refused, not raised."""
    cfg = loaded(tmp_path, "a")

    def crash(_cfg: config_mod.Config) -> Runtime:
        raise RuntimeError("third-party bug")

    with capture_logs() as logs:
        generation = prepare(
            cfg.path, load_config=config_mod.load, build_runtime=crash, metrics=Metrics(daemon=True)
        )
    assert generation is None
    events = [e["event"] for e in logs]
    assert "plugin_crashed" in events and "config_reload_failed" in events


def test_settings_a_reload_cannot_apply_are_named(tmp_path: Path) -> None:
    """A changed concurrency is logged as reload_needs_restart; unchanged settings log nothing."""
    old = loaded(tmp_path, "a")
    new = loaded(tmp_path, "a", concurrency=3)
    assert old.settings.concurrency != new.settings.concurrency
    with capture_logs() as logs:
        warn_restart_only(old.settings, old.settings)
        warn_restart_only(old.settings, new.settings)
    assert [(e["event"], e["settings"]) for e in logs] == [
        ("reload_needs_restart", ["concurrency"])
    ]
