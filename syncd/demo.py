"""``syncd demo``: syncd end to end with no cloud account.

A case.dev-compatible server (:mod:`syncd.testing.casedev`) runs on loopback
with three targets — main direct, main pooled, a feature branch — synced into
the file sink and, when moto is installed, into AWS Secrets Manager mocked
in-process. Three cycles show creation, a cycle that changes nothing, and a
credential rotation at the provider being picked up. Everything it creates is
removed at exit.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from syncd import config as config_mod
from syncd import logs, redaction
from syncd.engine import CycleReport
from syncd.report import print_report
from syncd.runtime import Runtime
from syncd.testing.casedev import FakeCaseDev

PROJECT = "proj_demo123"
BRANCHES = ("main", "feature-auth")


class DemoProject:
    """Generates Neon-style URIs for the demo branches and rotates their passwords."""

    def __init__(self, api: FakeCaseDev) -> None:
        self.api = api
        self.passwords: dict[str, str] = {}
        for branch in BRANCHES:
            self.rotate(branch)

    def rotate(self, branch: str) -> None:
        """Give ``branch`` a new password, as a credential rotation at the provider would."""
        password = secrets.token_urlsafe(18)
        self.passwords[branch] = password
        redaction.register(password)
        endpoint = f"ep-demo-{branch}"
        user = "neondb_owner"
        self.api.set_branch(
            PROJECT,
            branch,
            direct=f"postgresql://{user}:{password}@{endpoint}.demo.invalid/neondb?sslmode=require",
            pooled=f"postgresql://{user}:{password}@{endpoint}-pooler.demo.invalid/neondb?sslmode=require",
        )


def demo_config(base_url: str, key_file: Path, directory: Path, with_aws: bool) -> dict[str, Any]:
    """The embedded configuration: three targets into the file sink (and AWS)."""

    def bindings(name: str, fmt: str) -> list[dict[str, Any]]:
        sinks: list[dict[str, Any]] = [{"sink": "local", "secret": f"{name}.{fmt}", "format": fmt}]
        if with_aws:
            sinks.append({"sink": "aws", "secret": f"demo/{name}", "format": "json"})
        return sinks

    sinks: dict[str, Any] = {"local": {"type": "file", "directory": str(directory)}}
    if with_aws:
        # moto answers in-process, inside botocore: every request must go through it.
        sinks["aws"] = {
            "type": "aws-secrets-manager",
            "region": "us-east-1",
            "describe_via": "botocore",
        }
    return {
        "log": {"level": "warning", "format": "console"},
        "providers": {
            "casedev": {"type": "casedev", "base_url": base_url, "api_key_file": str(key_file)}
        },
        "sinks": sinks,
        "targets": [
            {
                "name": "app-main",
                "provider": "casedev",
                "project": PROJECT,
                "sinks": bindings("app-main", "env"),
            },
            {
                "name": "app-main-pooled",
                "provider": "casedev",
                "project": PROJECT,
                "pooled": True,
                "sinks": bindings("app-main-pooled", "json"),
            },
            {
                "name": "app-feature",
                "provider": "casedev",
                "project": PROJECT,
                "branch": "feature-auth",
                "sinks": bindings("app-feature", "uri"),
            },
        ],
    }


@contextlib.contextmanager
def _mocked_aws() -> Iterator[bool]:
    try:
        from moto import mock_aws  # noqa: PLC0415 - optional: the demo works without moto
    except ImportError:
        yield False
        return
    saved = {
        k: os.environ.get(k)
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
    }
    # moto's fake account: the demo must never reach a real one.
    os.environ.update(AWS_ACCESS_KEY_ID="demo", AWS_SECRET_ACCESS_KEY="demo")  # noqa: S106
    os.environ.pop("AWS_SESSION_TOKEN", None)
    try:
        with mock_aws():
            yield True
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_demo(out: TextIO) -> int:
    """Run the three demo cycles, printing a masked report after each; 0 if all went as shown."""
    logs.configure("warning", "console")
    api_key = "demo_" + secrets.token_urlsafe(24)
    redaction.register(api_key, pinned=True)
    api = FakeCaseDev(api_key)
    project = DemoProject(api)
    with (
        tempfile.TemporaryDirectory(prefix="syncd-demo-") as tmp,
        api.serve() as server,
        _mocked_aws() as aws,
    ):
        key_file = Path(tmp) / "casedev_api_key"
        key_file.write_text(api_key + "\n", encoding="utf-8")
        key_file.chmod(0o600)
        directory = Path(tmp) / "secrets"
        cfg = config_mod.load(None, data=demo_config(server.base_url, key_file, directory, aws))
        out.write(
            f"syncd demo: case.dev-compatible API at {server.base_url}, file sink in {directory}"
            + (
                ", AWS Secrets Manager mocked in-process by moto\n"
                if aws
                else " (install moto for AWS)\n"
            )
        )
        steps = (
            ("1. first cycle: every secret is created", None, {"create"}),
            (
                "2. second cycle: nothing changed at the provider, nothing is written",
                None,
                {"unchanged"},
            ),
            (
                "3. main's password is rotated at the provider; the next cycle picks it up",
                "main",
                {"update", "unchanged"},
            ),
        )
        ok = True
        with Runtime.build(cfg) as runtime:
            engine = runtime.engine()
            for title, rotate, expected in steps:
                if rotate:
                    project.rotate(rotate)
                out.write(f"\n== {title}\n")
                report = engine.run_cycle(cfg.targets)
                print_report(report, out)
                ok = ok and report.ok and _actions(report) <= expected
            sample = directory / "app-main.env"
            masked = redaction.scrub(sample.read_text().strip())
            out.write(f"\n{sample.name} now holds (masked): {masked}\n")
    out.write("\ndemo " + ("finished: all cycles behaved as expected\n" if ok else "FAILED\n"))
    return 0 if ok else 1


def _actions(report: CycleReport) -> set[str]:
    return {str(s.action) for t in report.outcomes for s in t.sinks}
