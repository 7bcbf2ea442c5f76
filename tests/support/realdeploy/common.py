"""Prerequisite checks, subprocess calls with deadlines, and the cache location."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
CACHE = Path(os.environ.get("REALDEPLOY_CACHE", "/var/cache/syncd-ci"))


def in_ci() -> bool:
    """Whether this is a CI run, where the real-deployment proofs must not skip."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> None:
    """Skip the test for ``reason``, or fail it under ``CI=true``."""
    if in_ci():
        pytest.fail(f"CI=true but the real-deployment test cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def require(*, root: bool = True, tools: Sequence[str] = ()) -> None:
    """Skip (or fail under CI) unless running as root with every tool on PATH."""
    if root and os.geteuid() != 0:
        unavailable("needs root (CI runs .ci/run as root)")
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        unavailable(f"not installed: {', '.join(missing)} (.ci/run installs them with apt)")


class CommandFailed(AssertionError):
    """A helper command failed or timed out; the message has its output."""


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    check: bool = True,
    input_text: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to completion within ``timeout`` seconds, capturing its output."""
    try:
        result = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            input=input_text,
            env=env,
            stdin=None if input_text is not None else subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise CommandFailed(
            f"timed out after {timeout:.0f}s: {shlex.join(argv)}\n"
            f"stdout: {_text(exc.stdout)[-4000:]}\nstderr: {_text(exc.stderr)[-4000:]}"
        ) from None
    if check and result.returncode != 0:
        raise CommandFailed(
            f"exit {result.returncode}: {shlex.join(argv)}\n"
            f"stdout: {result.stdout[-4000:]}\nstderr: {result.stderr[-4000:]}"
        )
    return result


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode(errors="replace")


def wait_for(what: str, probe: Callable[[], object], *, timeout: float, every: float = 0.2) -> object:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
        time.sleep(every)


def digest(*parts: str | bytes | Path) -> str:
    """A short hash of strings, bytes and file contents: a cache key."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            h.update(part.read_bytes())
        elif isinstance(part, str):
            h.update(part.encode())
        else:
            h.update(part)
        h.update(b"\0")
    return h.hexdigest()[:16]


@contextlib.contextmanager
def cache_lock(name: str) -> Iterator[None]:
    """Serialise cache builds between concurrent test runs on one machine."""
    CACHE.mkdir(parents=True, exist_ok=True, mode=0o700)
    with (CACHE / f".{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prune(prefix: str, keep: str) -> None:
    """Delete older cache entries ``<prefix>-*`` other than ``keep``."""
    for old in CACHE.glob(f"{prefix}-*"):
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)


def record_time(what: str, seconds: float) -> None:
    """Append how long an expensive step took to ``$REALDEPLOY_CACHE/timings.log``."""
    CACHE.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with (CACHE / "timings.log").open("a") as log:
        log.write(f"{stamp} {seconds:7.1f}s {what}\n")
