"""``syncd demo``: syncd end to end with no cloud account.

A case.dev-compatible server (:mod:`syncd.testing.casedev`) runs on loopback
with the sample project of :mod:`syncd.testing.sample` and its three targets
— main direct, main pooled, a feature branch — synced into the file sink and,
when moto is installed, into AWS Secrets Manager mocked in-process. Three
cycles show creation, a cycle that changes nothing, and a credential rotation
at the provider being picked up. Everything it creates is removed at exit.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from syncd import logs, redaction
from syncd.config import settings as config_mod
from syncd.core.engine import CycleReport
from syncd.core.report import print_report
from syncd.core.runtime import Runtime
from syncd.testing.casedev import FakeCaseDev
from syncd.testing.sample import SampleProject, sample_config


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
    project = SampleProject(api)
    with (
        tempfile.TemporaryDirectory(prefix="syncd-demo-") as tmp,
        api.serve() as server,
        _mocked_aws() as aws,
    ):
        key_file = Path(tmp) / "casedev_api_key"
        key_file.write_text(api_key + "\n", encoding="utf-8")
        key_file.chmod(0o600)
        directory = Path(tmp) / "secrets"
        data = {
            "log": {"level": "warning", "format": "console"},
            **sample_config(server.base_url, directory, key_file=key_file, with_aws=aws),
        }
        cfg = config_mod.load(None, data=data)
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
