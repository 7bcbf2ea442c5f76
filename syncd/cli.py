"""The ``syncd`` command line: parse arguments, build objects, hand over, map exit codes.

Exit codes: 0 every target succeeded; 1 one or more targets failed (the others
were synced); 2 usage or configuration error; 130 interrupted (SIGINT); 143
terminated (SIGTERM). User errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from syncd import __version__, exits
from syncd.config import levels, sharding
from syncd.daemon.progress import Progress
from syncd.errors import PluginError, SyncdError, UsageError
from syncd.exits import EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from syncd.config import settings as config_mod
    from syncd.core.engine import CycleReport
    from syncd.core.models import Target
    from syncd.core.runtime import Runtime


DESCRIPTION = """\
syncd keeps database connection strings from a managed-Postgres provider
(case.dev) in the secret stores your applications read: AWS Secrets Manager,
Vault / OpenBao (KV v2) and files. Run one cycle with 'syncd run --once', or
'syncd run' as a daemon; 'syncd check' tests a config without writing;
'syncd config lint' validates the config files alone, contacting nothing;
'syncd rotate' resets and republishes passwords now (Neon)."""

EPILOG = """\
exit codes: 0 ok; 1 a target failed (the others were synced); 2 usage or
config error; 130 interrupted (SIGINT); 143 terminated (SIGTERM).
'syncd COMMAND --help' describes each command."""

OUTPUTS = ("text", "json")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"syncd: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="syncd",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"syncd {__version__}")
    commands = parser.add_subparsers(
        title="commands", metavar="COMMAND", dest="command", required=True, parser_class=_Parser
    )

    def with_config(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--config",
            type=Path,
            help="config file (default: $SYNCD_CONFIG, else /etc/syncd/syncd.yaml)",
        )
        sub.add_argument("--log-level", choices=levels.LEVELS, help="overrides log.level")
        sub.add_argument("--log-format", choices=levels.FORMATS, help="overrides log.format")

    def with_output(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--output",
            "--report",
            choices=OUTPUTS,
            default="text",
            help="the final report as a table (text, default) or one JSON document on stdout",
        )

    run = commands.add_parser(
        "run",
        help="sync targets: as a daemon, or one cycle with --once",
        description="Keep every target in sync on its interval, or run one cycle with --once.",
    )
    with_config(run)
    with_output(run)
    run.add_argument("--once", action="store_true", help="run one cycle and exit")
    run.add_argument("--dry-run", action="store_true", help="fetch and compare, write nothing")
    run.add_argument(
        "--target", action="append", metavar="NAME", help="only these targets (repeatable)"
    )
    run.add_argument(
        "--shard",
        metavar="INDEX/COUNT",
        help="only the targets of shard INDEX of COUNT (by a stable hash of the target name)",
    )
    run.add_argument(
        "--shard-count",
        type=_count,
        metavar="COUNT",
        help="COUNT shards, INDEX from $JOB_COMPLETION_INDEX (overrides the config's 'shards')",
    )
    run.add_argument(
        "--metrics-file",
        type=Path,
        metavar="PATH",
        help="with --once: write metrics in node_exporter textfile format to PATH "
        "(must end in .prom, in an existing directory)",
    )

    rotate = commands.add_parser(
        "rotate",
        help="rotate the named targets' passwords now, whatever their schedule",
        description="Reset, prove and publish the password of each named target now "
        "(targets with rotation mode reset or alternate). Exit codes as for run --once.",
    )
    with_config(rotate)
    with_output(rotate)
    rotate.add_argument(
        "--dry-run", action="store_true", help="say what would be rotated; reset and write nothing"
    )
    rotate.add_argument("targets", nargs="+", metavar="TARGET", help="a target to rotate")

    check = commands.add_parser(
        "check",
        help="validate config, credentials and access; write no secret",
        description="Validate the config, resolve credentials and check every provider and "
        "sink is reachable and authorised, without writing anything.",
    )
    with_config(check)
    with_output(check)

    config = commands.add_parser(
        "config",
        help="work with the config files without contacting any provider or store",
        description="Commands on the config files alone; nothing is contacted.",
    )
    config_commands = config.add_subparsers(
        title="commands", metavar="COMMAND", dest="config_command", required=True,
        parser_class=_Parser,
    )
    lint = config_commands.add_parser(
        "lint",
        help="validate the config and every fragment; contact nothing (for CI)",
        description="Validate the main config file and every fragment it includes, as a "
        "start would, and report per file. Contacts no provider or store and reads no "
        "credential. Exit codes: 0 valid; 2 invalid (one line per problem on stderr).",
    )
    with_config(lint)
    with_output(lint)

    commands.add_parser(
        "demo",
        help="run syncd end to end against embedded local servers",
        description="Run three cycles against a built-in case.dev-compatible server and local "
        "stores: create, no change, and a credential rotation.",
    )
    commands.add_parser(
        "plugins",
        help="list installed providers and sinks, and whether each is usable",
        description="List every installed provider and sink plugin, whether it is usable "
        "(its SDK is installed) and the extra that installs it.",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code.

    The one exit path: a command returns its code, and every error that ends
    it is mapped to its code and one-line message by :func:`syncd.exits.report`.
    """
    args = _parser().parse_args(argv)
    try:
        if args.command == "plugins":
            return _plugins(sys.stdout)
        if args.command == "demo":
            from syncd.demo import run_demo  # noqa: PLC0415 - only the demo needs its servers

            return run_demo(sys.stdout)
        return _with_config(args)
    except KeyboardInterrupt as exc:
        return exits.interrupted(exc)
    except SyncdError as exc:
        return exits.report(exc)


def _with_config(args: argparse.Namespace) -> int:
    # Imported once the arguments are known good: 'syncd --help' needs none of it.
    import structlog  # noqa: PLC0415

    from syncd import logs  # noqa: PLC0415
    from syncd.config import settings as config_mod  # noqa: PLC0415

    overrides: dict[str, object] = {}
    log_overrides = {k: v for k, v in (("level", args.log_level), ("format", args.log_format)) if v}
    if log_overrides:
        overrides["log"] = log_overrides
    located = config_mod.locate(args.config)
    cfg = config_mod.load(located.path, overrides, origin=located.origin, select=_selector(args))
    log_settings = cfg.settings.log
    logs.configure(
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
    if args.command == "config":
        return _lint(cfg, sys.stdout, output=args.output)
    if args.command == "check":
        with exits.sigterm_interrupts():
            return _check(cfg, sys.stdout, output=args.output)
    if args.command == "rotate":
        with exits.sigterm_interrupts():
            return _rotate(cfg, args.targets, dry_run=args.dry_run, output=args.output)
    selected = _select(cfg, args.target)
    shard = _shard(args, cfg)
    targets = shard.select(selected)
    defined = len(selected) if args.target else cfg.defined
    warnings = _empty_shard(shard, targets, defined, named=bool(args.target))
    if args.metrics_file and not args.once:
        raise UsageError("--metrics-file needs --once")
    if args.metrics_file and args.dry_run:
        # A dry run writes nothing, so its "successes" must not reach a staleness alert.
        raise UsageError("--metrics-file cannot be combined with --dry-run")
    if args.metrics_file and (problem := _metrics_file_problem(args.metrics_file)):
        raise UsageError(f"--metrics-file {args.metrics_file}: {problem}")
    if not args.once:
        if args.dry_run or args.output != "text":
            flag = "--dry-run" if args.dry_run else "--output json"
            raise UsageError(f"{flag} needs --once")
        return _daemon(cfg, shard)
    with exits.sigterm_interrupts():  # the daemon handles its own signals
        return _run_once(
            cfg,
            targets,
            dry_run=args.dry_run,
            metrics_file=args.metrics_file,
            output=args.output,
            warnings=warnings,
        )


def _count(text: str) -> int:
    """``--shard-count``: a whole number of shards, 1 to 10,000."""
    if not sharding.is_number(text) or not 1 <= int(text) <= sharding.MAX_SHARDS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a shard count (ASCII digits, 1-{sharding.MAX_SHARDS})"
        )
    return int(text)


def _shard(args: argparse.Namespace, cfg: config_mod.Config) -> sharding.Shard:
    """The shard this process syncs (syncd.config.sharding); raises UsageError if bad."""
    return sharding.resolve(args.shard, args.shard_count, cfg.settings.shards, os.environ)


def _selector(args: argparse.Namespace) -> config_mod.Selector | None:
    """For ``run`` over a shard: build only that shard's targets of the fragments.

    Not with ``--target``: a named target of another shard must still be known
    (and reported as outside this shard), so everything is built as before.
    """
    if args.command != "run" or args.target:
        return None

    def select(configured: int) -> Callable[[str], bool] | None:
        shard = sharding.resolve(args.shard, args.shard_count, configured, os.environ)
        return shard.holds if shard.count > 1 else None

    return select


def _empty_shard(
    shard: sharding.Shard,
    targets: tuple[Target, ...],
    defined: int,
    *,
    named: bool,
) -> tuple[str, ...]:
    """Warn when this shard holds none of the targets; the warning, for the report."""
    if targets or shard.count == 1:
        return ()
    import structlog  # noqa: PLC0415 - loaded by _with_config already

    which = "named" if named else "configured"
    # Not an error: with more shards than targets some are empty, and the Job must complete.
    structlog.get_logger(__name__).warning(
        "shard_empty", shard=str(shard), targets=defined, selection=which
    )
    return (f"shard {shard} holds none of the {defined} {which} target(s); nothing was synced",)


def _daemon(cfg: config_mod.Config, shard: sharding.Shard) -> int:
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


def _sharded(cfg: config_mod.Config, shard: sharding.Shard) -> config_mod.Config:
    """The config with only ``shard``'s targets: what this daemon schedules, reloads included."""
    return dataclasses.replace(cfg, targets=shard.select(cfg.targets))


def _metrics_file_problem(path: Path) -> str | None:
    """Why node_exporter would never read ``path``, checked before anything is synced."""
    if path.suffix != ".prom":
        return "must end in .prom (node_exporter's textfile collector ignores other files)"
    directory = path.parent
    if not directory.is_dir():
        return f"directory {directory} does not exist"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"directory {directory} is not writable"
    from syncd import localfile  # noqa: PLC0415 - only --metrics-file needs it

    # The previous file is read back (its last successes carry over): a FIFO there
    # would block the run after the secrets were written, a link to /dev/zero never end.
    try:
        found = localfile.problem(path)
    except OSError as exc:
        return f"cannot examine it: {exc.strerror}"
    return f"{found}; remove it, or choose another path" if found else None


def _select(cfg: config_mod.Config, names: list[str] | None) -> tuple[Target, ...]:
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


def _build(cfg: config_mod.Config) -> Runtime:
    from syncd.core.runtime import Runtime  # noqa: PLC0415 - keeps 'syncd --help' import-light

    return Runtime.build(cfg)


def _run_once(
    cfg: config_mod.Config,
    targets: tuple[Target, ...],
    *,
    dry_run: bool,
    metrics_file: Path | None,
    output: str = "text",
    warnings: tuple[str, ...] = (),
) -> int:
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


def _rotate(cfg: config_mod.Config, names: list[str], *, dry_run: bool, output: str) -> int:
    """``syncd rotate``: one cycle over the named targets, each forced to rotate."""
    targets = _select(cfg, names)
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


def _lint(cfg: config_mod.Config, out: TextIO, *, output: str) -> int:
    """``syncd config lint``: the config loaded (so valid); say so per file."""
    from syncd.core.report import by_file, print_files, write_json  # noqa: PLC0415

    rows = by_file(cfg.files)
    if output == "json":
        write_json({"ok": True, "targets": cfg.defined, "files": rows}, out)
    else:
        print_files(rows, out)
        out.write(f"config ok: {cfg.defined} target(s) in {len(rows)} file(s)\n")
    return EXIT_OK


def _check(cfg: config_mod.Config, out: TextIO, *, output: str = "text") -> int:
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


def _plugins(out: TextIO) -> int:
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
