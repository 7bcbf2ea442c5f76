"""A sample case.dev project and a syncd config for it, with no account anywhere.

``syncd demo`` and the standalone stand-in (``python -m syncd.testing.casedev``)
serve the same data: project :data:`PROJECT` with the branches :data:`BRANCHES`,
whose Neon-style URIs point at hosts under ``.demo.invalid`` (nothing can
connect to them). :func:`sample_config` is a configuration that syncs them:
three targets (main direct, main pooled, the feature branch) into the file
sink, and into AWS Secrets Manager as well when asked.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncd import redaction

if TYPE_CHECKING:
    from syncd.testing.casedev import FakeCaseDev

PROJECT = "proj_demo123"
BRANCHES = ("main", "feature-auth")


class SampleProject:
    """Generates Neon-style URIs for the sample branches and rotates their passwords."""

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


def sample_config(
    base_url: str, directory: Path, *, key_file: Path | None = None, with_aws: bool = False
) -> dict[str, Any]:
    """Three targets into the file sink in ``directory`` (and AWS, ``with_aws``).

    The provider reads its API key from ``key_file``, or without one from
    ``CASEDEV_API_KEY``.
    """

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
    provider: dict[str, Any] = {"type": "casedev", "base_url": base_url}
    if key_file is not None:
        provider["api_key_file"] = str(key_file)
    return {
        "providers": {"casedev": provider},
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
