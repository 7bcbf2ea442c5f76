"""The safety properties of credential rotation (issue 10), end to end through the CLI.

Each test drives real ``syncd`` processes against the Neon-compatible server
(backed by the real PostgreSQL and PgBouncer), moto's server behind a killing
proxy, OpenBao and the file sink. Crashes happen at protocol points chosen by
the fake servers (see tests/support/rotationworld.py), never through hooks in syncd.
Every test ends with the canary check: no password, old or new, and not the
Neon API key, in any output of any syncd process it ran.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Callable

import pytest

from syncd.testing.casedev import SeenRequest
from syncd.testing.neon import FakeNeon
from tests.conftest import CliResult
from tests.support.rotationworld import (
    TARGET,
    AwsCall,
    RotationWorld,
    outside_window,
    password_of,
    probe_rotations,
    promoting,
    published_events,
    staged,
    user_of,
)

KILLED = -signal.SIGKILL


@pytest.fixture
def world(rotation: RotationWorld) -> RotationWorld:
    """The rotation world (tests/conftest.py), configured for reset mode."""
    rotation.write_config("reset")
    return rotation


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
    # Armed while the interpreter is still starting: long before syncd's first request.
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


CRASH_POINTS = ("after_reset", "after_pending", "before_promotion", "mid_publish")


@pytest.mark.e2e
def test_crash_anywhere_converges_on_the_next_run(world: RotationWorld) -> None:
    """A reset rotation SIGKILLed at each protocol step in turn converges on the next `run --once`."""
    seed(world)
    for point in CRASH_POINTS:  # one world, in turn: each starts from the last one's convergence
        old = world.neon_password()
        crashed = _crash_at(world, point)
        assert crashed.code == KILLED, f"syncd was not killed at {point}: {crashed.output}"
        assert world.api.settled()
        new = world.neon_password()
        assert new != old, f"{point}: the crash came after the reset, Neon has a new password"
        at_kill = world.published()
        behind = sorted(s for s, uri in at_kill.items() if password_of(uri) != new)
        if point == "mid_publish":
            assert "aws" not in behind, "AWS was promoted before the kill"
        else:
            assert "aws" in behind, f"{point}: AWS still published the old credential"
        if point in ("after_pending", "before_promotion"):
            assert world.stray_pending(), f"{point}: a staged, unpromoted version was left"
        print(f"{point}: sinks behind Neon at the kill: {behind}")

        recovered = world.run("run", "--once")
        assert recovered.code == 0, f"{point}: {recovered.output}"
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
    asked = sum(1 for r in world.api.requests if r.path.endswith("/reset_password"))
    done = len(world.api.operations())
    print(f"two writers, 3 rounds: {asked} reset requests, {done} resets done (1 by the seed)")
    world.assert_no_leak()


# -- the reset window -----------------------------------------------------------------------


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


@pytest.mark.e2e
def test_alternate_probe_sees_zero_authentication_failures(world: RotationWorld) -> None:
    """A probe reconnecting every 50 ms through two alternate rotations never fails to authenticate."""
    alt = world.create_alternate_role()
    world.write_config("alternate", alternate_role=alt)
    result = world.run("run", "--once")  # never rotated: the first rotation publishes alt
    assert result.code == 0, result.output
    world.assert_converged(alt)

    probe = probe_rotations(world, rotations=2)
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
