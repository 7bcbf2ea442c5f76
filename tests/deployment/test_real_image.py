"""The container image, built from the unchanged Dockerfile with podman and run for real.

The base image is a local stand-in for python:3.11-slim-bookworm (no registry
is reachable here; see tests/support/realdeploy/image.py). The image runs with a
read-only root file system, as docs/deployment.md says to, against a
case.dev-compatible server on the host's loopback; the rotation test adds a
Neon-compatible server and the local PostgreSQL, which the container reaches
through the same gateway address. Needs root and podman (``.ci/run`` installs
it).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg
import pytest

import syncd
from syncd.testing.casedev import FakeCaseDev
from syncd.testing.neon import FakeNeon, alter_role_password
from tests.support.realdeploy.common import require, wait_for
from tests.support.realdeploy.image import (
    HOST_FROM_CONTAINER,
    base_image,
    build_image,
    podman,
    remove_container,
    remove_podman_cgroups,
    run_container,
)
from tests.support.servers.postgres import PostgresServer

pytestmark = [pytest.mark.real_image, pytest.mark.timeout(900)]

PROJECT = "proj_image"
NEON_PROJECT = "image-proj-123456"
UID = 10001
VENV_PYTHON = "/opt/syncd/bin/python"


@dataclass
class Built:
    """The built image, the fake API it talks to, and a scratch directory for volumes."""

    image: str
    api: FakeCaseDev
    base_url: str
    scratch: Path

    def config(self, interval: str = "1h") -> Path:
        path = self.scratch / f"syncd-{secrets.token_hex(3)}.yaml"
        path.write_text(
            f"""\
log: {{level: info, format: json}}
providers:
  # The test API is the host's loopback, reached through slirp4netns's gateway
  # address: plain http to a non-loopback host must be allowed explicitly.
  casedev: {{type: casedev, base_url: "{self.base_url}", allow_insecure_http: true}}
sinks:
  files: {{type: file, directory: /var/lib/syncd/secrets}}
defaults: {{format: uri, interval: {interval}, jitter: 0s}}
targets:
  - name: app
    provider: casedev
    project: {PROJECT}
    sinks: [{{sink: files, secret: app.uri}}]
"""
        )
        path.chmod(0o644)
        return path

    def volume(self) -> Path:
        """A directory the image's user 10001 can write, for /var/lib/syncd."""
        path = Path(tempfile.mkdtemp(prefix="state-", dir=self.scratch))
        os.chown(path, UID, UID)
        return path


@pytest.fixture(scope="module")
def built() -> Iterator[Built]:
    """The image built from this checkout, and the fake case.dev API on loopback."""
    require(tools=["podman", "mmdebstrap", "runc", "slirp4netns"])
    image = build_image(base_image())
    api = FakeCaseDev(api_key="sk_image_" + secrets.token_hex(12))
    api.set_branch(
        PROJECT, "main",
        direct="postgresql://app:image-pw@db.internal:5432/app?sslmode=require",
        pooled="postgresql://app:image-pw@pool.internal:6432/app?sslmode=require",
    )  # fmt: skip
    scratch = Path(tempfile.mkdtemp(prefix="syncd-image-", dir="/var/tmp"))
    scratch.chmod(0o755)
    try:
        # The container reaches the host's loopback through slirp4netns only on 127.0.0.1.
        with api.serve(host="127.0.0.1") as server:
            port = server.base_url.rsplit(":", 1)[1]
            yield Built(image, api, f"http://{HOST_FROM_CONTAINER}:{port}", scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        remove_podman_cgroups()


@pytest.fixture
def name() -> Iterator[str]:
    """A unique container name, removed after the test whatever happened."""
    container = f"syncd-ci-{secrets.token_hex(4)}"
    yield container
    remove_container(container)


def test_image_runs_as_10001_and_keeps_its_healthcheck(built: Built) -> None:
    """The image's user is 10001:10001, its entrypoint is syncd, and HEALTHCHECK survived the build."""
    (config,) = json.loads(podman("image", "inspect", built.image).stdout)
    assert config["Config"]["User"] == "10001:10001"
    assert config["Config"]["Entrypoint"] == ["syncd"]
    health = config.get("Healthcheck") or config["Config"].get("Healthcheck")
    assert health and "/healthz" in " ".join(health["Test"]), config


def test_version(built: Built, name: str) -> None:
    """`syncd --version` runs in the read-only image and prints the package version."""
    out = run_container(name, ["--version"]).stdout
    assert syncd.__version__ in out


def test_run_once_writes_the_secret_into_a_mounted_volume(built: Built, name: str) -> None:
    """`run --once` as user 10001 on a read-only root writes the secret into the volume."""
    state = built.volume()
    result = run_container(
        name,
        ["run", "--once"],
        env={"CASEDEV_API_KEY": built.api.api_key},
        volumes=[f"{built.config()}:/etc/syncd/syncd.yaml:ro", f"{state}:/var/lib/syncd"],
    )
    written = state / "secrets" / "app.uri"
    assert "image-pw@db.internal" in written.read_text()
    assert (written.stat().st_uid, written.stat().st_mode & 0o777) == (UID, 0o600)
    assert built.api.api_key not in result.stdout + result.stderr


def test_daemon_turns_healthy_reloads_on_sighup_and_stops_with_0(built: Built, name: str) -> None:
    """The daemon's HEALTHCHECK passes, SIGHUP reloads, and `podman stop` ends it with exit 0."""
    state = built.volume()
    config = built.config()
    run_container(
        name,
        ["run"],
        detach=True,
        env={"CASEDEV_API_KEY": built.api.api_key},
        volumes=[f"{config}:/etc/syncd/syncd.yaml:ro", f"{state}:/var/lib/syncd"],
    )
    wait_for("the first sync", (state / "secrets" / "app.uri").exists, timeout=60)

    # What a container engine does every --interval: run the image's HEALTHCHECK.
    wait_for(
        "the HEALTHCHECK to pass",
        lambda: podman("healthcheck", "run", name, check=False).returncode == 0,
        timeout=60,
        every=1,
    )
    (info,) = json.loads(podman("container", "inspect", name).stdout)
    health = info["State"].get("Health") or info["State"].get("Healthcheck")
    assert health["Status"] == "healthy", health
    assert info["HostConfig"]["ReadonlyRootfs"] is True
    status = podman("exec", name, "cat", "/proc/1/status").stdout
    assert f"Uid:\t{UID}\t{UID}" in status
    read_only = podman("exec", name, "touch", "/opt/syncd/x", check=False)
    assert "Read-only file system" in read_only.stderr

    podman("kill", "--signal=HUP", name)
    wait_for(
        "config_reloaded in the container's log",
        lambda: "config_reloaded" in podman("logs", name).stderr + podman("logs", name).stdout,
        timeout=30,
    )

    started = time.monotonic()
    podman("stop", "--time=30", name, timeout=60)
    assert time.monotonic() - started < 25, "syncd did not stop on SIGTERM"
    (info,) = json.loads(podman("container", "inspect", name).stdout)
    assert info["State"]["ExitCode"] == 0, info["State"]
    logs = podman("logs", name)
    assert "shutdown_complete" in logs.stdout + logs.stderr
    assert "Traceback" not in logs.stdout + logs.stderr
    assert built.api.api_key not in logs.stdout + logs.stderr


def test_rotation_driver_imports_in_the_image(built: Built, name: str) -> None:
    """psycopg's binary build (its own libpq) and syncd's prover import in the read-only image."""
    probe = (
        "import psycopg, syncd.core.connect; "
        "print(psycopg.__version__, psycopg.pq.__impl__, psycopg.pq.version())"
    )
    version, impl, libpq = run_container(name, ["-c", probe], entrypoint=VENV_PYTHON).stdout.split()
    # The slim image has no libpq of its own: only psycopg-binary's bundled one can load.
    assert impl == "binary", (version, impl)
    assert int(libpq) >= 140000, libpq


def test_installed_set_is_consistent(built: Built, name: str) -> None:
    """`pip check` finds no missing or conflicting requirement in the final image's venv."""
    result = run_container(name, ["-m", "pip", "check"], entrypoint=VENV_PYTHON)
    assert "No broken requirements found" in result.stdout


@pytest.mark.e2e
def test_rotate_proves_the_new_password_from_inside_the_image(
    built: Built, name: str, postgres: PostgresServer
) -> None:
    """`syncd rotate` in the image resets a Neon role, proves the new password against PostgreSQL, and publishes it."""
    creds = postgres.create_branch(NEON_PROJECT, "main")
    api = FakeNeon(
        "napi_image_" + secrets.token_hex(12),
        set_password=alter_role_password(postgres.admin_dsn),
        # The URIs the fake hands out name the database as the container sees it.
        direct=(HOST_FROM_CONTAINER, postgres.port),
        operation_delay=0.1,
    )
    api.add_branch(
        NEON_PROJECT, "main", databases=[creds.database], roles={creds.role: creds.password}
    )
    state = built.volume()
    config = built.scratch / f"syncd-rotate-{secrets.token_hex(3)}.yaml"
    with api.serve(host="127.0.0.1") as server:
        port = server.base_url.rsplit(":", 1)[1]
        config.write_text(
            f"""\
log: {{level: info, format: json}}
providers:
  neon:
    type: neon
    base_url: "http://{HOST_FROM_CONTAINER}:{port}/api/v2"
    allow_insecure_http: true
sinks:
  files: {{type: file, directory: /var/lib/syncd/secrets}}
targets:
  - name: billing
    provider: neon
    project: {NEON_PROJECT}
    branch: main
    database: {creds.database}
    role: {creds.role}
    rotation: {{mode: reset, every: 30d}}
    sinks: [{{sink: files, secret: billing.uri, format: uri}}]
"""
        )
        config.chmod(0o644)
        result = run_container(
            name,
            ["rotate", "billing"],
            env={"NEON_API_KEY": api.api_key},
            volumes=[f"{config}:/etc/syncd/syncd.yaml:ro", f"{state}:/var/lib/syncd"],
            check=False,
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "rotation_published" in output
    published = urlsplit((state / "secrets" / "billing.uri").read_text().strip())
    password = unquote(published.password or "")
    assert password and password != creds.password
    assert published.hostname == HOST_FROM_CONTAINER
    # The published password works; the old one no longer does.
    login = {
        "host": postgres.host,
        "port": postgres.port,
        "user": creds.role,
        "dbname": creds.database,
    }
    with psycopg.connect(**login, password=password, sslmode="require", connect_timeout=5):
        pass
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(**login, password=creds.password, sslmode="require", connect_timeout=5)
    assert api.api_key not in output
    assert password not in output
