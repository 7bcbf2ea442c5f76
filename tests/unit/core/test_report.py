"""Tests for syncd.core.report: the table for people and the JSON document for scripts."""

from __future__ import annotations

import io
import json

from syncd import redaction
from syncd.core.check import BindingCheck, CheckReport, TargetCheck
from syncd.core.engine import CycleReport
from syncd.core.models import Action, RotationMode, RotationOutcome, SinkOutcome, TargetOutcome
from syncd.core.report import (
    COUNT_KEYS,
    as_dict,
    by_file,
    cell,
    check_as_dict,
    print_check,
    print_files,
    print_report,
    write_json,
)
from syncd.errors import ProviderNotFound, SinkUnavailable

CANARY = "canary-Pw-61c0d2e9ab"


def cycle(*, dry_run: bool = False) -> CycleReport:
    """One created and one unchanged secret, a sink that failed, and a target whose fetch failed."""
    return CycleReport(
        (
            TargetOutcome(
                "app",
                (
                    SinkOutcome("app", "aws", "prod/app", Action.CREATE, written=not dry_run),
                    SinkOutcome("app", "local", "app.env", Action.UNCHANGED),
                ),
            ),
            TargetOutcome(
                "api",
                (SinkOutcome("api", "vault", "kv/api", None, error=SinkUnavailable("sealed")),),
            ),
            TargetOutcome("gone", error=ProviderNotFound("project p branch main not found")),
        ),
        0.5,
        dry_run=dry_run,
    )


def printed(report: CycleReport, **kw: list[str]) -> list[str]:
    out = io.StringIO()
    print_report(report, out, **kw)
    return out.getvalue().splitlines()


def test_a_cell_is_one_line_and_capped() -> None:
    """Newlines, control characters and line separators cannot start a row; long text is cut."""
    assert "\n" not in cell("a\nb\r\u2028c\x1bd")
    assert len(cell("x" * 1000)) == 300
    assert len(cell("x" * 1000, limit=20)) == 20


def test_the_table_has_a_row_per_binding_and_per_failed_target() -> None:
    """Written, unchanged and failed bindings and a failed fetch each get their own row."""
    lines = printed(cycle())
    assert lines[0].split() == ["TARGET", "SINK", "SECRET", "RESULT"]
    rows = [line.split(None, 3) for line in lines[1:5]]
    assert rows == [
        ["app", "aws", "prod/app", "create (written)"],
        ["app", "local", "app.env", "unchanged"],
        ["api", "vault", "kv/api", "FAILED: sealed"],
        ["gone", "-", "-", "FAILED: project p branch main not found"],
    ]


def test_the_summary_says_what_was_done() -> None:
    """A real run's summary counts targets and what happened to the secrets."""
    summary = printed(cycle())[-1]
    assert summary == (
        "1 target(s) ok, 2 failed; secrets: 1 created, 0 updated, 0 drift repaired, "
        "1 unchanged; 0.50s"
    )


def test_a_dry_run_says_would_never_done() -> None:
    """Without writes the rows show the plain action and the summary says "would create"."""
    lines = printed(cycle(dry_run=True))
    assert lines[1].split(None, 3)[3] == "create"
    assert lines[-1].startswith("1 target(s) ok, 2 failed (dry run); secrets: would create 1,")


def test_warnings_follow_the_summary_one_line_each() -> None:
    """Each warning is printed after the summary on one line of its own."""
    lines = printed(cycle(), warnings=["shard 2 holds\nno targets"])
    assert lines[-1] == "warning: shard 2 holds no targets"


def test_a_credential_in_an_error_never_reaches_the_table_or_the_json() -> None:
    """Error text from a provider or store is scrubbed of registered values before it is shown."""
    redaction.register(CANARY)
    report = CycleReport((TargetOutcome("app", error=ProviderNotFound(f"bad {CANARY}")),), 0.1)
    out = io.StringIO()
    print_report(report, out)
    write_json(as_dict(report), out)
    assert CANARY not in out.getvalue()


def test_the_json_document_has_every_count_and_each_binding() -> None:
    """as_dict lists every count key, even zero, and each target's bindings with action and error."""
    document = json.loads(json.dumps(as_dict(cycle(), warnings=["w"])))
    assert document["ok"] is False and document["dry_run"] is False
    assert set(document["counts"]) == set(COUNT_KEYS)
    assert document["counts"]["create"] == 1 and document["counts"]["drift"] == 0
    assert document["warnings"] == ["w"]
    app = document["targets"][0]
    assert app["rotation"] is None
    assert app["sinks"][0] == {
        "sink": "aws",
        "secret": "prod/app",
        "action": "create",
        "written": True,
        "error": None,
    }
    assert document["targets"][1]["sinks"][0]["action"] is None
    assert document["targets"][2]["error"] == "project p branch main not found"


def test_a_published_rotation_is_described_in_the_json() -> None:
    """A rotation outcome becomes its mode, roles, window and whether it resumed."""
    rotation = RotationOutcome(RotationMode.RESET, "app_b", reset_role="app_b", window_s=1.5)
    report = CycleReport(
        (
            TargetOutcome(
                "app", (SinkOutcome("app", "aws", "s", Action.ROTATE, True),), None, rotation
            ),
        ),
        0.1,
    )
    assert as_dict(report)["targets"][0]["rotation"] == {
        "mode": "reset",
        "role": "app_b",
        "reset_role": "app_b",
        "window_s": 1.5,
        "resumed": False,
    }
    assert "1 rotated" in printed(report)[-1]


def check_report() -> CheckReport:
    return CheckReport(
        (
            TargetCheck(
                "app",
                (
                    BindingCheck("app", "aws", "prod/app", Action.UPDATE, notes=("adopts it",)),
                    BindingCheck("app", "vault", "kv/app", problems=("permission denied",)),
                ),
            ),
            TargetCheck("rot", rotation=("psycopg is not installed",)),
        ),
        0.25,
    )


def test_a_check_prints_its_findings_and_writes_nothing() -> None:
    """Each binding's result and each rotation problem is a row; the summary says nothing was written."""
    out = io.StringIO()
    print_check(check_report(), out)
    lines = out.getvalue().splitlines()
    results = [line.split(None, 3)[3] for line in lines[1:4]]
    assert results == [
        "ok (would update); adopts it",
        "FAILED: permission denied",
        "FAILED: rotation: psycopg is not installed",
    ]
    assert lines[-1] == (
        "0 target(s) ok, 2 failed; 1 sink binding(s) with problems; secrets: would create 0, "
        "would update 1, would repair drift in 0, 0 unchanged; no secret written; 0.25s"
    )


def test_a_checks_json_has_the_shape_of_a_dry_run() -> None:
    """check_as_dict is a dry run with check: true, never written, and problems and notes per sink."""
    document = check_as_dict(check_report())
    assert (document["dry_run"], document["check"], document["ok"]) == (True, True, False)
    assert set(document["counts"]) == set(COUNT_KEYS)
    app, rot = document["targets"]
    assert [s["written"] for s in app["sinks"]] == [False, False]
    assert app["sinks"][0]["notes"] == ["adopts it"] and app["sinks"][0]["error"] is None
    assert app["sinks"][1]["error"] == "permission denied"
    assert rot["rotation_problems"] == ["psycopg is not installed"]


def test_targets_are_counted_per_config_file() -> None:
    """by_file splits the targets, in config order, over the main file and its fragments."""
    rows = by_file([("syncd.yaml", 2), ("conf.d/b.yaml", 1)], [True, False, False])
    assert rows == [
        {"file": "syncd.yaml", "targets": 2, "targets_failed": 1},
        {"file": "conf.d/b.yaml", "targets": 1, "targets_failed": 1},
    ]
    assert by_file([("syncd.yaml", 2)]) == [{"file": "syncd.yaml", "targets": 2}]
    out = io.StringIO()
    print_files([*rows, {"file": "c.yaml", "targets": 3}], out)
    assert out.getvalue().splitlines() == [
        "syncd.yaml: FAILED (1 of 2 targets)",
        "conf.d/b.yaml: FAILED (1 of 1 targets)",
        "c.yaml: ok (3 targets)",
    ]
