"""What a cycle or a check did, as a table for people or one JSON document for scripts.

The table has one row per target problem and per sink binding (TARGET, SINK,
SECRET, RESULT), then a one-line summary. Text in a cell can come from a
provider or a store (a branch, an error message), so every cell is flattened
to one line, capped, and scrubbed: it can neither forge a row nor show a
credential. Summaries of runs that wrote nothing (``--dry-run``, ``check``)
say "would create N", never "N created".

With ``--output json`` the JSON document is the whole of stdout::

    {"ok": true, "dry_run": false, "duration_s": 0.42,
     "counts": {"targets_ok": 2, "targets_failed": 0, "create": 1, ...},
     "targets": [{"target": "app", "ok": true, "error": null, "rotation": null,
                  "sinks": [{"sink": "aws", "secret": "prod/app", "action": "create",
                             "written": true, "error": null}]}],
     "warnings": []}

``warnings`` lists what the run wants a person to know although nothing
failed, such as a shard that holds no targets (empty when there is none).
``rotation`` is null unless the target's rotation published a credential in
this run: then ``{"mode", "role" (published now), "reset_role" (reset by this
run, or null when it finished a rotation another run started: ``resumed``),
"window_s" (reset to last publish)}``; its sinks' action is ``rotate``.
``check`` adds ``"check": true`` and, per sink, ``problems`` and ``notes``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

from syncd.core.check import BindingCheck, CheckReport, TargetCheck
from syncd.core.engine import CycleReport
from syncd.core.models import RotationOutcome, SinkOutcome, TargetOutcome
from syncd.net.untrusted import one_line
from syncd.redaction import scrub

#: Every count key, present even when zero, so scripts need no defaults.
COUNT_KEYS = (
    "targets_ok",
    "targets_failed",
    "create",
    "update",
    "drift",
    "rotate",
    "unchanged",
    "sink_errors",
)
_MAX_CELL = 300
_HEADER = ("TARGET", "SINK", "SECRET", "RESULT")


def cell(text: str, limit: int = _MAX_CELL) -> str:
    """``text`` flattened to one line and cut to ``limit`` characters.

    Control characters and Unicode line separators could start a new row in
    the table or hide part of one (see :func:`syncd.net.untrusted.one_line`).
    """
    return one_line(text, limit)


def print_report(report: CycleReport, out: TextIO, *, warnings: Sequence[str] = ()) -> None:
    """Print a cycle: one row per target failure and per binding, the summary, the warnings."""
    rows: list[tuple[str, str, str, str]] = []
    for target in report.outcomes:
        if target.error is not None:
            rows.append((target.target, "-", "-", f"FAILED: {target.error}"))
            continue
        for s in target.sinks:
            if s.error is not None:
                result = f"FAILED: {s.error}"
            elif report.dry_run or not s.written:
                result = str(s.action)
            else:
                result = f"{s.action} (written)"
            rows.append((s.target, s.sink, s.secret, result))
    _table(rows, out)
    mode = " (dry run)" if report.dry_run else ""
    out.write(
        f"\n{_targets(report.counts)}{mode}; secrets: "
        f"{_changes(report.counts, would=report.dry_run)}; {report.duration:.2f}s\n"
    )
    for warning in warnings:
        out.write(f"warning: {cell(warning)}\n")


def print_check(report: CheckReport, out: TextIO) -> None:
    """Print a check: one row per fetch failure and per binding, then the summary."""
    rows: list[tuple[str, str, str, str]] = []
    for target in report.targets:
        if target.error is not None:
            rows.append((target.target, "-", "-", f"FAILED: {target.error}"))
        rows += [(target.target, "-", "-", f"FAILED: rotation: {p}") for p in target.rotation]
        rows += [(b.target, b.sink, b.secret, b.result) for b in target.bindings]
    _table(rows, out)
    counts = check_counts(report)
    out.write(
        f"\n{_targets(counts)}; {counts['sink_errors']} sink binding(s) with problems; "
        f"secrets: {_changes(counts, would=True)}; no secret written; {report.duration:.2f}s\n"
    )


def by_file(
    files: Sequence[tuple[str, int]], oks: Sequence[bool] | None = None
) -> list[dict[str, Any]]:
    """Per config file (main file, then fragments): its targets and, after a check, failures.

    ``oks`` is each target's result in config order, which is file order.
    """
    rows: list[dict[str, Any]] = []
    start = 0
    for path, count in files:
        row: dict[str, Any] = {"file": path, "targets": count}
        if oks is not None:
            row["targets_failed"] = sum(not ok for ok in oks[start : start + count])
        rows.append(row)
        start += count
    return rows


def print_files(rows: Sequence[Mapping[str, Any]], out: TextIO) -> None:
    """One line per config file: ``<file>: ok (N targets)`` or how many failed."""
    for row in rows:
        failed = row.get("targets_failed", 0)
        total = row["targets"]
        result = f"FAILED ({failed} of {total} targets)" if failed else f"ok ({total} targets)"
        out.write(f"{row['file']}: {result}\n")


def as_dict(report: CycleReport, *, warnings: Sequence[str] = ()) -> dict[str, Any]:
    """A cycle as plain JSON-compatible data; never a credential."""
    return {
        "ok": report.ok,
        "dry_run": report.dry_run,
        "duration_s": round(report.duration, 3),
        "counts": _count_dict(report.counts),
        "targets": [_target(t) for t in report.outcomes],
        "warnings": list(warnings),
    }


def check_as_dict(report: CheckReport) -> dict[str, Any]:
    """A check as plain JSON-compatible data, in the shape of a dry run's."""
    return {
        "ok": report.ok,
        "dry_run": True,
        "check": True,
        "duration_s": round(report.duration, 3),
        "counts": _count_dict(check_counts(report)),
        "targets": [_checked_target(t) for t in report.targets],
        "warnings": [],
    }


def write_json(document: Mapping[str, Any], out: TextIO) -> None:
    """Write ``document`` (from :func:`as_dict` or :func:`check_as_dict`) and a newline."""
    out.write(json.dumps(document, indent=2) + "\n")


def check_counts(report: CheckReport) -> Counter[str]:
    """The same counts a cycle keeps, for a check."""
    counts: Counter[str] = Counter()
    for target in report.targets:
        counts["targets_ok" if target.ok else "targets_failed"] += 1
        for binding in target.bindings:
            if not binding.ok:
                counts["sink_errors"] += 1
            elif binding.action is not None:
                counts[binding.action.value] += 1
    return counts


def _table(rows: Iterable[tuple[str, str, str, str]], out: TextIO) -> None:
    cells = [_HEADER, *((cell(a, 128), cell(b, 128), cell(c), cell(d)) for a, b, c, d in rows)]
    widths = [max(len(r[i]) for r in cells) for i in range(3)]
    for row in cells:
        line = "  ".join(text.ljust(widths[i]) for i, text in enumerate(row[:3]))
        out.write(scrub(f"{line}  {row[3]}") + "\n")


def _targets(counts: Counter[str]) -> str:
    return f"{counts['targets_ok']} target(s) ok, {counts['targets_failed']} failed"


def _changes(counts: Counter[str], *, would: bool) -> str:
    if would:
        changes = (
            f"would create {counts['create']}, would update {counts['update']}, "
            f"would repair drift in {counts['drift']}"
        )
        rotated = f", would rotate {counts['rotate']}" if counts["rotate"] else ""
    else:
        changes = (
            f"{counts['create']} created, {counts['update']} updated, "
            f"{counts['drift']} drift repaired"
        )
        rotated = f", {counts['rotate']} rotated" if counts["rotate"] else ""
    return f"{changes}{rotated}, {counts['unchanged']} unchanged"


def _count_dict(counts: Counter[str]) -> dict[str, int]:
    return {key: counts[key] for key in COUNT_KEYS}


def _target(outcome: TargetOutcome) -> dict[str, Any]:
    return {
        "target": outcome.target,
        "ok": outcome.ok,
        "error": _error(outcome.error),
        "rotation": _rotation(outcome.rotation),
        "sinks": [_sink(s) for s in outcome.sinks],
    }


def _rotation(rotation: RotationOutcome | None) -> dict[str, Any] | None:
    if rotation is None:
        return None
    return {
        "mode": rotation.mode.value,
        "role": rotation.role,
        "reset_role": rotation.reset_role,
        "window_s": rotation.window_s,
        "resumed": rotation.resumed,
    }


def _sink(outcome: SinkOutcome) -> dict[str, Any]:
    return {
        "sink": outcome.sink,
        "secret": outcome.secret,
        "action": outcome.action.value if outcome.action is not None else None,
        "written": outcome.written,
        "error": _error(outcome.error),
    }


def _checked_target(target: TargetCheck) -> dict[str, Any]:
    return {
        "target": target.target,
        "ok": target.ok,
        "error": _error(target.error),
        "rotation_problems": [scrub(p) for p in target.rotation],
        "sinks": [_checked_sink(b) for b in target.bindings],
    }


def _checked_sink(binding: BindingCheck) -> dict[str, Any]:
    return {
        "sink": binding.sink,
        "secret": binding.secret,
        "action": binding.action.value if binding.action is not None else None,
        "written": False,
        "error": "; ".join(scrub(p) for p in binding.problems) or None,
        "problems": [scrub(p) for p in binding.problems],
        "notes": [scrub(n) for n in binding.notes],
    }


def _error(error: Exception | None) -> str | None:
    return None if error is None else scrub(str(error))
