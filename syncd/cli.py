"""The ``syncd`` command line: parse arguments, build objects, hand over, map exit codes.

Exit codes: 0 every target succeeded; 1 one or more targets failed (the others
were synced); 2 usage or configuration error; 130 interrupted. User errors are
one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import structlog

from syncd import __version__, exits
from syncd import config as config_mod
from syncd import logging as syncd_logging
from syncd.configerrors import suggest
from syncd.engine import CycleReport
from syncd.errors import ConfigError, PluginError, SyncdError
from syncd.exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from syncd.models import Target
from syncd.redaction import scrub

if TYPE_CHECKING:
    from syncd.runtime import Runtime


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"syncd: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="syncd", description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"syncd {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def with_config(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--config",
            type=Path,
            help="config file (default: $SYNCD_CONFIG, else /etc/syncd/syncd.yaml)",
        )
        sub.add_argument("--log-level", choices=syncd_logging.LEVELS, help="overrides log.level")
        sub.add_argument("--log-format", choices=syncd_logging.FORMATS, help="overrides log.format")

    run = commands.add_parser(
        "run",
        help="sync targets: as a daemon, or one cycle with --once",
        description="Keep every target in sync on its interval, or run one cycle with --once.",
    )
    with_config(run)
    run.add_argument("--once", action="store_true", help="run one cycle and exit")
    run.add_argument("--dry-run", action="store_true", help="fetch and compare, write nothing")
    run.add_argument(
        "--target", action="append", metavar="NAME", help="only these targets (repeatable)"
    )
    run.add_argument(
        "--metrics-file",
        type=Path,
        metavar="PATH",
        help="with --once: write metrics in node_exporter textfile format",
    )

    check = commands.add_parser(
        "check",
        help="validate config, credentials and access; write nothing",
        description="Validate the config, resolve credentials and check every provider and "
        "sink is reachable and authorised, without writing anything.",
    )
    with_config(check)

    commands.add_parser(
        "demo",
        help="run syncd end to end against embedded local servers",
        description="Run three cycles against a built-in case.dev-compatible server and local "
        "stores: create, no change, and a credential rotation.",
    )
    commands.add_parser("plugins", help="list available providers and sinks")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "plugins":
            return _plugins(sys.stdout)
        if args.command == "demo":
            from syncd.demo import run_demo  # noqa: PLC0415 - only the demo needs its servers

            return run_demo(sys.stdout)
        return _with_config(args)
    except KeyboardInterrupt:
        print("syncd: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _with_config(args: argparse.Namespace) -> int:  # noqa: PLR0911 - one exit per failure mode
    overrides: dict[str, object] = {}
    log_overrides = {k: v for k, v in (("level", args.log_level), ("format", args.log_format)) if v}
    if log_overrides:
        overrides["log"] = log_overrides
    located = config_mod.locate(args.config)
    try:
        cfg = config_mod.load(located.path, overrides, origin=located.origin)
    except (ConfigError, PluginError) as exc:
        # One line per problem: a config can have several.
        for line in str(exc).splitlines():
            print(f"syncd: config error: {line}", file=sys.stderr)
        return EXIT_USAGE
    log_settings = cfg.settings.log
    syncd_logging.configure(
        log_settings.level, log_settings.format, vendor_debug=log_settings.vendor_debug
    )
    for variable, closest in config_mod.unknown_environment():
        # Not an error: the environment is shared with other programs and may be stale.
        structlog.get_logger(__name__).warning(
            "unknown_environment_variable",
            variable=variable,
            problem="matches no setting; ignored",
            did_you_mean=closest or None,
        )
    if args.command == "check":
        return _check(cfg, sys.stdout)
    targets = _select(cfg, args.target)
    if targets is None:
        return EXIT_USAGE
    if args.metrics_file and not args.once:
        print("syncd: error: --metrics-file needs --once", file=sys.stderr)
        return EXIT_USAGE
    if args.metrics_file and args.dry_run:
        # A dry run writes nothing, so its "successes" must not reach a staleness alert.
        print("syncd: error: --metrics-file cannot be combined with --dry-run", file=sys.stderr)
        return EXIT_USAGE
    if not args.once:
        if args.dry_run:
            print("syncd: error: --dry-run needs --once", file=sys.stderr)
            return EXIT_USAGE
        from syncd.scheduler import run_daemon  # noqa: PLC0415 - apscheduler only for the daemon

        return run_daemon(cfg)
    return _run_once(cfg, targets, dry_run=args.dry_run, metrics_file=args.metrics_file)


def _select(cfg: config_mod.Config, names: list[str] | None) -> tuple[Target, ...] | None:
    if not names:
        return cfg.targets
    known = {t.name for t in cfg.targets}
    unknown = [n + suggest(n, known) for n in names if n not in known]
    if unknown:
        print(
            f"syncd: error: unknown target(s) {', '.join(unknown)}; "
            f"configured: {', '.join(sorted(known)) or 'none'}",
            file=sys.stderr,
        )
        return None
    return tuple(t for t in cfg.targets if t.name in set(names))


def _build(cfg: config_mod.Config) -> Runtime | int:
    from syncd.runtime import Runtime  # noqa: PLC0415 - keeps 'syncd --help' import-light

    try:
        return Runtime.build(cfg)
    except SyncdError as exc:
        return exits.report(exc)


def _run_once(
    cfg: config_mod.Config,
    targets: tuple[Target, ...],
    *,
    dry_run: bool,
    metrics_file: Path | None,
) -> int:
    runtime = _build(cfg)
    if isinstance(runtime, int):
        return runtime
    if metrics_file is not None:
        from syncd.metrics import Metrics, write_textfile  # noqa: PLC0415 - prometheus when asked
        from syncd.observe import attach  # noqa: PLC0415

        metrics = Metrics()  # counts the run's API requests too
        attach([*runtime.providers.values(), *runtime.sinks.values()], metrics)
    with runtime:
        report = runtime.engine(dry_run=dry_run).run_cycle(targets)
    if metrics_file is not None:
        try:
            write_textfile(metrics_file, report, cfg, metrics=metrics)
        except OSError as exc:
            print(f"syncd: error: cannot write {metrics_file}: {exc.strerror}", file=sys.stderr)
            return EXIT_FAILED
    print_report(report, sys.stdout)
    return EXIT_OK if report.ok else EXIT_FAILED


def _check(cfg: config_mod.Config, out: TextIO) -> int:
    from syncd.check import Checker, print_check  # noqa: PLC0415 - only check needs it

    runtime = _build(cfg)
    if isinstance(runtime, int):
        return runtime
    with runtime:
        checker = Checker(
            runtime.providers,
            runtime.sinks,
            concurrency=cfg.settings.concurrency,
            instance=cfg.settings.instance,
        )
        report = checker.run(cfg.targets)
    print_check(report, out)
    return EXIT_OK if report.ok else EXIT_FAILED


# Control characters (C0, DEL, C1) and Unicode line separators: any could start
# a new row in the table or hide part of one.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_MAX_RESULT = 300


def _cell(text: str, limit: int = _MAX_RESULT) -> str:
    """``text`` flattened to one line and cut to ``limit`` characters."""
    flat = _UNPRINTABLE.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def print_report(report: CycleReport, out: TextIO, *, check: bool = False) -> None:
    """Print one line per target and sink, then a summary; never a credential.

    Error text can quote a provider or a store (a branch, an error message):
    every cell is flattened to one line and capped, so it cannot forge a row.
    """
    rows = [("TARGET", "SINK", "SECRET", "RESULT")]
    for target in report.outcomes:
        if target.error is not None:
            rows.append((target.target, "-", "-", f"FAILED: {_cell(str(target.error))}"))
            continue
        for s in target.sinks:
            if s.error is not None:
                result = f"FAILED: {_cell(str(s.error))}"
            elif check:
                result = f"ok (would {s.action})" if s.action != "unchanged" else "ok (unchanged)"
            elif report.dry_run or not s.written:
                result = str(s.action)
            else:
                result = f"{s.action} (written)"
            rows.append((s.target, s.sink, _cell(s.secret), result))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        line = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3]))
        out.write(scrub(f"{line}  {row[3]}") + "\n")
    c = report.counts
    mode = " (dry run)" if report.dry_run and not check else ""
    out.write(
        f"\n{c['targets_ok']} target(s) ok, {c['targets_failed']} failed{mode}; "
        f"secrets: {c['create']} created, {c['update']} updated, {c['drift']} drift repaired, "
        f"{c['unchanged']} unchanged; {report.duration:.2f}s\n"
    )


def _plugins(out: TextIO) -> int:
    from syncd import plugins  # noqa: PLC0415

    try:
        found = plugins.all_plugins()
    except PluginError as exc:
        print(f"syncd: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    rows = [("KIND", "NAME", "DISTRIBUTION", "OBJECT")]
    rows += [(p.kind, p.name, f"{p.distribution} {p.version}", p.value) for p in found]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        out.write("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() + "\n")
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
