"""A third-party sink: keeps secrets as files, written with syncd's public helpers only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from syncd.fingerprint import Fingerprint
from syncd.models import SecretState
from syncd.sinks.base import WriteRequest


class EchoConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = "echo"
    directory: Path


class EchoSink:
    config_model: ClassVar[type[BaseModel]] = EchoConfig

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @classmethod
    def from_config(cls, name: str, config: Any) -> EchoSink:
        return cls(config.directory)

    @classmethod
    def validate_secret_name(cls, secret: str) -> None:
        if "/" in secret:
            raise ValueError("no slashes")

    def inspect(self, secret: str) -> SecretState:
        path = self.directory / f"{secret}.json"
        if not path.exists():
            return SecretState.missing()
        stored = json.loads(path.read_text())
        return SecretState(True, True, Fingerprint.decode(stored["fingerprint"]), None)

    def write(self, request: WriteRequest) -> str | None:
        self.directory.mkdir(parents=True, exist_ok=True)
        stored = {"fingerprint": request.fingerprint.encode(), "value": request.document.text}
        (self.directory / f"{request.secret}.json").write_text(json.dumps(stored))
        return None

    def close(self) -> None:
        pass
