"""The optional sink capabilities' behaviour: :class:`StagerContract`, :class:`LeaserContract`.

A sink that offers staging or leases (:mod:`syncd.sinks.base`) runs these
next to :class:`~syncd.testing.contract.SinkContract`, over the same fixtures.
"""

from __future__ import annotations

import dataclasses
import secrets
from datetime import UTC, datetime

import pytest

from syncd.core.lease import Lease
from syncd.core.lease import new as new_lease
from syncd.core.models import Action, Owner, RotationMark
from syncd.errors import SinkConflict
from syncd.sinks.base import Leaser, Sink, Stager, WriteRequest
from syncd.testing.contract.world import ReadBack, SinkUnderTest, SyncWorld

_MARK = RotationMark(datetime(2032, 3, 4, 5, 6, 7, tzinfo=UTC), "app_owner")


class StagerContract(SinkUnderTest):
    """Inherited tests every :class:`~syncd.sinks.base.Stager` sink passes.

    Needs the ``sink`` (a Sink that is also a Stager) and ``read_back`` fixtures
    of :class:`~syncd.testing.contract.SinkContract`: ``read_back`` is what
    consumers see.
    """

    @pytest.fixture
    def secret_name(self) -> str:
        """A secret name no other test uses."""
        return f"stager-{secrets.token_hex(6)}"

    @pytest.fixture
    def world(self, sink: Sink, secret_name: str) -> SyncWorld:
        """A target already synced once into the sink (staging needs an existing secret)."""
        world = SyncWorld(sink, secret_name, self.format)
        world.sync()
        return world

    @staticmethod
    def staged(sink: Sink, world: SyncWorld) -> tuple[Stager, WriteRequest, str]:
        """Rotate the provider's password and stage it; return the stager, request and version."""
        assert isinstance(sink, Stager)
        world.rotate()
        request = dataclasses.replace(world.request(sink), action=Action.UPDATE, rotation=_MARK)
        return sink, request, sink.stage(request)

    def test_sink_is_a_stager(self, sink: Sink) -> None:
        """The sink offers the optional staging capability."""
        assert isinstance(sink, Stager)

    def test_staged_version_is_pending_not_current(
        self, sink: Sink, world: SyncWorld, read_back: ReadBack
    ) -> None:
        """A staged version is reported as pending; consumers still read the old value."""
        before = sink.inspect(world.secret)
        old = read_back(world.secret)
        _, _, version = self.staged(sink, world)
        state = sink.inspect(world.secret)
        assert state.pending == version
        assert state.version == before.version and version != before.version
        assert read_back(world.secret) == old
        assert world.password not in old
        assert state.rotation is None

    def test_stage_is_idempotent(self, sink: Sink, world: SyncWorld) -> None:
        """Staging the same request twice gives the same version and one pending version."""
        stager, request, version = self.staged(sink, world)
        assert stager.stage(request) == version
        assert sink.inspect(world.secret).pending == version

    def test_promote_makes_staged_current(
        self, sink: Sink, world: SyncWorld, read_back: ReadBack
    ) -> None:
        """Promotion makes the staged value current, records mark and owner, leaves no pending."""
        stager, request, version = self.staged(sink, world)
        stager.promote(request, version)
        state = sink.inspect(world.secret)
        assert world.password in read_back(world.secret)
        assert state.pending is None
        assert state.rotation == _MARK
        assert state.owner == Owner(world.instance, world.target_name)
        assert world.sync() == (Action.UNCHANGED, False)

    def test_discard_keeps_current(self, sink: Sink, world: SyncWorld, read_back: ReadBack) -> None:
        """Discarding a staged version leaves the current value and no pending; twice is a no-op."""
        old = read_back(world.secret)
        stager, _, version = self.staged(sink, world)
        stager.discard(world.secret, version)
        stager.discard(world.secret, version)
        state = sink.inspect(world.secret)
        assert state.pending is None
        assert read_back(world.secret) == old

    def test_discarded_version_cannot_be_promoted(
        self, sink: Sink, world: SyncWorld, read_back: ReadBack
    ) -> None:
        """A discarded (abandoned) version is refused by promote; the current value stays."""
        old = read_back(world.secret)
        stager, request, version = self.staged(sink, world)
        stager.discard(world.secret, version)
        with pytest.raises(SinkConflict):
            stager.promote(request, version)
        assert read_back(world.secret) == old

    def test_new_stage_replaces_pending(self, sink: Sink, world: SyncWorld) -> None:
        """Staging another value moves the pending stage to it: one pending version at most."""
        stager, _, first = self.staged(sink, world)
        _, request, second = self.staged(sink, world)
        assert first != second
        assert sink.inspect(world.secret).pending == second
        stager.promote(request, second)
        assert sink.inspect(world.secret).pending is None

    def test_stage_after_concurrent_write_conflicts(
        self, sink: Sink, world: SyncWorld, read_back: ReadBack
    ) -> None:
        """Staging against a state that changed since inspection raises SinkConflict."""
        assert isinstance(sink, Stager)
        world.rotate()
        request = dataclasses.replace(world.request(sink), action=Action.UPDATE)
        world.rotate()
        world.sync()
        with pytest.raises(SinkConflict):
            sink.stage(request)
        assert world.password in read_back(world.secret)

    def test_promote_after_concurrent_write_conflicts(
        self, sink: Sink, world: SyncWorld, read_back: ReadBack
    ) -> None:
        """Promotion refuses when the current version changed since inspection (a second writer)."""
        stager, request, version = self.staged(sink, world)
        other = SyncWorld(sink, world.secret, self.format)
        other.sync()
        with pytest.raises(SinkConflict):
            stager.promote(request, version)
        assert other.password in read_back(world.secret)
        assert world.password not in read_back(world.secret)

    def test_stage_of_missing_secret_conflicts(self, sink: Sink, secret_name: str) -> None:
        """Staging needs an existing secret: a missing one raises SinkConflict, creates nothing."""
        assert isinstance(sink, Stager)
        world = SyncWorld(sink, f"{secret_name}-missing", self.format)
        request = world.request(sink)
        observed = dataclasses.replace(request.observed, exists=True, version="v1")
        with pytest.raises(SinkConflict):
            sink.stage(dataclasses.replace(request, observed=observed))
        assert not sink.inspect(world.secret).exists

    def test_plain_write_leaves_pending_for_discard(
        self, sink: Sink, world: SyncWorld, read_back: ReadBack
    ) -> None:
        """A normal write while a version is staged keeps it pending until discarded."""
        stager, _, version = self.staged(sink, world)
        world.rotate()
        assert world.sync() == (Action.UPDATE, True)
        assert sink.inspect(world.secret).pending == version
        stager.discard(world.secret, version)
        assert sink.inspect(world.secret).pending is None
        assert world.password in read_back(world.secret)


class LeaserContract(SinkUnderTest):
    """Inherited tests every :class:`~syncd.sinks.base.Leaser` sink passes.

    Needs the ``sink`` and ``read_back`` fixtures of
    :class:`~syncd.testing.contract.SinkContract`. The lease is what keeps two
    runs from both resetting a password, so these pin
    the compare-and-set: of two takers only one wins, a stale release changes
    nothing, and nothing a consumer reads changes.
    """

    @pytest.fixture
    def world(self, sink: Sink) -> SyncWorld:
        """A target synced once (some stores keep the lease on the secret itself)."""
        world = SyncWorld(sink, f"leaser-{secrets.token_hex(6)}", self.format)
        world.sync()
        return world

    @staticmethod
    def leaser(sink: Sink) -> Leaser:
        """``sink`` as a Leaser (the first test says whether it is one)."""
        assert isinstance(sink, Leaser)
        return sink

    def test_sink_is_a_leaser(self, sink: Sink) -> None:
        """The sink offers the optional lease capability."""
        assert isinstance(sink, Leaser)

    def test_no_lease_reads_as_none(self, sink: Sink, world: SyncWorld) -> None:
        """A secret never leased has no lease record."""
        assert self.leaser(sink).read_lease(world.secret) is None

    def test_taken_lease_reads_back(self, sink: Sink, world: SyncWorld) -> None:
        """What was taken reads back whole: holder, expiry, intent and process."""
        leaser = self.leaser(sink)
        lease = _lease()
        held = leaser.take_lease(world.secret, lease, None)
        seen = leaser.read_lease(world.secret)
        assert seen is not None and seen.token == held.token
        assert seen.lease == lease

    def test_only_one_of_two_takers_wins(self, sink: Sink, world: SyncWorld) -> None:
        """Both read "no lease"; the second compare-and-set must fail."""
        leaser = self.leaser(sink)
        first = leaser.take_lease(world.secret, _lease(), None)
        with pytest.raises(SinkConflict):
            leaser.take_lease(world.secret, _lease(), None)
        seen = leaser.read_lease(world.secret)
        assert seen is not None and seen.token == first.token

    def test_take_over_names_what_it_replaces(self, sink: Sink, world: SyncWorld) -> None:
        """Taking over needs the record being replaced; a run that read an older one loses."""
        leaser = self.leaser(sink)
        first = leaser.take_lease(world.secret, _lease(), None)
        second = leaser.take_lease(world.secret, _lease(), first)
        with pytest.raises(SinkConflict):  # a third run that read the first lease loses
            leaser.take_lease(world.secret, _lease(), first)
        seen = leaser.read_lease(world.secret)
        assert seen is not None and seen.token == second.token

    def test_release_frees_and_a_stale_release_does_nothing(
        self, sink: Sink, world: SyncWorld
    ) -> None:
        """Releasing frees the lease; a holder that lost it releases nothing of the next one."""
        leaser = self.leaser(sink)
        first = leaser.take_lease(world.secret, _lease(), None)
        leaser.release_lease(world.secret, first)
        freed = leaser.read_lease(world.secret)
        assert freed is None or freed.lease is None
        second = leaser.take_lease(world.secret, _lease(), freed)
        leaser.release_lease(world.secret, first)  # the first holder, late: no effect
        seen = leaser.read_lease(world.secret)
        assert seen is not None and seen.token == second.token

    def test_lease_changes_nothing_consumers_read(
        self, sink: Sink, world: SyncWorld, read_back: ReadBack
    ) -> None:
        """Taking and releasing a lease leaves the secret's value and state as they were."""
        before, state = read_back(world.secret), sink.inspect(world.secret)
        leaser = self.leaser(sink)
        held = leaser.take_lease(world.secret, _lease(), None)
        leaser.release_lease(world.secret, held)
        after = sink.inspect(world.secret)
        assert read_back(world.secret) == before
        assert (after.version, after.fingerprint, after.pending) == (
            state.version,
            state.fingerprint,
            state.pending,
        )
        assert world.sync() == (Action.UNCHANGED, False)


def _lease() -> Lease:
    return new_lease(datetime.now(UTC), RotationMark(datetime.now(UTC), "app_owner"))
