"""Rotation left running unattended, end to end through the CLI.

Real ``syncd`` processes against the Neon stand-in (over a real PostgreSQL and
PgBouncer), moto's server behind a killing proxy, OpenBao and the file sink
(tests/support/rotationworld.py). Each test counts the resets Neon carried out, so "one
reset" is what the server saw, not what syncd says; and each ends with the
canary: no password, old or new, nor the Neon API key, in any output.
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import httpx
import pytest

from syncd.testing.casedev import SeenRequest
from tests.conftest import CliResult, connects
from tests.support.rotationworld import (
    AWS_SECRET,
    TARGET,
    Probe,
    RotationWorld,
    lease_released,
    lease_taken,
    password_of,
    promoting,
    staged,
    user_of,
)

KILLED = -signal.SIGKILL
pytestmark = pytest.mark.e2e


@pytest.fixture
def world(rotation: RotationWorld) -> RotationWorld:
    """The rotation world (tests/conftest.py), configured for reset mode."""
    rotation.write_config("reset")
    return rotation


def seed(world: RotationWorld, role: str | None = None) -> None:
    """A first run --once: never rotated, so it rotates (to ``role``) and publishes."""
    result = world.run("run", "--once")
    assert result.code == 0, result.output
    world.assert_converged(role)


# -- never start what cannot be finished ---------------------------------------------------


def test_without_psycopg_nothing_is_reset(world: RotationWorld, tmp_path: Path) -> None:
    """rotate and a due run --once exit 2 naming syncd[rotation]; check fails; nothing changes."""
    seed(world)
    before, published = world.resets(), world.published()
    hidden = tmp_path / "no-psycopg" / "psycopg"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('psycopg is hidden by the test')\n")
    world.extra_env = {"PYTHONPATH": str(hidden.parent)}
    world.age_marks()  # due
    for args in (("rotate", TARGET), ("run", "--once"), ("check",), ("rotate", "--dry-run", TARGET)):
        result = world.run(*args)
        assert result.code == 2, (args, result.output)
        assert "syncd[rotation]" in result.stderr, (args, result.output)
        assert "Traceback" not in result.output
    assert world.resets() == before
    assert world.published() == published
    for uri in published.values():
        assert connects(uri) == world.creds.role
    world.assert_no_leak()


def test_a_second_deployment_resets_nothing_and_names_the_owner(world: RotationWorld) -> None:
    """Another instance's rotate and due run --once fail on ownership before any reset."""
    seed(world)
    before, published = world.resets(), world.published()
    world.write_config("reset", instance="other-team")
    world.age_marks()
    for args in (("rotate", TARGET), ("run", "--once")):
        result = world.run(*args)
        assert result.code == 1, (args, result.output)
        assert "default/billing" in result.output, result.output
    assert world.resets() == before
    assert world.published() == published
    check = world.run("check")
    assert check.code == 1 and "default/billing" in check.stdout
    world.assert_no_leak()


def test_aws_managed_rotation_is_left_alone(world: RotationWorld) -> None:
    """A secret with RotationEnabled and another rotator's AWSPENDING: no reset, AWS untouched."""
    seed(world)
    world.sm.rotate_secret(SecretId=AWS_SECRET, RotationRules={"AutomaticallyAfterDays": 30})
    current = _stage_versions(world)["AWSCURRENT"]
    world.sm.put_secret_value(  # what a rotation Lambda's createSecret step leaves
        SecretId=AWS_SECRET,
        ClientRequestToken="8c1f4c5e-2a6f-4c43-9d6b-0d1e6f2a9b11",
        SecretString=json.dumps({"uri": "postgresql://lambda:pending@db.invalid/x"}),
        VersionStages=["AWSPENDING"],
    )
    stages = _stage_versions(world)
    before = world.resets()
    for args in (("rotate", TARGET), ("run", "--once")):
        world.age_marks()
        result = world.run(*args)
        assert result.code == 1, (args, result.output)
        assert "AWS-managed rotation" in result.stdout, result.output
    assert world.resets() == before
    assert _stage_versions(world) == stages, "AWSCURRENT or AWSPENDING was moved"
    assert stages["AWSCURRENT"] == current
    check = world.run("check")
    assert check.code == 1 and "AWS-managed rotation" in check.stdout
    world.assert_no_leak()


def _stage_versions(world: RotationWorld) -> dict[str, str]:
    versions = world.sm.list_secret_version_ids(SecretId=AWS_SECRET, IncludeDeprecated=True)
    return {
        stage: v["VersionId"]
        for v in versions["Versions"]
        for stage in v.get("VersionStages", [])
        if stage in ("AWSCURRENT", "AWSPENDING")
    }


# -- one writer -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["reset", "alternate"])
def test_overlapping_rotates_reset_once_per_round(world: RotationWorld, mode: str) -> None:
    """Two `syncd rotate` started at random offsets: exactly one reset per round, sinks agree.

    In alternate mode a client reconnecting every 50 ms with what the sinks
    publish never fails to authenticate.
    """
    first_role = None
    if mode == "alternate":
        first_role = world.create_alternate_role()
        world.write_config("alternate", alternate_role=first_role)
    seed(world, first_role)
    world.api.operation_delay = 1.0  # a wide window between the reset and its effect
    client = boto3.client(
        "secretsmanager",
        endpoint_url=world.sm.meta.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    probe = Probe({"files": world.file_uri, "aws": lambda: world.aws_uri(client)})
    probe.start()
    rng = random.Random(16)
    try:
        for round_ in range(3):
            before = world.resets()
            offset = rng.uniform(0, 0.8)
            first = world.start("rotate", TARGET)
            time.sleep(offset)
            second = world.start("rotate", TARGET)
            results = [first.wait(), second.wait()]
            world.outputs += results
            print(f"{mode} round {round_}: offset {offset:.2f}s, codes {[r.code for r in results]}")
            assert [r.code for r in results] == [0, 0], [r.output for r in results]
            assert world.resets() - before == 1, f"round {round_}: {world.resets() - before} resets"
            assert world.api.settled()
            uris = world.published()
            assert len(set(uris.values())) == 1, "the sinks disagree"
            time.sleep(0.3)
    finally:
        probe.stop()
        client.close()
    role = user_of(world.file_uri())
    world.assert_converged(role)
    print(f"{mode}: {probe.probes} probes, {probe.auth_failures} authentication failures")
    if mode == "alternate":
        assert probe.auth_failures == 0
        assert probe.other_failures == []
    world.assert_no_leak()


def test_a_rotation_that_finds_the_lease_held_waits_and_resets_nothing(
    world: RotationWorld,
) -> None:
    """A rotate paused right after taking the lease; a second rotate meanwhile never resets."""
    seed(world)
    before = world.resets()
    taken = world.proxy.hold(lease_taken, 4.0)  # the holder pauses with the lease in hand
    holder = world.start("rotate", TARGET)
    assert taken.wait(30), "the holder never took the lease"
    second = world.run("rotate", "--output", "json", TARGET)
    first = holder.wait()
    world.outputs.append(first)
    assert (first.code, second.code) == (0, 0), (first.output, second.output)
    assert world.resets() - before == 1
    assert "rotation_held_elsewhere" in second.stderr
    assert json.loads(second.stdout)["targets"][0]["rotation"] is None
    world.assert_converged()
    world.assert_no_leak()


# -- resume after a crash ----------------------------------------------------------------------


def _reset_answered(world: RotationWorld) -> Callable[[SeenRequest], bool]:
    before = world.resets()
    return lambda r: world.resets() > before and not r.path.endswith("/reset_password")


def _arm(world: RotationWorld, point: str, pid: int) -> None:
    """Kill ``pid`` at ``point``, as the servers see the protocol (no hook inside syncd)."""
    if point == "lease_taken":
        world.proxy.arm(lease_taken, pid)
    elif point == "after_reset":
        world.kill_on_neon(_reset_answered(world), pid)
    elif point == "polling_operations":
        world.kill_on_neon(lambda r: "/operations/" in r.path, pid)
    elif point == "after_pending":
        world.proxy.arm(staged, pid)
    elif point == "before_promotion":
        world.proxy.arm(promoting, pid, before=True)
    elif point == "mid_publish":
        world.proxy.arm(promoting, pid)
    else:  # before_release: everything published, the lease still held
        world.proxy.arm(lease_released, pid, before=True)


POINTS = (
    "lease_taken",
    "after_reset",
    "polling_operations",
    "after_pending",
    "before_promotion",
    "mid_publish",
    "before_release",
)


def _killed_due_run(world: RotationWorld, point: str) -> CliResult:
    world.age_marks()
    running = world.start("run", "--once")
    _arm(world, point, running.pid)
    result = running.wait()
    world.api.on_request = None
    world.proxy.disarm()
    world.outputs.append(result)
    assert result.code == KILLED, f"not killed at {point}: {result.output}"
    assert world.api.settled()
    return result


def test_a_due_rotation_killed_anywhere_resets_exactly_once(world: RotationWorld) -> None:
    """kill -9 at each protocol point of a due run --once; the next run --once converges, one reset."""
    seed(world)
    for point in POINTS:
        before = world.resets()
        _killed_due_run(world, point)
        recovered = world.run("run", "--once", "--output", "json")
        assert recovered.code == 0, f"{point}: {recovered.output}"
        world.assert_converged()
        print(f"{point}: {world.resets() - before} reset(s)")
        assert world.resets() - before == 1, f"{point}: {world.resets() - before} resets"
        report = json.loads(recovered.stdout)["targets"][0]
        if point not in ("lease_taken", "before_release"):
            assert report["rotation"]["resumed"] is True, (point, report)
        again = world.run("run", "--once")
        assert again.code == 0 and world.resets() - before == 1, f"{point}: reset again"
    world.assert_no_leak()


def test_after_a_crash_the_sinks_converge_even_when_resets_fail(world: RotationWorld) -> None:
    """Killed after its reset; then Neon answers 423 to every reset: the sinks still converge."""
    seed(world)
    before = world.resets()
    _killed_due_run(world, "after_reset")
    dead = world.published()
    assert any(password_of(u) != world.neon_password() for u in dead.values())
    world.api.lock_for(3600)
    try:
        recovered = world.run("run", "--once")
        assert recovered.code == 0, recovered.output
        world.assert_converged()
        assert world.resets() - before == 1
    finally:
        world.api.lock_for(0)
    world.assert_no_leak()


# -- what it says ------------------------------------------------------------------------------


def test_report_and_check_say_what_rotation_did(world: RotationWorld) -> None:
    """The JSON report names the rotation and its role; the table says rotate; check sees roles."""
    seed(world)
    result = world.run("rotate", "--output", "json", TARGET)
    assert result.code == 0, result.output
    target = json.loads(result.stdout)["targets"][0]
    rotation = target["rotation"]
    assert rotation["mode"] == "reset" and rotation["role"] == world.creds.role
    assert rotation["reset_role"] == world.creds.role and 0 < rotation["window_s"] < 10
    assert {s["action"] for s in target["sinks"]} == {"rotate"}
    unchanged = json.loads(world.run("run", "--once", "--output", "json").stdout)
    assert unchanged["targets"][0]["rotation"] is None
    table = world.run("rotate", TARGET)
    assert table.code == 0 and "rotate (written)" in table.stdout and "rotated" in table.stdout

    world.write_config("alternate", alternate_role=world.alt_role)  # the role does not exist
    check = world.run("check")
    assert check.code == 1, check.output
    assert f"role {world.alt_role}" in check.stdout and "CREATE ROLE" in check.stdout
    world.assert_no_leak()


def test_the_daemon_rotates_a_due_target_once_and_not_again(world: RotationWorld) -> None:
    """`syncd run`: the never-rotated target is rotated in the first cycle, not in the next ones."""
    import yaml

    world.write_config("reset", level="debug")
    data = yaml.safe_load(world.config.read_text())
    data["targets"][0].update({"interval": "10s", "jitter": "0s"})
    world.config.write_text(yaml.safe_dump(data))
    daemon = world.start("run")
    try:
        deadline = time.monotonic() + 60
        while world.resets() == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert world.resets() == 1, "the first cycle did not rotate"
        time.sleep(22)  # two more cycles
        assert daemon.proc.poll() is None, "the daemon stopped"
    finally:
        daemon.proc.send_signal(signal.SIGTERM)
        result = daemon.wait()
        world.outputs.append(result)
    assert result.code == 0, result.output
    assert result.stderr.count('"rotation_checked"') >= 3, "fewer than three cycles ran"
    assert world.resets() == 1, "a later cycle rotated again"
    world.assert_converged()
    world.assert_no_leak()


def test_too_many_operations_fail_in_one_line_and_the_next_run_finishes(
    world: RotationWorld,
) -> None:
    """A reset answer listing 100 operations (the cap is 64): `rotate` fails fast in one
    line, and the next `run --once` publishes the working password without a second reset."""
    seed(world)
    real = world.api._reset

    def hostile(project: str, branch_id: str, role: str) -> httpx.Response:
        answer = real(project, branch_id, role)
        body = json.loads(answer.content)
        extra = [{"id": f"op-{i:05d}", "status": "finished"} for i in range(100)]
        body["operations"] = body["operations"] + extra
        return httpx.Response(answer.status_code, json=body)

    world.api._reset = hostile  # type: ignore[method-assign]
    before = world.resets()
    started = time.monotonic()
    failed = world.run("rotate", TARGET)
    elapsed = time.monotonic() - started
    world.api._reset = real  # type: ignore[method-assign]
    assert failed.code == 1, failed.output
    assert elapsed < 60
    assert "operations" in failed.stdout and "Traceback" not in failed.output
    assert world.api.settled()
    recovered = world.run("run", "--once")
    assert recovered.code == 0, recovered.output
    world.assert_converged()
    assert world.resets() - before == 1
    world.assert_no_leak()
