"""Unit tests for syncd.core.rotation.guards: due-ness, the published and reset roles, what blocks a reset."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from syncd.core.models import (
    Owner,
    RotationMark,
    RotationMode,
    SecretState,
    SinkBinding,
)
from syncd.core.rotation import Rotations, is_due, published_role
from syncd.core.rotation.guards import survey
from syncd.core.rotation.job import Job, View
from syncd.testing.fakes import MemorySink
from tests.support.rotation import DAY, NOW, FakeRotator, rotations, target


def test_due_when_a_mark_is_missing_old_or_far_in_the_future() -> None:
    """A target is due with no mark, a mark older than every, or one more than a day ahead."""
    fresh = SecretState(True, rotation=RotationMark(NOW - timedelta(days=1), "app"))
    old = SecretState(True, rotation=RotationMark(NOW - timedelta(days=31), "app"))
    future = SecretState(True, rotation=RotationMark(NOW + timedelta(days=2), "app"))
    assert not is_due([fresh, fresh], 30 * DAY, NOW)
    assert is_due([fresh, SecretState(True)], 30 * DAY, NOW)
    assert is_due([fresh, old], 30 * DAY, NOW)
    assert is_due([future], 30 * DAY, NOW)


def test_published_role_is_the_newest_marks() -> None:
    """The published role is the newest mark's, or the target's role without marks."""
    t = target(RotationMode.ALTERNATE)
    a = SecretState(True, rotation=RotationMark(NOW - timedelta(days=2), "app"))
    b = SecretState(True, rotation=RotationMark(NOW - timedelta(days=1), "app_b"))
    assert published_role(t, [a, b]) == "app_b"
    assert published_role(t, [SecretState(True)]) == "app"


def test_alternate_switches_roles_and_keeps_the_published_one_working() -> None:
    """Alternate mode resets the role not published, then publishes it; the old role keeps working."""
    neon, sink = FakeRotator(), MemorySink("mem")
    t = target(RotationMode.ALTERNATE)
    assert rotations(neon, sink)(t).ok
    assert neon.resets == ["app_b"]
    first = sink.read("billing/a")
    assert json.loads(first or "")["username"] == "app_b"
    assert rotations(neon, sink, force=True)(t).ok
    assert neon.resets == ["app_b", "app"]
    assert json.loads(sink.read("billing/a") or "")["username"] == "app"
    assert neon.working["app_b"] == json.loads(first or "")["password"]  # still valid


def test_alternate_without_the_second_role_says_how_to_create_it() -> None:
    """A missing second role fails with CREATE ROLE and GRANT in the message, and resets nothing."""
    neon, sink = FakeRotator(passwords={"app": "pw-app-0"}), MemorySink("mem")
    outcome = rotations(neon, sink)(target(RotationMode.ALTERNATE))
    assert outcome.error is not None and not outcome.ok
    assert "CREATE ROLE app_b" in str(outcome.error) and "GRANT app TO app_b" in str(outcome.error)
    assert neon.resets == []


@pytest.mark.parametrize("mode", [RotationMode.RESET, RotationMode.ALTERNATE])
def test_a_sink_that_cannot_be_inspected_blocks_the_reset(mode: RotationMode) -> None:
    """No reset happens unless every sink can be inspected (it could not be given the new password)."""
    neon, sink = FakeRotator(), MemorySink("mem")

    class Broken(MemorySink):
        def inspect(self, secret: str) -> SecretState:
            from syncd.errors import SinkUnavailable

            raise SinkUnavailable("memory sink down")

    t = replace(target(mode), sinks=(SinkBinding("mem", "a"), SinkBinding("down", "b")))
    r = Rotations({"neon": neon}, {"mem": sink, "down": Broken("down")}, prove=neon.prove)
    outcome = r(t)
    assert not outcome.ok and neon.resets == []


def test_survey_keeps_usable_secrets_and_blocks_on_another_rotator_or_owner() -> None:
    """A secret another rotator manages, or another target owns, fails and blocks; the rest are kept."""
    t = replace(
        target(),
        sinks=(SinkBinding("mem", "a"), SinkBinding("mem", "b"), SinkBinding("mem", "c")),
    )
    assert t.rotation is not None
    sink = MemorySink("mem")
    job = Job(t, t.rotation, FakeRotator())
    mine = Owner("test", "billing")
    views = [
        View(t.sinks[0], sink, SecretState(True, managed=True, owner=mine)),
        View(t.sinks[1], sink, SecretState(True, managed=True, owner=mine, foreign_rotation="x")),
        View(t.sinks[2], sink, SecretState(True, managed=True, owner=Owner("test", "other"))),
    ]
    survey(job, views, mine)
    assert [v.binding.secret for v in job.views] == ["a"]
    assert len(job.blocked) == 2 and "rotated by someone else" in job.blocked[0]
    assert {k for k, o in job.outcomes.items() if o.error is not None} == {("mem", "b"), ("mem", "c")}
