"""A cycle's report as one JSON document, for scripts and CI (``--output json``).

The document is the whole of stdout in that mode::

    {"ok": true, "dry_run": false, "duration_s": 0.42,
     "counts": {"targets_ok": 2, "targets_failed": 0, "create": 1, ...},
     "targets": [{"target": "app", "ok": true, "error": null,
                  "sinks": [{"sink": "aws", "secret": "prod/app", "action": "create",
                             "written": true, "error": null}]}]}

Error messages pass :func:`syncd.redaction.scrub`, like every other output.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from syncd.engine import CycleReport
from syncd.models import SinkOutcome, TargetOutcome
from syncd.redaction import scrub

#: Every count key, present even when zero, so scripts need no defaults.
COUNT_KEYS = (
    "targets_ok",
    "targets_failed",
    "create",
    "update",
    "drift",
    "unchanged",
    "sink_errors",
)


def as_dict(report: CycleReport) -> dict[str, Any]:
    """The report as plain JSON-compatible data; never a credential."""
    return {
        "ok": report.ok,
        "dry_run": report.dry_run,
        "duration_s": round(report.duration, 3),
        "counts": {key: report.counts[key] for key in COUNT_KEYS},
        "targets": [_target(t) for t in report.outcomes],
    }


def write_json(report: CycleReport, out: TextIO) -> None:
    """Write the report to ``out`` as one JSON document and a newline."""
    out.write(json.dumps(as_dict(report), indent=2) + "\n")


def _target(outcome: TargetOutcome) -> dict[str, Any]:
    return {
        "target": outcome.target,
        "ok": outcome.ok,
        "error": _error(outcome.error),
        "sinks": [_sink(s) for s in outcome.sinks],
    }


def _sink(outcome: SinkOutcome) -> dict[str, Any]:
    return {
        "sink": outcome.sink,
        "secret": outcome.secret,
        "action": outcome.action.value if outcome.action is not None else None,
        "written": outcome.written,
        "error": _error(outcome.error),
    }


def _error(error: Exception | None) -> str | None:
    return None if error is None else scrub(str(error))
