"""Reloading the daemon's config (SIGHUP): what changed, and the runtime of each config.

A reload reads the same path, validates it and builds its plugins first
(:func:`prepare`); an invalid one is reported as text and the old config keeps
running. A valid one becomes a new :class:`Generation`; the daemon applies the
:class:`ReloadPlan` to its jobs in place, and the old generation's runtime is
closed once its last in-flight sync is done.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from syncd.config import settings as config_mod
from syncd.core.engine import Engine
from syncd.core.models import Target
from syncd.core.planning import unexpected
from syncd.core.runtime import Runtime
from syncd.daemon.metrics import Metrics
from syncd.errors import SyncdError
from syncd.net.observe import attach

log = structlog.get_logger("syncd.reload")


@dataclass(frozen=True)
class ReloadPlan:
    """How the targets of two configs differ, by name."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]

    @classmethod
    def between(cls, old: config_mod.Config, new: config_mod.Config) -> ReloadPlan:
        """Compare targets (their schedule included) and the provider/sink sections they use."""
        before = {t.name: t for t in old.targets}
        after = {t.name: t for t in new.targets}

        def changed(name: str) -> bool:
            a, b = before[name], after[name]
            plugins_differ = old.providers.get(a.provider) != new.providers.get(b.provider) or any(
                old.sinks.get(s.sink) != new.sinks.get(s.sink) for s in (*a.sinks, *b.sinks)
            )
            return a != b or plugins_differ

        return cls(
            added=tuple(n for n in after if n not in before),
            removed=tuple(n for n in before if n not in after),
            changed=tuple(n for n in after if n in before and changed(n)),
        )

    def log(self, new: config_mod.Config) -> None:
        """Log ``config_reloaded`` with what this plan changed."""
        log.info(
            "config_reloaded",
            path=str(new.path),
            added=len(self.added),
            removed=len(self.removed),
            changed=len(self.changed),
            targets=len(new.targets),
        )


@dataclass
class Generation:
    """One config's runtime; closed when retired and its last in-flight sync is done.

    ``inflight`` and ``retired`` are guarded by the daemon's lock.
    """

    config: config_mod.Config
    runtime: Runtime
    engine: Engine
    targets: dict[str, Target]
    inflight: int = 0
    retired: bool = False

    @classmethod
    def build(
        cls,
        cfg: config_mod.Config,
        runtime: Runtime,
        metrics: Metrics,
        *,
        stop: threading.Event | None = None,
    ) -> Generation:
        """Wrap ``runtime`` built from ``cfg``, its API requests counted in ``metrics``.

        ``stop`` is the daemon's: its shutdown sets it, and every wait ends.
        """
        attach([*runtime.providers.values(), *runtime.sinks.values()], metrics)
        engine = runtime.engine(stop=stop)
        return cls(cfg, runtime, engine, {t.name: t for t in cfg.targets})

    def close(self) -> None:
        """Close the runtime's providers and sinks."""
        self.runtime.close()
        log.debug("runtime_closed", targets=len(self.targets))


def prepare(
    path: Path | None,
    *,
    load_config: Callable[[Path], config_mod.Config],
    build_runtime: Callable[[config_mod.Config], Runtime],
    metrics: Metrics,
    stop: threading.Event | None = None,
) -> Generation | None:
    """Load and build the config at ``path``; None, logged as ``config_reload_failed``, if not."""
    built = _build(
        path, load_config=load_config, build_runtime=build_runtime, metrics=metrics, stop=stop
    )
    if isinstance(built, Generation):
        return built
    log.error("config_reload_failed", path=str(path), error=built, kept="previous config")
    return None


def _build(
    path: Path | None,
    *,
    load_config: Callable[[Path], config_mod.Config],
    build_runtime: Callable[[config_mod.Config], Runtime],
    metrics: Metrics,
    stop: threading.Event | None,
) -> Generation | str:
    if path is None:
        return "the daemon was started without a config file to re-read"
    try:
        new_cfg = load_config(path)
        return Generation.build(new_cfg, build_runtime(new_cfg), metrics, stop=stop)
    except SyncdError as exc:  # ConfigError, PluginError, a plugin that cannot start
        return str(exc)
    except Exception as exc:
        # A broken third-party plugin must not take the running daemon down.
        log.exception("plugin_crashed", error_type=type(exc).__name__)
        return str(unexpected(SyncdError, exc, then="while building the new configuration"))


def warn_restart_only(old: config_mod.Settings, new: config_mod.Settings) -> None:
    """Log the changed settings that a reload cannot apply."""
    # log is not compared: the CLI may override it, and a reload reads the file only.
    keys = [k for k in ("concurrency", "metrics") if getattr(old, k) != getattr(new, k)]
    if keys:
        log.warning("reload_needs_restart", settings=keys, applied="after a restart")
