"""A Debian bookworm system booted with ``systemd-nspawn``, driven from outside.

There is no systemd on the host (PID 1 is something else), so ``machinectl``
and ``systemd-run -M`` cannot reach the container. Instead the container runs
with ``--register=no --keep-unit``, commands enter it with ``nsenter`` into its
PID 1's namespaces, and it is powered off with ``SIGRTMIN+4`` to that PID 1
(killing only nspawn would orphan the container's systemd). The root file
system is a per-run copy of a cached one, deleted afterwards; nspawn's mounts
live in its own mount namespace, so nothing stays mounted on the host.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from tests.support.realdeploy.common import REPO, CommandFailed, run, wait_for
from tests.support.realdeploy.debian import cached_rootfs, copy_tree, remove_tree

# nspawn with --keep-unit puts the container's cgroups (payload/, supervisor/)
# under its own cgroup; each container gets a cgroup of its own in these
# hierarchies so that two runs cannot collide, and it is removed afterwards.
CGROUP_HIERARCHIES = (Path("/sys/fs/cgroup/systemd"), Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup"))
PACKAGES = ["systemd", "systemd-sysv", "dbus", "python3", "python3-venv", "ca-certificates"]
VENV = "/opt/syncd"
LOCK = REPO / "requirements.lock"
# Where the sources are copied: nspawn mounts a fresh tmpfs on the container's /tmp.
SOURCES = "/srv/syncd-src"
CONTAINER_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def systemd_rootfs() -> Path:
    """The cached root file system: Debian + systemd + a venv with syncd's locked deps."""
    pip = f"{VENV}/bin/pip install --no-cache-dir --quiet"
    customize = [
        # The venv's pip should trust the same CAs as the system (a proxy's, say).
        'printf "[global]\\ncert = /etc/ssl/certs/ca-certificates.crt\\n" > "$1/etc/pip.conf"',
        f'chroot "$1" python3 -m venv {VENV}',
        f'cp {shlex.quote(str(LOCK))} "$1{VENV}/requirements.lock"',
        f'chroot "$1" {pip} --require-hashes --no-deps -r {VENV}/requirements.lock',
        f'ln -s {VENV}/bin/syncd "$1/usr/local/bin/syncd"',
        # Quiet, fast boots: no login prompt on the console.
        'chroot "$1" systemctl mask console-getty.service getty.target >/dev/null',
    ]
    return cached_rootfs("systemd-rootfs", PACKAGES, customize=customize, inputs=[LOCK])


def install_syncd(root: Path) -> None:
    """Install this checkout's syncd into the root file system's venv, offline.

    The same steps as the Dockerfile and docs/deployment.md: no index, no
    build isolation, nothing past the locked set.
    """
    dest = root / SOURCES.lstrip("/")
    dest.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        (dest / name).write_bytes((REPO / name).read_bytes())
    run(["cp", "-r", str(REPO / "syncd"), str(dest / "syncd")], timeout=60)
    run(["find", str(dest), "-name", "__pycache__", "-prune", "-exec", "rm", "-rf", "{}", "+"], timeout=60)
    run(
        [
            "chroot", str(root), "env", "-i", CONTAINER_PATH, "HOME=/root",
            f"{VENV}/bin/pip", "install", "--quiet", "--no-cache-dir", "--no-deps",
            "--no-build-isolation", "--no-index", SOURCES,
        ],
        timeout=300,
    )  # fmt: skip


class Container:
    """One booted container; use as a context manager, which always powers it off."""

    def __init__(self, root: Path, name: str, log: Path) -> None:
        self.root = root
        self.name = name
        self.log = log
        self._nspawn: subprocess.Popen[bytes] | None = None
        self.leader = 0

    def __enter__(self) -> Container:
        try:
            self.boot()
        except BaseException:
            self.poweroff()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.poweroff()

    def boot(self, timeout: float = 90) -> None:
        """Start nspawn and wait until the container's systemd has finished booting."""
        procs = self._make_cgroups()

        def enter_cgroups() -> None:  # runs in the child, before exec
            for path in procs:
                path.write_text(str(os.getpid()))

        with self.log.open("ab") as out:
            self._nspawn = subprocess.Popen(
                [
                    "systemd-nspawn", "--quiet", "-D", str(self.root), "-M", self.name,
                    "--boot", "--register=no", "--keep-unit", "--private-users=no",
                    "--console=passive", "--link-journal=no",
                ],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=enter_cgroups,  # noqa: PLW1509 - only writes a file
            )  # fmt: skip
        self.leader = int(
            wait_for("the container's PID 1", self._find_leader, timeout=30)  # type: ignore[arg-type]
        )
        deadline = time.monotonic() + timeout
        while True:  # the system bus appears a moment after PID 1 starts
            state = self.exec(["systemctl", "is-system-running", "--wait"], check=False, timeout=timeout)
            if state.stdout.strip() in {"running", "degraded"}:
                return
            if time.monotonic() > deadline:
                raise CommandFailed(
                    f"container did not boot within {timeout:.0f}s: {state.stdout!r} {state.stderr!r}\n"
                    f"{self.log.read_text(errors='replace')[-4000:]}"
                )
            time.sleep(0.2)

    def _find_leader(self) -> int:
        if self._nspawn is None or self._nspawn.poll() is not None:
            raise CommandFailed(f"systemd-nspawn exited:\n{self.log.read_text()[-4000:]}")
        for pid in _descendants(self._nspawn.pid):
            if _ns_pid(pid) == 1:
                return pid
        return 0

    def exec(
        self, argv: Sequence[str], *, check: bool = True, timeout: float = 60, input_text: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the container (all its namespaces, a clean environment)."""
        if not self.leader:
            raise CommandFailed("the container is not running")
        return run(
            [
                "nsenter", "-t", str(self.leader), "-a", "-r", "-w",
                "env", "-i", CONTAINER_PATH, "LANG=C.UTF-8", "SYSTEMD_COLORS=0",
                "SYSTEMD_PAGER=", "TERM=dumb", *argv,
            ],
            timeout=timeout, check=check, input_text=input_text,
        )  # fmt: skip

    def sh(self, script: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        """Run a shell snippet inside the container."""
        return self.exec(["sh", "-c", script], **kwargs)  # type: ignore[arg-type]

    def poweroff(self, timeout: float = 60) -> None:
        """Power the container off (SIGRTMIN+4 to its systemd), then make sure it is gone."""
        proc = self._nspawn
        if proc is None:
            return
        if self.leader and proc.poll() is None:
            with _ignore_missing():
                os.kill(self.leader, signal.SIGRTMIN + 4)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=timeout)
        if proc.poll() is None:
            # A wedged shutdown: killing the namespace's PID 1 kills all of it.
            if self.leader:
                with _ignore_missing():
                    os.kill(self.leader, signal.SIGKILL)
            with _ignore_missing():
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        self._nspawn = None
        self.leader = 0
        self._remove_cgroups()

    def _cgroup_dirs(self) -> list[Path]:
        dirs = []
        for hierarchy in CGROUP_HIERARCHIES:
            if (hierarchy / "cgroup.procs").exists() and hierarchy.resolve() not in dirs:
                if hierarchy == Path("/sys/fs/cgroup") and Path("/sys/fs/cgroup/unified").exists():
                    continue  # hybrid layout: /sys/fs/cgroup is a tmpfs, not a hierarchy
                dirs.append(hierarchy / f"syncd-ci-{self.name}")
        return dirs

    def _make_cgroups(self) -> list[Path]:
        self._remove_cgroups()  # a leftover of a crashed run with the same name
        procs = []
        for path in self._cgroup_dirs():
            path.mkdir(exist_ok=True)
            procs.append(path / "cgroup.procs")
        return procs

    def _remove_cgroups(self) -> None:
        for top in self._cgroup_dirs():
            if not top.exists():
                continue
            for sub in sorted(top.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if sub.is_dir():
                    _rmdir(sub)
            _rmdir(top)


class _ignore_missing:  # noqa: N801 - used like contextlib.suppress
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, *rest: object) -> bool:
        return kind is ProcessLookupError


def _rmdir(path: Path) -> None:
    for _ in range(50):  # a cgroup can be removed only once its last process is reaped
        try:
            path.rmdir()
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)
        else:
            return


def _descendants(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _ns_pid(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("NSpid:"):
            ids = line.split()[1:]
            return int(ids[-1]) if len(ids) > 1 else 0
    return 0


def prepared_root(scratch: Path) -> Path:
    """A fresh copy of the cached root file system with this checkout's syncd installed."""
    root = scratch / "root"
    copy_tree(systemd_rootfs(), root)
    try:
        install_syncd(root)
    except BaseException:
        remove_tree(root)
        raise
    return root

