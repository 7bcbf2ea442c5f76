"""The Dockerfile built and run with podman, against a locally made base image.

No registry is reachable, so ``python:3.11-slim-bookworm`` is replaced by a
stand-in with the same shape: a Debian bookworm root file system with
python3/python3-venv/python-is-python3, imported with ``podman import`` and
passed as ``--build-arg PYTHON_IMAGE``. The Dockerfile itself is built
unchanged. The base image is cached in podman's storage under a tag derived
from its inputs; the build reuses podman's layer cache between runs.

Runtime flags the host needs: ``--runtime runc`` (crun refuses the cgroup v1
hybrid layout) and explicit rlimits (the defaults podman computes exceed what
the host allows). ``--network slirp4netns:allow_host_loopback=true`` gives the
container its own network namespace (so the image's default listener
127.0.0.1:9464, which HEALTHCHECK probes, cannot collide with anything on the
host) while letting it reach the test API on the host's loopback as 10.0.2.2.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from tests.support.realdeploy.common import CACHE, REPO, CommandFailed, cache_lock, record_time, run
from tests.support.realdeploy.debian import cached_rootfs

BASE_PACKAGES = ["python3", "python3-venv", "python-is-python3", "ca-certificates"]
IMAGE = "localhost/syncd-ci:test"
HOST_FROM_CONTAINER = "10.0.2.2"
RUN_FLAGS = (
    "--runtime=runc",
    "--ulimit=nofile=20000:20000",
    "--ulimit=nproc=32768:32768",
    "--network=slirp4netns:allow_host_loopback=true",
    # As the Dockerfile and docs/deployment.md run it: read-only root, /tmp in memory.
    "--read-only",
    "--read-only-tmpfs=false",
    "--tmpfs=/tmp",
)


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a podman command."""
    return run(["podman", *args], timeout=timeout, check=check)


def base_image() -> str:
    """The stand-in for python:3.11-slim-bookworm, imported once per set of inputs."""
    customize = [
        # pip inside the build should trust the same CAs as the system (a proxy's, say).
        'printf "[global]\\ncert = /etc/ssl/certs/ca-certificates.crt\\n" > "$1/etc/pip.conf"',
        'rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin',
    ]
    tar = cached_rootfs("python-base", BASE_PACKAGES, customize=customize, tarball=True)
    tag = f"localhost/syncd-ci-python:{tar.stem.rsplit('-', 1)[-1]}"
    with cache_lock("python-base"):
        if podman("image", "exists", tag, check=False).returncode != 0:
            podman(
                "import",
                "--change=ENV LANG=C.UTF-8",
                "--change=ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                '--change=CMD ["python3"]',
                str(tar),
                tag,
                timeout=300,
            )
    return tag


def build_image(base: str) -> str:
    """Build the repository's Dockerfile, unchanged, on ``base``; return the image tag."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with cache_lock("image-build"):
        previous = _image_id(IMAGE)
        started = time.monotonic()
        result = podman(
            "build",
            "--isolation=chroot",
            "--network=host",
            "--format=docker",  # OCI images have no HEALTHCHECK
            "--pull=never",
            f"--build-arg=PYTHON_IMAGE={base}",
            f"--tag={IMAGE}",
            f"--file={REPO / 'Dockerfile'}",
            str(REPO),
            timeout=900,
            check=False,
        )
        if result.returncode != 0:
            raise CommandFailed(f"podman build failed:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}")
        record_time("podman build", time.monotonic() - started)
        # The previous build's image, now untagged (with its own layers). Not
        # `image prune`: that would also drop the builder stage's layer cache.
        if previous and previous != _image_id(IMAGE):
            podman("rmi", previous, check=False, timeout=120)
    return IMAGE


def _image_id(tag: str) -> str:
    return podman("image", "inspect", "--format={{.Id}}", tag, check=False).stdout.strip()


def run_container(
    name: str, args: Sequence[str], *, detach: bool = False, env: dict[str, str] | None = None,
    volumes: Sequence[str] = (), timeout: float = 120, check: bool = True,
    entrypoint: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``podman run`` the image with the deployment's runtime flags (and another entrypoint)."""
    argv = [
        "podman", "run", f"--name={name}", *RUN_FLAGS,
        *(f"--volume={v}" for v in volumes),
        *(f"--env={k}" for k in (env or {})),
        *([f"--entrypoint={entrypoint}"] if entrypoint else []),
    ]  # fmt: skip
    argv += ["--detach"] if detach else ["--rm"]
    argv += [IMAGE, *args]
    # Secrets go through podman's environment, never its command line.
    return run(argv, timeout=timeout, check=check, env={**os.environ, **(env or {})})


def remove_container(name: str) -> None:
    """Remove a container whatever its state (missing is fine)."""
    podman("rm", "--force", "--time=5", name, check=False, timeout=60)


def remove_podman_cgroups() -> None:
    """Remove the empty cgroups podman leaves for its monitor processes (conmon).

    Best effort: a cgroup still in use (another podman user) cannot be removed
    and is left alone.
    """
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        parent = hierarchy / "libpod_parent"
        for path in (parent / "conmon", parent):
            try:
                path.rmdir()
            except OSError:
                continue
