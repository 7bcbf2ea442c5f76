"""A minimal config, as data and as YAML text, and helpers to load it and read its error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from syncd.config import settings as config
from syncd.errors import ConfigError

MINIMAL: dict[str, Any] = {
    "providers": {"casedev": {"type": "casedev"}},
    "sinks": {"local": {"type": "file", "directory": "/tmp/x"}},
    "targets": [
        {
            "name": "app",
            "provider": "casedev",
            "project": "proj_1",
            "sinks": [{"sink": "local", "secret": "app.env"}],
        }
    ],
}


BASE = """\
providers:
  casedev:
    type: casedev
sinks:
  local:
    type: file
    directory: /tmp/x
targets:
  - name: app
    provider: casedev
    project: p1
    sinks:
      - sink: local
        secret: app.env
"""


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "syncd.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def error_of(tmp_path: Path, data: Any) -> str:
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        config.load(path)
    message = str(info.value)
    assert str(path) in message
    return message


def with_target(**changes: Any) -> dict[str, Any]:
    data = yaml.safe_load(yaml.safe_dump(MINIMAL))
    data["targets"][0].update(changes)
    return data
