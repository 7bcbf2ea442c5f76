"""What each ``syncd`` command does once :mod:`syncd.cli` has parsed and checked its arguments.

A handler receives the loaded config and plain values, builds the runtime,
runs, prints the report and returns the exit code; it never sees ``argparse``.
Heavy imports (the engine, the scheduler, prometheus) happen inside the
handler that needs them, so ``syncd --help`` stays import-light.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from syncd import exits
from syncd.daemon.progress import Progress
from syncd.errors import PluginError, SyncdError, UsageError
from syncd.exits import EXIT_OK

if TYPE_CHECKING:
    from syncd.config import settings as config_mod
    from syncd.config.sharding import Shard
    from syncd.core.engine import CycleReport
    from syncd.core.models import Target
    from syncd.core.runtime import Runtime


def named_targets(cfg: config_mod.Config, names: list[str] | None) -> tuple[Target, ...]:
    """The configured targets named ``names`` (all without names); UsageError for an unknown one."""
    if not names:
        return cfg.targets
    from syncd.config.errors import suggest  # noqa: PLC0415

    known = {t.name for t in cfg.targets}
    unknown = [n + suggest(n, known) for n in names if n not in known]
    if unknown:
        raise UsageError(
            f"unknown target(s) {', '.join(unknown)}; "
            f"configured: {', '.join(sorted(known)) or 'none'}"
        )
    return tuple(t for t in cfg.targets if t.name in set(names))


def daemon(cfg: config_mod.Config, shard: Shard) -> int:
    """``syncd run``: the daemon over ``shard``'s targets, until a stop signal."""
    from syncd.config import settings as config_mod  # noqa: PLC0415
    from syncd.daemon.scheduler import run_daemon  # noqa: PLC0415 - apscheduler only for the daemon

    if shard.count == 1:
        return run_daemon(cfg)
    # A reload re-reads the files and keeps (and builds) this shard's targets only.
    return run_daemon(
        _sharded(cfg, shard),
        load_config=lambda path: _sharded(
            config_mod.load(path, select=lambda _configured: shard.holds), shard
        ),
    )


def _sharded(cfg: config_mod.Config, shard: Shard) -> config_mod.Config:
    """The config with only ``shard``'s targets: what this daemon schedules, reloads included."""
    return dataclasses.replace(cfg, targets=shard.select(cfg.targets))


def _build(cfg: config_mod.Config) -> Runtime:
    from syncd.core.runtime import Runtime  # noqa: PLC0415 - keeps 'syncd --help' import-light

    return Runtime.build(cfg)


def run_once(
    cfg: config_mod.Config,
    targets: tuple[Target, ...],
    *,
    dry_run: bool,
    metrics_file: Path | None,
    output: str = "text",
    warnings: tuple[str, ...] = (),
) -> int:
    """``syncd run --once``: one cycle over ``targets``, its report, and metrics if asked."""
    runtime = _build(cfg)
    if metrics_file is not None:
        from syncd.daemon.metrics import Metrics, write_textfile  # noqa: PLC0415 - prometheus when asked
        from syncd.net.observe import attach  # noqa: PLC0415

        metrics = Metrics()  # counts the run's API requests too
        attach([*runtime.providers.values(), *runtime.sinks.values()], metrics)
    with runtime:
        report = _cycle(runtime, cfg, targets, dry_run=dry_run, output=output)
    if metrics_file is not None:
        try:
            write_textfile(metrics_file, report, cfg, metrics=metrics)
        except OSError as exc:
            raise SyncdError(f"cannot write {metrics_file}: {exc.strerror}") from exc
    _print(report, sys.stdout, output=output, warnings=warnings)
    return exits.for_result(report.ok)


def rotate(cfg: config_mod.Config, names: list[str], *, dry_run: bool, output: str) -> int:
    """``syncd rotate``: one cycle over the named targets, each forced to rotate."""
    targets = named_targets(cfg, names)
    refresh = [t.name for t in targets if t.rotation is None or not t.rotation.rotates]
    if refresh:
        raise UsageError(
            f"target(s) {', '.join(refresh)} do not rotate; set rotation.mode to reset or "
            "alternate to rotate them"
        )
    runtime = _build(cfg)
    with runtime, _progress(cfg, len(targets), output) as progress:
        engine = runtime.engine(
            dry_run=dry_run, on_outcome=progress, rotate_now=frozenset(names)
        )
        report = engine.run_cycle(targets)
    _print(report, sys.stdout, output=output)
    return exits.for_result(report.ok)


def lint(cfg: config_mod.Config, out: TextIO, *, output: str) -> int:
    """``syncd config lint``: the config loaded (so valid); say so per file."""
    from syncd.core.report import by_file, print_files, write_json  # noqa: PLC0415

    rows = by_file(cfg.files)
    if output == "json":
        write_json({"ok": True, "targets": cfg.defined, "files": rows}, out)
    else:
        print_files(rows, out)
        out.write(f"config ok: {cfg.defined} target(s) in {len(rows)} file(s)\n")
    return EXIT_OK


def check(cfg: config_mod.Config, out: TextIO, *, output: str = "text") -> int:
    """``syncd check``: every provider and sink reached and authorised; nothing written."""
    from syncd.core.check import Checker  # noqa: PLC0415 - only check needs it
    from syncd.core.report import (  # noqa: PLC0415
        by_file,
        check_as_dict,
        print_check,
        print_files,
        write_json,
    )

    runtime = _build(cfg)
    with runtime, _progress(cfg, len(cfg.targets), output) as progress:
        checker = Checker(
            runtime.providers,
            runtime.sinks,
            concurrency=cfg.settings.concurrency,
            instance=cfg.settings.instance,
            on_target=progress,
        )
        report = checker.run(cfg.targets)
    files = by_file(cfg.files, [t.ok for t in report.targets]) if len(cfg.files) > 1 else []
    if output == "json":
        document = check_as_dict(report)
        if files:
            document["files"] = files
        write_json(document, out)
    else:
        print_check(report, out)
        if files:
            out.write("\n")
            print_files(files, out)
    return exits.for_result(report.ok)


def _cycle(
    runtime: Runtime,
    cfg: config_mod.Config,
    targets: tuple[Target, ...],
    *,
    dry_run: bool,
    output: str,
) -> CycleReport:
    """One cycle, with a progress counter for a person at a terminal."""
    with _progress(cfg, len(targets), output) as progress:
        return runtime.engine(dry_run=dry_run, on_outcome=progress).run_cycle(targets)


@contextlib.contextmanager
def _progress(cfg: config_mod.Config, total: int, output: str) -> Iterator[Progress | None]:
    """A progress counter on stderr when a person watches it, else None."""
    log_format = cfg.settings.log.format or ("console" if sys.stderr.isatty() else "json")
    if output != "text" or not Progress.wanted(sys.stderr, log_format):
        yield None
        return
    progress = Progress(sys.stderr, total)
    try:
        yield progress
    finally:
        progress.close()


def _print(
    report: CycleReport, out: TextIO, *, output: str, warnings: tuple[str, ...] = ()
) -> None:
    from syncd.core.report import as_dict, print_report, write_json  # noqa: PLC0415

    if output == "json":
        write_json(as_dict(report, warnings=warnings), out)
    else:
        print_report(report, out, warnings=warnings)


def list_plugins(out: TextIO) -> int:
    """``syncd plugins``: every installed provider and sink, and whether it is usable."""
    from syncd import plugins  # noqa: PLC0415

    try:
        found = plugins.all_plugins()
    except PluginError as exc:
        # Listing is not configuring: the duplicate is a problem of the installation.
        raise UsageError(str(exc)) from exc
    rows = [("KIND", "NAME", "DISTRIBUTION", "USABLE", "EXTRA", "OBJECT")]
    for p in found:
        usable = plugins.usability(p)
        rows.append(
            (
                p.kind,
                p.name,
                f"{p.distribution} {p.version}",
                "yes" if usable.ok else f"no ({usable.reason})",
                usable.install or "-",
                p.value,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() + "\n")
    return EXIT_OK
