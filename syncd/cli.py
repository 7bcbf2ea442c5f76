"""The ``syncd`` command line: parse and check arguments, load the config, map exit codes.

What each command then does is :mod:`syncd.commands`.

Exit codes: 0 every target succeeded; 1 one or more targets failed (the others
were synced); 2 usage or configuration error; 130 interrupted (SIGINT); 143
terminated (SIGTERM). User errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from syncd import __version__, commands, exits
from syncd.config import levels, sharding
from syncd.errors import SyncdError, UsageError
from syncd.exits import EXIT_USAGE

if TYPE_CHECKING:
    from syncd.config import settings as config_mod
    from syncd.core.models import Target


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
            return commands.list_plugins(sys.stdout)
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
        return commands.lint(cfg, sys.stdout, output=args.output)
    if args.command == "check":
        with exits.sigterm_interrupts():
            return commands.check(cfg, sys.stdout, output=args.output)
    if args.command == "rotate":
        with exits.sigterm_interrupts():
            return commands.rotate(cfg, args.targets, dry_run=args.dry_run, output=args.output)
    selected = commands.named_targets(cfg, args.target)
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
        return commands.daemon(cfg, shard)
    with exits.sigterm_interrupts():  # the daemon handles its own signals
        return commands.run_once(
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
