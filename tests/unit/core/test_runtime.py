"""Tests for syncd.core.runtime: building live plugins from a config, and closing them."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.config import settings as config_mod
from syncd.core.models import Target
from syncd.core.runtime import Runtime, probe_interval_of
from syncd.errors import ConfigError
from syncd.providers.casedev import CaseDevProvider
from syncd.sinks.file import FileSink
from syncd.testing.fakes import MemorySink, StaticProvider
from tests.support.configs import ConfigBuilder, binding


class Closing(StaticProvider):
    """A provider whose close() is recorded, and may fail."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__(
            {
                (
                    "p",
                    "main",
                    False,
                ): "postgresql://app:pw-0123456789@db.example:5432/app?sslmode=require"
            }
        )
        self.fail = fail
        self.closed = False

    def close(self) -> None:
        self.closed = True
        if self.fail:
            raise RuntimeError("half-built")


def config(builder: ConfigBuilder, *intervals: str) -> config_mod.Config:
    builder.casedev("http://127.0.0.1:9", name="cd").file_sink("local")
    for n, interval in enumerate(intervals):
        builder.target(f"t{n}", [binding("local", f"t{n}.env")], provider="cd", interval=interval)
    return config_mod.load(builder.write())


def test_build_instantiates_every_configured_plugin(
    config_builder: ConfigBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each provider and sink section becomes a live plugin under its config name, with a breaker."""
    monkeypatch.setenv("CASEDEV_API_KEY", "cdk_test_0123456789abcdef")
    with Runtime.build(config(config_builder, "10m")) as runtime:
        assert isinstance(runtime.providers["cd"], CaseDevProvider)
        assert isinstance(runtime.sinks["local"], FileSink)
        assert {b.name for b in runtime.breakers.all()} >= {"cd", "local"}


def test_a_plugin_that_cannot_be_built_is_a_config_error(config_builder: ConfigBuilder) -> None:
    """A provider without its API key fails the build with the error an operator can act on."""
    with pytest.raises(ConfigError, match=r"no case\.dev API key; set CASEDEV_API_KEY"):
        Runtime.build(config(config_builder, "10m"))


def test_close_closes_every_plugin_even_when_one_fails(config_builder: ConfigBuilder) -> None:
    """A plugin raising in close() does not keep the others open, and the error is not raised."""
    broken, fine = Closing(fail=True), Closing()
    runtime = Runtime(config(config_builder, "10m"), {"a": broken, "b": fine}, {})
    runtime.close()
    assert broken.closed and fine.closed


def test_an_engine_syncs_through_the_runtimes_plugins(config_builder: ConfigBuilder) -> None:
    """engine() wires this runtime's providers and sinks, so a target lands in its sink."""
    cfg = config(config_builder, "10m")
    sink = MemorySink("local")
    runtime = Runtime(cfg, {"cd": Closing()}, {"local": sink})
    target = Target("t", "cd", "p", sinks=cfg.targets[0].sinks)
    report = runtime.engine().run_cycle([target])
    assert report.ok
    assert sink.read(cfg.targets[0].sinks[0].secret) is not None


@pytest.mark.parametrize(("intervals", "expected"), [(("10m", "1h"), 30.0), (("10m", "10s"), 10.0)])
def test_an_open_breaker_probes_every_30_s_or_each_shorter_interval(
    config_builder: ConfigBuilder, intervals: tuple[str, ...], expected: float
) -> None:
    """The probe interval is 30 s unless a target runs more often."""
    assert probe_interval_of(config(config_builder, *intervals)) == expected


def test_runtime_closes_on_leaving_its_block(tmp_path: Path) -> None:
    """Used as a context manager the runtime closes its plugins on the way out."""
    provider = Closing()
    cfg = config(ConfigBuilder(tmp_path), "10m")
    with Runtime(cfg, {"cd": provider}, {}):
        assert not provider.closed
    assert provider.closed
