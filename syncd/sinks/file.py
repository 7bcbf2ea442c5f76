"""A sink writing one file per secret into a local directory.

Useful for ``EnvironmentFile=`` consumers, for containers sharing a volume,
and as a store that needs no account (the demo uses it). Each secret is a file
of mode 0600 replaced atomically (temporary file, fsync, rename), so a reader
sees the old or the new document, never half of one. Ownership, the owner,
the fingerprint and the last rotation (``rotated_at``, ``role``; kept by
writes that carry no new mark) live in a hidden sidecar ``.<name>.syncd.json``;
since the file is local, drift is detected by hashing the file itself against it.

A write is three atomic replacements, ordered so that a crash (kill -9, a
full disk) at any point converges on the next run:

1. the sidecar, claiming the secret and naming the ``pending`` fingerprint;
2. the data file;
3. the sidecar again, with ``pending`` promoted to ``fingerprint``.

After 1 only, the sidecar says the secret is ours: a missing data file is
created, an old one is an update. After 2, the data file matches ``pending``
and counts as ours. A data file is never left without a sidecar naming
syncd, so no crash strands it as "not managed by syncd". Temporary files
(they hold credentials) left by a crash are removed by the next inspection.

``inspect`` opens files with ``O_NOFOLLOW | O_NONBLOCK`` and reads regular
files only, at most :data:`MAX_DOCUMENT` bytes: a symlink, FIFO or device
planted at a secret's path is refused, never read through.

Why one module: the write order above, the rotation lease and the removal of a
crash's temporary files share one directory, one naming scheme and one lock;
apart, each would reach into the others' private paths.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

import structlog

from syncd import localfile
from syncd.config.strict import PluginConfig
from syncd.core.fingerprint import Fingerprint
from syncd.core.lease import Lease, Record
from syncd.core.models import SecretState
from syncd.errors import SinkAuthError, SinkConflict, SinkError
from syncd.net import untrusted
from syncd.sinks.base import PreflightResult, SinkFactory, WriteRequest
from syncd.sinks.metadata import MetadataCodec

log = structlog.get_logger(__name__)

#: Longest file name most filesystems accept (NAME_MAX).
NAME_MAX = 255
#: What the longest name syncd creates adds to a secret's: ``..<name>.syncd.json.XXXXXXXX.tmp``.
_OVERHEAD = len("..") + len(".syncd.json") + len(".XXXXXXXX.tmp")
MAX_NAME = NAME_MAX - _OVERHEAD
#: A document syncd writes is a few hundred bytes; a bigger file is not one of them.
MAX_DOCUMENT = 1024 * 1024
_MAX_SIDECAR = 64 * 1024
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
OWNER = "owner"
FINGERPRINT = "fingerprint"
PENDING = "pending"
ROTATED_AT = "rotated_at"
ROLE = "role"
#: The sidecar's keys (older releases' names, kept) for what every sink records.
_CODEC = MetadataCodec(owner=OWNER, fingerprint=FINGERPRINT, rotated_at=ROTATED_AT, role=ROLE)


class FileSinkConfig(PluginConfig):
    """The ``sinks.<name>`` section for ``type: file``."""

    type: Literal["file"] = "file"
    directory: Path


class FileSink:
    """Keeps each secret in ``<directory>/<secret>`` with mode 0600."""

    config_model: ClassVar[type[FileSinkConfig]] = FileSinkConfig

    def __init__(
        self,
        name: str,
        directory: Path,
        *,
        on_step: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``on_step`` is called after each step of a write (crash tests kill the process there).

        Steps: ``intent``, ``data``, ``commit``, each preceded by ``<step>:staged``
        (its temporary file is complete, not yet renamed).
        """
        self.name = name
        self.directory = directory
        self._on_step = on_step
        self._started = clock()
        self._lock = threading.Lock()
        #: Temporary files crashed runs left, by secret (listed at the first inspect).
        self._leftovers: dict[str, list[str]] | None = None

    @classmethod
    def from_config(cls, name: str, config: FileSinkConfig) -> FileSink:
        """Build the sink; the directory's last level is created (mode 0700) on first write."""
        return cls(name, config.directory)

    @classmethod
    def validate_secret_name(cls, secret: str) -> None:
        """Allow plain file names only, short enough that the sidecar's temporary file fits too."""
        if not _NAME.fullmatch(secret) or secret in (".", ".."):
            raise ValueError(
                "file sink secrets are plain file names (letters, digits, '.', '_', '-'; "
                "not starting with '.')"
            )
        if len(secret) > MAX_NAME:
            raise ValueError(
                f"file sink secret names are at most {MAX_NAME} characters, so that the "
                f"sidecar .<name>.syncd.json and its temporary file fit in {NAME_MAX} bytes"
            )

    def inspect(self, secret: str) -> SecretState:
        """Report ownership, the owner and whether the file still holds what syncd wrote."""
        with self._lock:
            self._remove_leftovers(secret)
            meta = self._read_meta(secret)
            try:
                content = self._read(self._path(secret), MAX_DOCUMENT)
            except FileNotFoundError:
                return SecretState.missing()
            except localfile.NotRegular as exc:
                raise self._refusal(secret, str(exc)) from None
            except OSError as exc:
                raise self._os_error("read", secret, exc) from exc
        current = None
        if content is not None:
            # The committed fingerprint, or the pending one of a write that crashed after step 2.
            for key in (FINGERPRINT, PENDING):
                recorded = Fingerprint.decode(_text(meta.get(key)))
                if recorded is not None and recorded.matches(content):
                    current = recorded
                    break
        return dataclasses.replace(_CODEC.decode(meta), fingerprint=current)

    def write(self, request: WriteRequest) -> str | None:
        """Claim in the sidecar, replace the data file, then commit the fingerprint."""
        path = self._path(request.secret)
        with self._lock:
            if not request.observed.exists and os.path.lexists(path):
                raise SinkConflict(
                    f"file sink {self.name}: {request.secret} appeared since it was inspected"
                )
            self._ensure_directory()
            committed = _CODEC.encode(request, self._recorded(request))
            intent = {**committed, PENDING: request.fingerprint.encode()}
            del intent[FINGERPRINT]
            if request.observed.fingerprint is not None:  # still true of the old data file
                intent[FINGERPRINT] = request.observed.fingerprint.encode()
            sidecar = self._meta_path(request.secret)
            try:
                self._replace(sidecar, _dump(intent), "intent")
                self._replace(path, request.document.text, "data")
                self._replace(sidecar, _dump(committed), "commit")
            except OSError as exc:
                raise self._os_error("write", request.secret, exc) from exc
        return None

    def close(self) -> None:
        """Nothing to release."""

    # -- the rotation lease (syncd.sinks.base.Leaser) ------------------------

    def read_lease(self, secret: str) -> Record | None:
        """The lease file ``.<secret>.syncd.lock``; its text is the compare-and-set token."""
        text = self._lease_text(secret)
        if text is None:
            return None
        return Record(text, _lease_of(text))

    def take_lease(self, secret: str, lease: Lease, replacing: Record | None) -> Record:
        """Replace the lease file if it still reads as ``replacing`` (absent: None).

        Compare and replace happen under an exclusive ``flock`` of the
        directory's ``.syncd.flock``, which the kernel drops when a holder
        dies, so no crash leaves the directory locked.
        """
        text = _dump({"lease": lease.encode()})
        with self._lease_lock():
            if self._lease_text(secret) != (replacing.token if replacing else None):
                raise SinkConflict(
                    f"file sink {self.name}: the rotation lease of {secret} changed since "
                    "it was read (another run took it)"
                )
            try:
                self._replace(self._lease_path(secret), text, "lease")
            except OSError as exc:
                raise self._os_error("write", self._lease_path(secret).name, exc) from exc
        return Record(text, lease)

    def release_lease(self, secret: str, held: Record) -> None:
        """Delete the lease file if it still reads as ``held``."""
        with self._lease_lock():
            if self._lease_text(secret) == held.token:
                with contextlib.suppress(FileNotFoundError):
                    self._lease_path(secret).unlink()

    def _lease_path(self, secret: str) -> Path:
        return self.directory / f".{secret}.syncd.lock"

    def _lease_text(self, secret: str) -> str | None:
        """The lease file's text; None when absent (a refused file is a SinkError)."""
        name = self._lease_path(secret).name
        try:
            text = self._read(self._lease_path(secret), _MAX_SIDECAR)
        except FileNotFoundError:
            return None
        except localfile.NotRegular as exc:
            raise self._refusal(name, str(exc)) from None
        except OSError as exc:
            raise self._os_error("read", name, exc) from exc
        return text if text is not None else ""

    @contextlib.contextmanager
    def _lease_lock(self) -> Iterator[None]:
        self._ensure_directory()
        lock = self.directory / ".syncd.flock"
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(lock, flags, 0o600)
        except OSError as exc:
            raise self._os_error("open", lock.name, exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # drops the lock

    def _recorded(self, request: WriteRequest) -> dict[str, Any]:
        """The sidecar a write replaces, for the rotation mark it keeps (none: not read)."""
        if request.rotation is not None:
            return {}
        try:
            return self._read_meta(request.secret)
        except SinkError:
            return {}  # a refused sidecar is replaced by this write; it held no mark of ours

    def _path(self, secret: str) -> Path:
        return self.directory / secret

    def _meta_path(self, secret: str) -> Path:
        return self.directory / f".{secret}.syncd.json"

    def _step(self, name: str) -> None:
        if self._on_step is not None:
            self._on_step(name)

    def _ensure_directory(self) -> None:
        """Create the directory's last level only: a typo'd parent must not appear silently."""
        try:
            self.directory.mkdir(mode=0o700)
        except FileExistsError:
            return
        except FileNotFoundError:
            raise SinkError(
                f"file sink {self.name}: cannot create directory {self.directory}: its parent "
                f"{self.directory.parent} does not exist (create it, or fix sinks.{self.name}"
                ".directory)"
            ) from None
        except OSError as exc:
            raise self._os_error("create directory", "", exc) from exc
        log.info("directory_created", sink=self.name, path=str(self.directory))

    def _read_meta(self, secret: str) -> dict[str, Any]:
        """The sidecar's content; {} when absent or not syncd's JSON (i.e. unmanaged)."""
        try:
            content = self._read(self._meta_path(secret), _MAX_SIDECAR)
        except FileNotFoundError:
            return {}
        except localfile.NotRegular as exc:
            raise self._refusal(f".{secret}.syncd.json", str(exc)) from None
        except OSError as exc:
            raise self._os_error("read", f".{secret}.syncd.json", exc) from exc
        if content is None:
            return {}
        try:
            meta = untrusted.loads(content)  # deep nesting reads as not ours, too
        except ValueError:
            return {}
        return meta if isinstance(meta, dict) else {}

    @staticmethod
    def _read(path: Path, limit: int) -> str | None:
        """Read a regular file without following links or blocking; None if not UTF-8 or too big.

        Raises FileNotFoundError, :class:`~syncd.localfile.NotRegular` (a
        symlink, FIFO, device or directory) or another OSError.
        """
        content = localfile.read(path, limit)
        if content is None:
            return None  # cannot be a document syncd wrote: drift if ours, refused if not
        try:
            return content.decode("utf-8")
        except UnicodeDecodeError:
            return None  # not syncd's text either

    def _remove_leftovers(self, secret: str) -> None:
        """Delete temporary files of ``secret`` that a crashed run left (they hold credentials).

        Only a run before this sink was made can have left one (writes hold
        the lock), so the directory is listed once, at the first inspect, not
        once per secret: a cycle of N secrets then costs one listing, not N.
        """
        if self._leftovers is None:
            self._leftovers = _leftovers_in(self.directory)
        for name in self._leftovers.pop(secret, ()):
            with contextlib.suppress(OSError):
                path = self.directory / name
                # Older than this sink: no write of this process made it.
                if path.lstat().st_mtime < self._started:
                    path.unlink()
                    log.info("leftover_removed", sink=self.name, secret=secret, file=name)

    def _replace(self, path: Path, text: str, step: str) -> None:
        """Atomically replace ``path``; ``step`` names the crash points for :attr:`_on_step`."""
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            self._step(f"{step}:staged")
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
        self._step(step)

    def _refusal(self, name: str, reason: str) -> SinkError:
        return SinkError(
            f"file sink {self.name}: {self.directory / name} {reason}; syncd does not read "
            "through it - remove it, or choose another secret name"
        )

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


def _lease_of(text: str) -> Lease | None:
    try:
        document = untrusted.loads(text)
    except ValueError:
        return None
    encoded = document.get("lease") if isinstance(document, dict) else None
    return Lease.decode(encoded if isinstance(encoded, str) else None)


#: Temporary files of a write: the document's (a secret never starts with "."), and
#: its metadata's or lock's.
_DATA_TMP = re.compile(r"\.([^.].*)\.[a-z0-9_]{8}\.tmp")
_META_TMP = re.compile(r"\.\.(.+)\.syncd\.(?:json|lock)\.[a-z0-9_]{8}\.tmp")


def _leftovers_in(directory: Path) -> dict[str, list[str]]:
    """The temporary files of writes in ``directory``, by secret ({} when it cannot be listed)."""
    found: dict[str, list[str]] = {}
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return found  # no directory yet, or unreadable: inspect reports the latter
    for entry in entries:
        match = _META_TMP.fullmatch(entry.name) or _DATA_TMP.fullmatch(entry.name)
        if match is not None:
            found.setdefault(match[1], []).append(entry.name)
    return found


def _dump(meta: dict[str, Any]) -> str:
    return json.dumps(meta, indent=2) + "\n"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


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


#: mypy checks the plugin's shape here, as a third-party plugin author would.
_FACTORY: SinkFactory[FileSinkConfig] = FileSink
