"""A third-party syncd sink: one JSON file per secret, written against ``syncd.plugin`` only.

Each secret is ``<directory>/<secret>.json``, holding ``{"value": ..., "meta":
{...}}``: the document consumers read and the metadata syncd records with it
(ownership, owner, fingerprint, rotation mark), encoded by syncd's
``MetadataCodec``. The file is replaced atomically (temporary file, fsync,
rename), so value and metadata always change together.

Writes are compare-and-set: the version :meth:`EchoSink.inspect` reports is a
digest of the file's bytes, and :meth:`EchoSink.write` checks it again under an
exclusive ``flock`` of ``<directory>/.echo.lock`` before replacing the file.
A concurrent writer (another thread, another syncd, someone editing the file)
is detected as a conflict instead of being overwritten.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

from syncd.plugin import (
    MetadataCodec,
    PluginConfig,
    SecretState,
    SinkAuthError,
    SinkConflict,
    SinkError,
    SinkFactory,
    WriteRequest,
)

CODEC = MetadataCodec()
#: A document is a few hundred bytes; a file larger than this is not one of ours.
MAX_FILE = 1024 * 1024
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,199}")


class EchoConfig(PluginConfig):
    """The ``sinks.<name>`` section for ``type: echo``."""

    type: Literal["echo"] = "echo"
    directory: Path


class EchoSink:
    """Keeps each secret and its metadata in ``<directory>/<secret>.json``."""

    config_model: ClassVar[type[EchoConfig]] = EchoConfig

    def __init__(self, name: str, directory: Path) -> None:
        self.name = name
        self.directory = directory

    @classmethod
    def from_config(cls, name: str, config: EchoConfig) -> EchoSink:
        """Build the sink; the directory is created on the first write."""
        return cls(name, config.directory)

    @classmethod
    def validate_secret_name(cls, secret: str) -> None:
        """Allow plain file names only."""
        if not _NAME.fullmatch(secret):
            raise ValueError("echo secrets are plain file names (letters, digits, '.', '_', '-')")

    def inspect(self, secret: str) -> SecretState:
        """The recorded metadata, checked against the value the file holds now."""
        raw = self._read(secret)
        if raw is None:
            return SecretState.missing()
        value, meta = _parse(raw)
        return CODEC.decode(meta, value=value, version=_version(raw))

    def write(self, request: WriteRequest) -> str | None:
        """Replace the file if it is still what was inspected; return the new version."""
        with self._locked():
            current = self._read(request.secret)
            if (None if current is None else _version(current)) != request.observed.version:
                raise SinkConflict(
                    f"echo sink {self.name}: {request.secret} changed since it was inspected"
                )
            recorded = _parse(current)[1] if current is not None else {}
            record = {"value": request.document.text, "meta": CODEC.encode(request, recorded)}
            raw = json.dumps(record, indent=2).encode()
            try:
                self._replace(self._path(request.secret), raw)
            except OSError as exc:
                raise self._error("write", request.secret, exc) from exc
        return _version(raw)

    def close(self) -> None:
        """Nothing to release."""

    def _path(self, secret: str) -> Path:
        return self.directory / f"{secret}.json"

    def _read(self, secret: str) -> bytes | None:
        """The file's bytes (None: no such secret); never through a symlink."""
        try:
            fd = os.open(self._path(secret), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._error("read", secret, exc) from exc
        with os.fdopen(fd, "rb") as handle:
            return handle.read(MAX_FILE + 1)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.directory / ".echo.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise self._error("lock", ".echo.lock", exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _replace(self, path: Path, raw: bytes) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(raw)
                handle.flush()
                os.fsync(handle.fileno())
            Path(tmp).replace(path)
        except BaseException:
            with contextlib.suppress(OSError):
                Path(tmp).unlink()
            raise

    def _error(self, verb: str, secret: str, exc: OSError) -> SinkError:
        where = f"echo sink {self.name}: cannot {verb} {secret} in {self.directory}"
        if isinstance(exc, PermissionError):
            return SinkAuthError(f"{where}: permission denied")
        return SinkError(f"{where}: {exc.strerror}")


def _parse(raw: bytes) -> tuple[str, dict[str, Any]]:
    """The value and metadata of a file; anything not in our shape reads as ("", {})."""
    if len(raw) > MAX_FILE:
        return "", {}
    try:
        record = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than Python parses
        return "", {}
    if not isinstance(record, dict) or not isinstance(record.get("value"), str):
        return "", {}
    meta = record.get("meta")
    return record["value"], meta if isinstance(meta, dict) else {}


def _version(raw: bytes) -> str:
    """The compare-and-set token: any change to the file, by anyone, changes it."""
    return hashlib.sha256(raw).hexdigest()[:32]


#: mypy checks the plugin's shape against syncd's, as it does for the built-ins.
factory: SinkFactory[EchoConfig] = EchoSink
