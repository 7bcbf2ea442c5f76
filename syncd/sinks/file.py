"""A sink writing one file per secret into a local directory.

Useful for ``EnvironmentFile=`` consumers, for containers sharing a volume,
and as a store that needs no account (the demo uses it). Each secret is a file
of mode 0600 replaced atomically (temporary file, fsync, rename), so a reader
sees the old or the new document, never half of one. Ownership and the
fingerprint live in a hidden sidecar ``.<name>.syncd.json``; since the file is
local, drift is detected by hashing the file itself against that fingerprint.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import tempfile
import threading
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from syncd.errors import SinkAuthError, SinkConflict, SinkError
from syncd.fingerprint import Fingerprint
from syncd.models import SecretState
from syncd.sinks.base import (
    MANAGED_BY_KEY,
    MANAGED_BY_VALUE,
    TARGET_KEY,
    PreflightResult,
    WriteRequest,
)

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,254}")


class FileSinkConfig(BaseModel):
    """The ``sinks.<name>`` section for ``type: file``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["file"] = "file"
    directory: Path


class FileSink:
    """Keeps each secret in ``<directory>/<secret>`` with mode 0600."""

    config_model: ClassVar[type[BaseModel]] = FileSinkConfig

    def __init__(self, name: str, directory: Path) -> None:
        self.name = name
        self.directory = directory
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, name: str, config: Any) -> FileSink:
        """Build the sink; the directory is created (mode 0700) on first write."""
        assert isinstance(config, FileSinkConfig)  # noqa: S101 - the registry validated it
        return cls(name, config.directory)

    @classmethod
    def validate_secret_name(cls, secret: str) -> None:
        """Allow plain file names only, so no secret can escape the directory."""
        if not _NAME.fullmatch(secret) or secret in (".", ".."):
            raise ValueError(
                "file sink secrets are plain file names (letters, digits, '.', '_', '-'; "
                "not starting with '.')"
            )

    def inspect(self, secret: str) -> SecretState:
        """Report ownership and whether the file still holds what syncd wrote."""
        path = self._path(secret)
        try:
            content = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return SecretState.missing()
        except OSError as exc:
            raise self._os_error("read", secret, exc) from exc
        meta = self._read_meta(secret)
        managed = meta.get(MANAGED_BY_KEY) == MANAGED_BY_VALUE
        recorded = Fingerprint.decode(meta.get("fingerprint"))
        current = recorded if recorded is not None and recorded.matches(content) else None
        return SecretState(exists=True, managed=managed, fingerprint=current, version=None)

    def write(self, request: WriteRequest) -> str | None:
        """Replace the file atomically, then record ownership and fingerprint."""
        with self._lock:
            if not request.observed.exists and self._path(request.secret).exists():
                raise SinkConflict(
                    f"file sink {self.name}: {request.secret} appeared since it was inspected"
                )
            try:
                self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
                self._replace(self._path(request.secret), request.document.text)
                meta = {
                    MANAGED_BY_KEY: MANAGED_BY_VALUE,
                    TARGET_KEY: request.target,
                    "fingerprint": request.fingerprint.encode(),
                }
                self._replace(self._meta_path(request.secret), json.dumps(meta, indent=2) + "\n")
            except OSError as exc:
                raise self._os_error("write", request.secret, exc) from exc
        return None

    def close(self) -> None:
        """Nothing to release."""

    def _path(self, secret: str) -> Path:
        return self.directory / secret

    def _meta_path(self, secret: str) -> Path:
        return self.directory / f".{secret}.syncd.json"

    def _read_meta(self, secret: str) -> dict[str, Any]:
        try:
            meta = json.loads(self._meta_path(secret).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return meta if isinstance(meta, dict) else {}

    def _replace(self, path: Path, text: str) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            Path(tmp).replace(path)
        except BaseException:
            with contextlib.suppress(OSError):
                Path(tmp).unlink()
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _os_error(self, verb: str, secret: str, exc: OSError) -> SinkError:
        where = f"file sink {self.name}: cannot {verb} {self.directory / secret}"
        if isinstance(exc, PermissionError):
            return SinkAuthError(f"{where}: permission denied")
        return SinkError(f"{where}: {exc.strerror}")

    def preflight(self, secret: str, state: SecretState) -> PreflightResult:
        """Check the directory a write needs: present (or creatable), a directory, writable.

        Only the last level of a missing directory is created by a run, so a
        missing parent is a problem (a typo'd path must not go unnoticed).
        Writability is tried, not guessed (see :func:`_unwritable`).
        """
        directory = self.directory
        if directory.is_dir():
            problem = _unwritable(directory)
            return PreflightResult(problems=(problem,) if problem else ())
        if directory.exists() or directory.is_symlink():
            return PreflightResult(problems=(f"{directory} exists but is not a directory",))
        parent = directory.parent
        if not parent.is_dir():
            return PreflightResult(
                problems=(
                    f"directory {directory} does not exist, nor does its parent {parent}; "
                    "create it first (syncd creates only the last level)",
                )
            )
        problem = _unwritable(parent)
        if problem:
            return PreflightResult(
                problems=(f"directory {directory} does not exist and cannot be created: {problem}",)
            )
        return PreflightResult(notes=(f"would create directory {directory}",))


def _unwritable(directory: Path) -> str | None:
    """Why files cannot be created in ``directory``, or None when they can.

    ``os.access`` answers yes to root everywhere but on a read-only mount, so
    after it an empty ``.syncd-check-*`` file is created and removed at once:
    the only thing written, and never a secret.
    """
    try:
        read_only = bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
    except OSError as exc:
        return f"cannot inspect directory {directory}: {exc.strerror}"
    if read_only:
        return f"directory {directory} is on a read-only file system"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"directory {directory} is not writable by this process (uid {os.geteuid()})"
    probe = directory / f".syncd-check-{secrets.token_hex(4)}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        return f"cannot create files in directory {directory}: {exc.strerror}"
    os.close(fd)
    with contextlib.suppress(OSError):
        probe.unlink()
    return None
