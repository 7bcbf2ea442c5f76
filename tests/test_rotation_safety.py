"""The safety properties of credential rotation (issue 10), end to end through the CLI.

Each test drives real ``syncd`` processes against the Neon-compatible server
(backed by the real PostgreSQL and PgBouncer), moto's server behind a killing
proxy, OpenBao and the file sink. Crashes happen at protocol points chosen by
the fake servers (see tests/rotationworld.py), never through hooks in syncd.
Every test ends with the canary check: no password, old or new, and not the
Neon API key, in any output of any syncd process it ran.
"""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from syncd.testing.casedev import SeenRequest
from syncd.testing.neon import FakeNeon
from tests.conftest import CliResult
from tests.rotationworld import (
    FILE_SECRET,
    TARGET,
    AwsCall,
    RotationWorld,
    connects,
    password_of,
    promoting,
    rotation_world,
    staged,
    user_of,
)
from tests.servers.moto import MotoServer
from tests.servers.pgbouncer import PgBouncer
from tests.servers.postgres import PostgresServer

KILLED = -signal.SIGKILL


@pytest.fixture
def world(
    tmp_path: Path,
    postgres: PostgresServer,
    pgbouncer: PgBouncer,
    aws: MotoServer,
    vault: Any,
    root: Any,
) -> Iterator[RotationWorld]:
    """A Neon branch with a real role, and sinks in AWS (behind the proxy), OpenBao and a file."""
    from tests.vaultutil import make_token

    with rotation_world(
        tmp_path,
        postgres,
        pgbouncer,
        aws,
        vault_addr=vault.addr,
        vault_root=root,
        vault_token=make_token(root),
    ) as w:
        w.write_config("reset")
        yield w


def seed(world: RotationWorld) -> None:
    """A first `run --once`: the target was never rotated, so it rotates and publishes."""
    result = world.run("run", "--once")
    assert result.code == 0, result.output
    world.assert_converged()


def reset_answered(world: RotationWorld) -> Callable[[SeenRequest], bool]:
    """The first Neon request after a reset: syncd has the reset's answer and acts on it."""
    before = len(world.api.operations())

    def match(request: SeenRequest) -> bool:
        return len(world.api.operations()) > before and not request.path.endswith("/reset_password")

    return match


# -- crash anywhere ------------------------------------------------------------------------


def _crash_at(world: RotationWorld, point: str) -> CliResult:
    """Start `syncd rotate`, SIGKILL it at ``point``; return what the killed process printed."""
    running = world.start("rotate", TARGET)
    if point == "after_reset":
        world.kill_on_neon(reset_answered(world), running.pid)
    elif point == "after_pending":
        world.proxy.arm(staged, running.pid)
    elif point == "before_promotion":
        world.proxy.arm(promoting, running.pid, before=True)
    else:  # mid_publish: AWS promoted, the sinks after it not yet
        world.proxy.arm(promoting, running.pid)
    result = running.wait()
    world.api.on_request = None
    world.proxy.disarm()
    world.outputs.append(result)
    return result


@pytest.mark.e2e
@pytest.mark.parametrize(
    "point", ["after_reset", "after_pending", "before_promotion", "mid_publish"]
)
def test_crash_anywhere_converges_on_the_next_run(world: RotationWorld, point: str) -> None:
    """A reset rotation SIGKILLed at any protocol step converges on the next `run --once`."""
    seed(world)
    old = world.neon_password()
    crashed = _crash_at(world, point)
    assert crashed.code == KILLED, f"syncd was not killed at {point}: {crashed.output}"
    assert world.api.settled()
    new = world.neon_password()
    assert new != old, "the crash came after the reset: Neon holds a new password"
    if point == "mid_publish":
        at_kill = world.published()
        assert password_of(at_kill["aws"]) == new, "AWS was promoted before the kill"
        behind = [s for s, uri in at_kill.items() if password_of(uri) != new]
        print(f"mid_publish: sinks still behind at the kill: {behind}")
    if point in ("after_pending", "before_promotion"):
        assert world.stray_pending(), "the kill left a staged, unpromoted version"

    recovered = world.run("run", "--once")
    assert recovered.code == 0, recovered.output
    world.assert_converged()
    world.assert_no_leak()


# -- two writers ----------------------------------------------------------------------------


@pytest.mark.e2e
def test_two_writers_leave_no_dead_password_and_sinks_agree(world: RotationWorld) -> None:
    """Two overlapping `syncd rotate` runs end with every sink holding the same working credential."""
    seed(world)
    world.api.operation_delay = 1.0  # a wider window between reset and the password taking effect
    rng = random.Random(10)
    for round_ in range(3):
        offset = rng.uniform(0, 0.6)
        first = world.start("rotate", TARGET)
        time.sleep(offset)
        second = world.start("rotate", TARGET)
        results = [first.wait(), second.wait()]
        world.outputs += results
        codes = [r.code for r in results]
        print(f"round {round_}: offset {offset:.2f}s, exit codes {codes}")
        assert set(codes) <= {0, 1}, [r.output for r in results]
        assert 0 in codes, [r.output for r in results]
        assert world.api.settled()
        uris = world.published()
        assert len({password_of(u) for u in uris.values()}) == 1, "the sinks disagree"
        world.assert_converged()
    resets = sum(1 for r in world.api.requests if r.path.endswith("/reset_password"))
    print(f"resets at Neon over 3 rounds of two writers: {resets} (1 seed)")
    world.assert_no_leak()


# -- the reset window -----------------------------------------------------------------------


def published_events(result: CliResult) -> list[dict[str, Any]]:
    """The `rotation_published` log events a run emitted."""
    events = []
    for line in result.output.splitlines():
        if '"rotation_published"' not in line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "rotation_published":
            events.append(event)
    return events


def outside_window(world: RotationWorld, since: float) -> float:
    """Seconds from the reset Neon received to the last sink's new version, seen by the servers."""
    resets = [
        r.at
        for r in world.api.requests
        if r.method == "POST" and r.path.endswith("/reset_password") and r.at >= since
    ]
    promoted = [c.at for c in world.proxy.calls if promoting(c) and c.at >= since]
    meta = world.vault_root.secrets.kv.v2.read_secret_metadata(
        path=world.vault_secret, mount_point="secret"
    )["data"]
    vault_at = datetime.fromisoformat(
        meta["versions"][str(meta["current_version"])]["created_time"].replace("Z", "+00:00")
    ).timestamp()
    file_at = (world.out_dir / FILE_SECRET).stat().st_mtime
    return max(*promoted, vault_at, file_at) - resets[-1]


@pytest.mark.e2e
def test_reset_window_is_measured_and_bounded(world: RotationWorld) -> None:
    """Reset to last promotion, as syncd logs it and as the servers saw it, stays well under 10 s."""
    seed(world)
    since = time.time()
    result = world.run("rotate", TARGET)
    assert result.code == 0, result.output
    events = published_events(result)
    assert events, f"no rotation_published event: {result.output}"
    inside = float(events[-1]["window_s"])
    outside = outside_window(world, since)
    print(f"reset window: syncd says {inside:.3f}s, the servers saw {outside:.3f}s")
    assert 0 < inside < 10
    assert 0 < outside < 10
    world.assert_converged()
    world.assert_no_leak()


# -- alternate ------------------------------------------------------------------------------


class Probe(threading.Thread):
    """Reconnects with each sink's published credential every ``interval`` seconds."""

    def __init__(self, readers: dict[str, Callable[[], str]], interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.readers = readers
        self.interval = interval
        self.probes = 0
        self.auth_failures = 0
        self.other_failures: list[str] = []
        self.roles: list[str] = []
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.is_set():
            for sink, read in self.readers.items():
                try:
                    uri = read()
                except Exception as exc:
                    self.other_failures.append(f"{sink} read: {type(exc).__name__}")
                    continue
                self.probes += 1
                try:
                    role = connects(uri)
                except psycopg.OperationalError as exc:
                    if "authentication failed" in str(exc):
                        self.auth_failures += 1
                    else:
                        self.other_failures.append(f"{sink} connect: {type(exc).__name__}")
                    continue
                if not self.roles or self.roles[-1] != role:
                    self.roles.append(role)
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self.join(timeout=30)


def alternate_probe(world: RotationWorld, rotations: int) -> Probe:
    """Rotate ``rotations`` times in alternate mode with the probe running; return the probe."""
    import boto3

    client = boto3.client(
        "secretsmanager",
        endpoint_url=world.sm.meta.endpoint_url,
        region_name=world.sm.meta.region_name,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    probe = Probe({"files": world.file_uri, "aws": lambda: world.aws_uri(client)})
    probe.start()
    try:
        for _ in range(rotations):
            result = world.run("rotate", TARGET)
            assert result.code == 0, result.output
            time.sleep(0.3)  # let the probe see the newly published credential
    finally:
        probe.stop()
        client.close()
    return probe


@pytest.mark.e2e
def test_alternate_probe_sees_zero_authentication_failures(world: RotationWorld) -> None:
    """A probe reconnecting every 50 ms through two alternate rotations never fails to authenticate."""
    alt = world.create_alternate_role()
    world.write_config("alternate", alternate_role=alt)
    result = world.run("run", "--once")  # never rotated: the first rotation publishes alt
    assert result.code == 0, result.output
    world.assert_converged(alt)

    probe = alternate_probe(world, rotations=2)
    print(
        f"alternate: {probe.probes} probes, {probe.auth_failures} authentication failures, "
        f"roles seen {probe.roles}"
    )
    assert probe.auth_failures == 0
    assert probe.other_failures == []
    published = user_of(world.file_uri())
    assert published == alt, "two rotations from alt come back to alt"
    assert world.creds.role in probe.roles, "the owner role was published in between"
    world.assert_converged(alt)
    world.assert_no_leak()


# -- the canary -----------------------------------------------------------------------------


@pytest.mark.e2e
def test_canary_every_rotation_path(world: RotationWorld) -> None:
    """At debug level with vendor dumps, no rotation path prints a password, old or new."""
    world.write_config("reset", level="debug", vendor_debug=True)
    seed(world)
    assert world.run("rotate", "--dry-run", TARGET).code == 0

    # A failed test-connect: the operation finishes but the new password does not work.
    before = world.published()
    world.setter.skip = 1
    failed = world.run("rotate", TARGET)
    assert failed.code == 1, failed.output
    assert world.published() == before, "a failed proof promoted nothing"
    assert world.stray_pending() == []
    retried = world.run("rotate", TARGET)  # the next run tries again, and succeeds
    assert retried.code == 0, retried.output
    world.assert_converged()

    crashed = _crash_at(world, "after_pending")
    assert crashed.code == KILLED
    assert world.run("run", "--once").code == 0

    # alternate: the second role missing, then present
    world.write_config("alternate", level="debug", vendor_debug=True, alternate_role=world.alt_role)
    missing = world.run("rotate", TARGET)
    assert missing.code == 1 and world.alt_role in missing.output, missing.output
    world.create_alternate_role()
    assert world.run("rotate", TARGET).code == 0
    assert world.run("rotate", TARGET).code == 0
    world.assert_converged(world.creds.role)

    assert all(r.stderr for r in world.outputs), "debug logging printed nothing"
    world.assert_no_leak()


# -- the fake's hook (no servers) -----------------------------------------------------------


def test_fake_neon_calls_on_request_after_deciding_the_answer() -> None:
    """FakeNeon hands each request, with its method and time, to on_request after answering it."""
    import httpx

    seen: list[SeenRequest] = []
    api = FakeNeon(
        "k", set_password=lambda _r, _p: None, direct=("db", 5432), on_request=seen.append
    )
    api.add_branch("p", "main", databases=["d"], roles={"r": "pw"})
    client = httpx.Client(transport=httpx.MockTransport(api.handle), base_url="http://x/api/v2")
    started = time.time()
    assert client.get("/projects/p/branches", headers={"Authorization": "Bearer k"}).is_success
    client.close()
    api.close()
    assert [(r.method, r.path) for r in seen] == [("GET", "/api/v2/projects/p/branches")]
    assert seen[0].at >= started


def test_proxy_matchers_pick_the_staging_calls() -> None:
    """The proxy's matchers tell AWSPENDING writes and AWSCURRENT moves from other calls."""
    assert staged(AwsCall("PutSecretValue", {"VersionStages": ["AWSPENDING"]}, 0))
    assert not staged(AwsCall("PutSecretValue", {}, 0))
    assert promoting(
        AwsCall(
            "UpdateSecretVersionStage", {"VersionStage": "AWSCURRENT", "MoveToVersionId": "v"}, 0
        )
    )
    assert not promoting(
        AwsCall(
            "UpdateSecretVersionStage",
            {"VersionStage": "AWSPENDING", "RemoveFromVersionId": "v"},
            0,
        )
    )
