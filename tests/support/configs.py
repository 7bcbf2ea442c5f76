"""Writing syncd config files for tests: one builder instead of a dict per test file.

A test says what differs from a small valid config (its providers, sinks,
targets and settings) and gets a path to YAML that ``syncd --config`` reads.
Everything is plain data, so a test can still write a deliberately broken key
through :meth:`ConfigBuilder.set`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import yaml


def binding(sink: str, secret: str, **fields: Any) -> dict[str, Any]:
    """One entry of a target's ``sinks:`` list."""
    return {"sink": sink, "secret": secret, **fields}


def target(
    name: str,
    bindings: Iterable[Mapping[str, Any]],
    *,
    project: str = "proj_1",
    provider: str = "casedev",
    **fields: Any,
) -> dict[str, Any]:
    """One entry of ``targets:``."""
    return {
        "name": name,
        "provider": provider,
        "project": project,
        "sinks": [dict(b) for b in bindings],
        **fields,
    }


@dataclass
class ConfigBuilder:
    """A syncd config under construction, written as YAML into ``directory``."""

    directory: Path
    #: JSON logs at this level; ``None`` leaves ``log:`` out (syncd's defaults).
    log_level: str | None = "warning"
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.log_level is not None:
            self.data.setdefault("log", {"level": self.log_level, "format": "json"})
        self.data.setdefault("providers", {})
        self.data.setdefault("sinks", {})
        self.data.setdefault("targets", [])

    def provider(self, name: str, type_: str, **options: Any) -> Self:
        self.data["providers"][name] = {"type": type_, **options}
        return self

    def casedev(self, base_url: str, name: str = "casedev", **options: Any) -> Self:
        """A case.dev provider at ``base_url`` (a stand-in server's)."""
        return self.provider(name, "casedev", base_url=base_url, **options)

    def sink(self, name: str, type_: str, **options: Any) -> Self:
        self.data["sinks"][name] = {"type": type_, **options}
        return self

    def file_sink(self, name: str = "local", directory: Path | None = None, **options: Any) -> Self:
        """A file sink, by default into ``<directory>/out``."""
        out = directory if directory is not None else self.directory / "out"
        return self.sink(name, "file", directory=str(out), **options)

    def aws_sink(self, name: str = "aws", region: str = "us-east-1", **options: Any) -> Self:
        return self.sink(name, "aws-secrets-manager", region=region, **options)

    def target(self, name: str, bindings: Iterable[Mapping[str, Any]], **fields: Any) -> Self:
        """Add a target (see :func:`target` for the fields it defaults)."""
        self.data["targets"].append(target(name, bindings, **fields))
        return self

    def targets(self, entries: Iterable[Mapping[str, Any]]) -> Self:
        """Add targets written out whole."""
        self.data["targets"].extend(dict(t) for t in entries)
        return self

    def set(self, **settings: Any) -> Self:
        """Set top-level keys (``defaults=``, ``metrics=``, ``concurrency=``…), replacing any."""
        self.data.update(settings)
        return self

    def write(self, name: str = "syncd.yaml") -> Path:
        path = self.directory / name
        path.write_text(yaml.safe_dump(self.data, sort_keys=False))
        return path


def offline_config(path: Path, targets: Iterable[Mapping[str, Any]], **settings: Any) -> Path:
    """A daemon config whose case.dev (``cd``) and file sink (``mem``) are never reached.

    For tests that load it and then build the runtime by hand with fakes; every
    target defaults to a 10-minute interval without jitter, and metrics are off.
    """
    return (
        ConfigBuilder(path.parent, log_level=None)
        .set(metrics={"enabled": False})
        .casedev("http://127.0.0.1:9", name="cd")
        .file_sink("mem", directory=Path("/nonexistent"))
        .set(defaults={"interval": "10m", "jitter": "0s"})
        .targets(targets)
        .set(**settings)
        .write(path.name)
    )
