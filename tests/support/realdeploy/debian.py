"""Debian bookworm root file systems built with mmdebstrap from the host's mirror.

The mirror is read from the host's apt configuration at run time (never
hard-coded), so the build uses whatever mirror or snapshot this machine uses.
Hosts behind a TLS-inspecting proxy have its CA in
``/usr/local/share/ca-certificates``; those certificates are copied into the
root file system so that ``pip`` inside it trusts the proxy too.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.realdeploy.common import (
    CACHE,
    REPO,
    CommandFailed,
    cache_lock,
    digest,
    prune,
    record_time,
    run,
)

SUITE = "bookworm"
SOURCES = Path("/etc/apt/sources.list")
SOURCE_PARTS = Path("/etc/apt/sources.list.d")
LOCAL_CAS = Path("/usr/local/share/ca-certificates")
BUILD_TIMEOUT = 600.0


@dataclass(frozen=True)
class AptSource:
    """One ``deb URI SUITE`` line of the host's apt configuration (main only)."""

    uri: str
    suite: str

    def line(self) -> str:
        """The source as a one-line entry, the form mmdebstrap accepts as a mirror."""
        return f"deb {self.uri} {self.suite} main"


def host_sources(suite: str = SUITE) -> list[AptSource]:
    """The host's Debian sources for ``suite`` and its -updates and -security suites."""
    found: list[AptSource] = []
    files = [SOURCES] if SOURCES.exists() else []
    if SOURCE_PARTS.is_dir():
        files += sorted(p for p in SOURCE_PARTS.iterdir() if p.suffix in {".list", ".sources"})
    for path in files:
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":
            found += _deb822(text)
        else:
            found += _one_line(text)
    wanted = {suite, f"{suite}-updates", f"{suite}-security"}
    unique = dict.fromkeys(s for s in found if s.suite in wanted)
    if not any(s.suite == suite for s in unique):
        raise CommandFailed(f"no apt source for Debian {suite} in {SOURCES} or {SOURCE_PARTS}")
    return list(unique)


def _one_line(text: str) -> list[AptSource]:
    sources = []
    for raw in text.splitlines():
        line = re.sub(r"\[[^]]*\]", " ", raw.split("#", 1)[0]).split()
        if len(line) >= 4 and line[0] == "deb" and "main" in line[3:]:
            sources.append(AptSource(line[1].rstrip("/"), line[2]))
    return sources


def _deb822(text: str) -> list[AptSource]:
    sources = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = ""
        for raw in stanza.splitlines():
            if raw.startswith("#") or not raw.strip():
                continue
            if raw[0].isspace() and key:
                fields[key] += " " + raw.strip()
            elif ":" in raw:
                key, value = raw.split(":", 1)
                key = key.strip().lower()
                fields[key] = value.strip()
        if fields.get("enabled", "yes").lower() == "no":
            continue
        if "deb" not in fields.get("types", "").split():
            continue
        if "main" not in fields.get("components", "").split():
            continue
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                sources.append(AptSource(uri.rstrip("/"), suite))
    return sources


def local_cas() -> list[Path]:
    """The host's locally added CA certificates (a TLS-inspecting proxy's, say)."""
    if not LOCAL_CAS.is_dir():
        return []
    return sorted(p for p in LOCAL_CAS.rglob("*.crt") if p.is_file())


def cached_rootfs(
    name: str,
    packages: list[str],
    *,
    customize: Sequence[str] = (),
    inputs: Sequence[Path] = (),
    tarball: bool = False,
) -> Path:
    """A root file system (directory, or tar with ``tarball``), built once per set of inputs.

    The key hashes the package list, the apt sources, the local CAs, the
    customize hook commands and the contents of ``inputs`` (files the hooks
    read). A build that fails is retried once (a mirror hiccup), then the
    error names the step and its output.
    """
    sources = host_sources()
    cas = local_cas()
    key = digest(
        "v1",
        " ".join(packages),
        *(s.line() for s in sources),
        *cas,
        # Hooks name files in the checkout: the clone's path must not change the key.
        *(hook.replace(str(REPO), "<repo>") for hook in customize),
        *inputs,
        str(tarball),
    )
    entry = f"{name}-{key}"
    target = CACHE / (entry + (".tar" if tarball else ""))
    with cache_lock(name):
        if target.exists():
            return target
        last: CommandFailed | None = None
        started = time.monotonic()
        for attempt in (1, 2):
            try:
                _build(target, packages, sources, cas, customize, tarball=tarball)
                break
            except CommandFailed as exc:
                last = exc
                time.sleep(5 * attempt)
        else:
            raise CommandFailed(f"mmdebstrap failed twice building {entry}:\n{last}")
        prune(name, target.name)
        record_time(f"mmdebstrap {entry}", time.monotonic() - started)
    return target


def _build(
    target: Path,
    packages: list[str],
    sources: list[AptSource],
    cas: list[Path],
    customize: Sequence[str],
    *,
    tarball: bool,
) -> None:
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        out = scratch / ("root.tar" if tarball else "root")
        hooks = []
        if cas:
            hooks.append(f'mkdir -p "$1{LOCAL_CAS}"')
            hooks += [f'cp {ca} "$1{LOCAL_CAS}/"' for ca in cas]
            hooks.append('chroot "$1" update-ca-certificates --fresh >/dev/null')
        hooks += customize
        argv = [
            "mmdebstrap",
            "--mode=root",
            "--variant=minbase",
            "--quiet",
            f"--include={','.join(packages)}",
            "--aptopt=Acquire::Retries \"3\"",
            *(f"--customize-hook={hook}" for hook in hooks),
            SUITE,
            str(out),
            *(s.line() for s in sources),
        ]
        run(argv, timeout=BUILD_TIMEOUT)
        out.rename(target)
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", str(scratch)], check=False)


def copy_tree(source: Path, dest: Path) -> None:
    """Copy a root file system, keeping owners, modes and hard links."""
    run(["cp", "-a", "--reflink=auto", str(source), str(dest)], timeout=300)


def remove_tree(path: Path) -> None:
    """Delete a scratch root file system without crossing into mounts."""
    if path.exists():
        subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=False)
    shutil.rmtree(path, ignore_errors=True)
