"""The behaviour every sink and every provider must have, as reusable pytest test classes.

:class:`SinkContract` (with :class:`StagerContract` and :class:`LeaserContract`
for the optional sink capabilities) and :class:`ProviderContract`; a plugin
finds them through :mod:`syncd.plugin` too.

A sink's test module subclasses :class:`SinkContract` and overrides four
fixtures; the inherited tests then drive the sink through the real
:class:`~syncd.core.engine.Engine`, so they pin down exactly what operators rely on::

    class TestMySink(SinkContract):
        @pytest.fixture
        def sink(self): ...
        @pytest.fixture
        def read_back(self, sink): ...      # secret -> the text a consumer sees
        @pytest.fixture
        def write_foreign(self, sink): ...  # (secret, text): someone else writes
        @pytest.fixture
        def create_unmanaged(self, sink): ... # (secret, text): pre-existing, not syncd's
        @pytest.fixture
        def write_raw_mark(self, sink): ...   # optional: (secret, rotated_at, role) as stored

The ownership tests need no fixture: a second :class:`SyncWorld` with another
``instance`` or target name plays the other deployment.

``write_raw_mark`` records rotation metadata verbatim, as someone editing the
store could; without it the hostile-metadata test is skipped.

``read_back`` may read values (tests may); syncd itself never does. The
``text`` passed to the helpers is what the secret should hold as a string; a
key-value store may store it under a key of its choosing.

A provider's test module subclasses :class:`ProviderContract`, usually over the
provider's API stand-in (:mod:`syncd.testing.casedev`, :mod:`syncd.testing.neon`)::

    class TestMyProvider(ProviderContract):
        @pytest.fixture
        def provider(self): ...              # answers for target and not missing_target
        @pytest.fixture
        def target(self): ...                # a Target the provider has a connection for
        @pytest.fixture
        def missing_target(self): ...        # a Target whose project does not exist
        @pytest.fixture
        def unreachable_provider(self): ...  # optional: its API cannot be reached
        @pytest.fixture
        def refused_provider(self): ...      # optional: its credentials are refused
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from syncd import redaction
from syncd.core.engine import Engine
from syncd.core.fingerprint import Fingerprint
from syncd.core.formats import render
from syncd.core.lease import Lease
from syncd.core.lease import new as new_lease
from syncd.core.models import Action, ConnectionInfo, Owner, RotationMark, SinkBinding, Target
from syncd.errors import (
    ProviderAuthError,
    ProviderNotFound,
    ProviderUnavailable,
    SecretNotManaged,
    SecretOwnedElsewhere,
    SinkConflict,
    SyncdError,
)
from syncd.providers.base import Provider
from syncd.sinks.base import Leaser, Sink, Stager, WriteRequest
from syncd.testing.fakes import StaticProvider

ReadBack = Callable[[str], str]
Writer = Callable[[str, str], None]
MarkWriter = Callable[[str, str, str], None]


def _uri(password: str) -> str:
    return f"postgresql://app_owner:{password}@db.example.test:5432/appdb?sslmode=require"


class _SinkUnderTest:
    """The two fixtures every contract needs: the sink, and what a consumer reads from it."""

    format = "json"

    @pytest.fixture
    def sink(self) -> Sink:
        """The sink under test, over a store that is empty or has unique names."""
        raise NotImplementedError

    @pytest.fixture
    def read_back(self) -> ReadBack:
        """Return a function reading a secret's current value as a consumer would."""
        raise NotImplementedError


class SinkContract(_SinkUnderTest):
    """Inherited tests every sink passes; see the module docstring for the fixtures."""

    @pytest.fixture
    def write_foreign(self) -> Writer:
        """Return a function overwriting a secret as someone other than syncd would."""
        raise NotImplementedError

    @pytest.fixture
    def create_unmanaged(self) -> Writer:
        """Return a function creating a secret syncd did not create."""
        raise NotImplementedError

    @pytest.fixture
    def write_raw_mark(self) -> MarkWriter:
        """Return a function recording (rotated_at, role) metadata verbatim; optional."""
        pytest.skip("this sink's tests give no way to write raw rotation metadata")

    @pytest.fixture
    def secret_name(self) -> str:
        """A secret name no other test uses."""
        return f"contract-{secrets.token_hex(6)}"

    # -- helpers -------------------------------------------------------------

    @pytest.fixture
    def world(self, sink: Sink, secret_name: str) -> SyncWorld:
        """A provider, an engine and a target bound to the sink under test."""
        return SyncWorld(sink, secret_name, self.format)

    # -- the contract ----------------------------------------------------------

    def test_missing_secret_is_created(self, world: SyncWorld, read_back: ReadBack) -> None:
        """A secret that does not exist is created with the provider's value."""
        assert world.sync() == (Action.CREATE, True)
        assert world.password in read_back(world.secret)

    def test_unchanged_value_writes_nothing(self, world: SyncWorld) -> None:
        """A second cycle with the same value reports unchanged and writes nothing."""
        world.sync()
        assert world.sync() == (Action.UNCHANGED, False)

    def test_new_value_is_written(self, world: SyncWorld, read_back: ReadBack) -> None:
        """A rotated credential is written as the new current value, A -> B -> A included."""
        first = world.password
        world.sync()
        world.rotate()
        assert world.sync() == (Action.UPDATE, True)
        assert world.password in read_back(world.secret)
        world.rotate(first)
        assert world.sync() == (Action.UPDATE, True)
        assert first in read_back(world.secret)
        assert world.sync() == (Action.UNCHANGED, False)

    def test_drift_is_repaired(
        self, world: SyncWorld, read_back: ReadBack, write_foreign: Writer
    ) -> None:
        """A value changed outside syncd is detected as drift and restored."""
        world.sync()
        write_foreign(world.secret, "tampered")
        assert world.sync() == (Action.DRIFT, True)
        assert world.password in read_back(world.secret)
        assert world.sync() == (Action.UNCHANGED, False)

    def test_unmanaged_secret_is_refused(
        self, world: SyncWorld, read_back: ReadBack, create_unmanaged: Writer
    ) -> None:
        """A pre-existing secret syncd does not own is left untouched and the binding fails."""
        create_unmanaged(world.secret, "theirs")
        outcome = world.engine.sync_target(world.target).sinks[0]
        assert isinstance(outcome.error, SecretNotManaged)
        assert "adopt" in str(outcome.error)
        assert read_back(world.secret) == "theirs"

    def test_adopt_takes_over(
        self, world: SyncWorld, read_back: ReadBack, create_unmanaged: Writer
    ) -> None:
        """With adopt, a pre-existing secret is taken over and then managed normally."""
        create_unmanaged(world.secret, "theirs")
        world.adopt = True
        assert world.sync() == (Action.UPDATE, True)
        assert world.password in read_back(world.secret)
        world.adopt = False
        assert world.sync() == (Action.UNCHANGED, False)

    def test_secret_of_another_instance_is_refused(
        self, sink: Sink, world: SyncWorld, read_back: ReadBack
    ) -> None:
        """A secret another deployment (instance) manages is refused, untouched, with a way out."""
        other = SyncWorld(sink, world.secret, self.format, instance="team-b")
        other.sync()
        outcome = world.engine.sync_target(world.target).sinks[0]
        assert isinstance(outcome.error, SecretOwnedElsewhere)
        message = str(outcome.error)
        assert "team-b/contract" in message and "adopt: true" in message
        assert "instance" in message
        assert world.password not in message and other.password not in message
        assert other.password in read_back(world.secret)
        assert other.sync() == (Action.UNCHANGED, False)

    def test_secret_of_another_target_is_refused(
        self, sink: Sink, world: SyncWorld, read_back: ReadBack
    ) -> None:
        """A secret another target of the same instance manages is refused, untouched."""
        other = SyncWorld(sink, world.secret, self.format, target="other-target")
        other.sync()
        outcome = world.engine.sync_target(world.target).sinks[0]
        assert isinstance(outcome.error, SecretOwnedElsewhere)
        assert "other-target" in str(outcome.error)
        assert other.password in read_back(world.secret)

    def test_adopt_takes_over_from_another_instance(
        self, sink: Sink, world: SyncWorld, read_back: ReadBack
    ) -> None:
        """With adopt, a secret of another instance is rewritten and its recorded owner updated."""
        other = SyncWorld(sink, world.secret, self.format, instance="team-b")
        other.sync()
        world.rotate(other.password)  # the same value: the owner alone must still change hands
        world.adopt = True
        assert world.sync() == (Action.UPDATE, True)
        assert sink.inspect(world.secret).owner == Owner(world.instance, world.target_name)
        world.adopt = False
        assert world.sync() == (Action.UNCHANGED, False)
        world.rotate()
        assert world.sync() == (Action.UPDATE, True)
        assert world.password in read_back(world.secret)
        refused = other.engine.sync_target(other.target).sinks[0]
        assert isinstance(refused.error, SecretOwnedElsewhere)

    def test_owner_is_recorded(self, sink: Sink, world: SyncWorld) -> None:
        """A created secret reports its owner as ``<instance>/<target>``."""
        world.sync()
        assert sink.inspect(world.secret).owner == Owner(world.instance, world.target_name)

    def test_retried_write_is_idempotent(
        self, sink: Sink, world: SyncWorld, read_back: ReadBack
    ) -> None:
        """Replaying a write that already succeeded leaves one correct value behind."""
        request = world.request(sink)
        sink.write(request)
        with contextlib.suppress(SinkConflict):  # check-and-set stores refuse the replay: also safe
            sink.write(request)
        assert world.password in read_back(world.secret)
        assert world.sync() == (Action.UNCHANGED, False)

    def test_fresh_secret_has_no_rotation_mark(self, sink: Sink, world: SyncWorld) -> None:
        """A secret syncd only synced (never rotated) reports no rotation mark."""
        world.sync()
        assert sink.inspect(world.secret).rotation is None

    def test_rotation_mark_is_recorded(self, sink: Sink, world: SyncWorld) -> None:
        """A write carrying a rotation mark records it, to the second, with the value."""
        world.sync()
        mark = RotationMark(datetime(2031, 2, 3, 4, 5, 6, 789, tzinfo=UTC), "app_owner")
        world.rotate()
        sink.write(dataclasses.replace(world.request(sink), action=Action.UPDATE, rotation=mark))
        recorded = sink.inspect(world.secret).rotation
        assert recorded == mark
        assert recorded.rotated_at == datetime(2031, 2, 3, 4, 5, 6, tzinfo=UTC)
        assert world.sync() == (Action.UNCHANGED, False)

    def test_rotation_mark_is_recorded_on_create(self, sink: Sink, world: SyncWorld) -> None:
        """A secret created by a rotation records its mark and owner from the first version."""
        mark = RotationMark(datetime(2031, 2, 3, 4, 5, 6, tzinfo=UTC), "app_owner_b")
        sink.write(dataclasses.replace(world.request(sink), rotation=mark))
        state = sink.inspect(world.secret)
        assert state.rotation == mark
        assert state.owner == Owner(world.instance, world.target_name)

    def test_write_without_mark_keeps_it(
        self, sink: Sink, world: SyncWorld, write_foreign: Writer
    ) -> None:
        """A refresh and a drift repair (writes without a mark) keep the recorded rotation mark."""
        mark = RotationMark(datetime(2030, 1, 1, tzinfo=UTC), "app_owner")
        sink.write(dataclasses.replace(world.request(sink), rotation=mark))
        world.rotate()
        assert world.sync() == (Action.UPDATE, True)
        assert sink.inspect(world.secret).rotation == mark
        write_foreign(world.secret, "tampered")
        assert world.sync() == (Action.DRIFT, True)
        assert sink.inspect(world.secret).rotation == mark

    def test_later_mark_replaces_earlier(self, sink: Sink, world: SyncWorld) -> None:
        """Each rotation records its own mark, replacing the previous one (role included)."""
        first = RotationMark(datetime(2030, 1, 1, tzinfo=UTC), "app_owner")
        sink.write(dataclasses.replace(world.request(sink), rotation=first))
        world.rotate()
        second = RotationMark(datetime(2030, 2, 1, tzinfo=UTC), "app_owner_b")
        sink.write(dataclasses.replace(world.request(sink), action=Action.UPDATE, rotation=second))
        assert sink.inspect(world.secret).rotation == second

    @pytest.mark.parametrize(
        ("rotated_at", "role"),
        [
            ("2030-01-01T00:00:00Z", "bad role"),
            ("2030-01-01T00:00:00Z", "r" * 64),
            ("2030-01-01T00:00:00Z", "-dash"),
            ("2030-02-30T00:00:00Z", "app_owner"),
            ("2030-01-01 00:00:00", "app_owner"),
            ("yesterday", "app_owner"),
            ("2030-01-01T00:00:00Z" + "0" * 200, "app_owner"),
            ("", "app_owner"),
        ],
    )
    def test_malformed_mark_reads_as_none(
        self, sink: Sink, world: SyncWorld, write_raw_mark: MarkWriter, rotated_at: str, role: str
    ) -> None:
        """Rotation metadata that is not exactly syncd's recorded shape reads as no mark."""
        world.sync()
        write_raw_mark(world.secret, rotated_at, role)
        assert sink.inspect(world.secret).rotation is None

    def test_raw_mark_in_recorded_shape_reads_back(
        self, sink: Sink, world: SyncWorld, write_raw_mark: MarkWriter
    ) -> None:
        """The raw-metadata fixture writes what the sink reads (so the malformed cases mean it)."""
        world.sync()
        write_raw_mark(world.secret, "2030-01-01T00:00:00Z", "app_owner")
        mark = RotationMark(datetime(2030, 1, 1, tzinfo=UTC), "app_owner")
        assert sink.inspect(world.secret).rotation == mark

    def test_errors_name_ids_not_values(self, world: SyncWorld, create_unmanaged: Writer) -> None:
        """Errors carry the secret name but never the credential."""
        create_unmanaged(world.secret, "theirs")
        error = world.engine.sync_target(world.target).sinks[0].error
        assert error is not None
        assert world.secret in str(error)
        assert world.password not in str(error) + repr(error)


class StagerContract(_SinkUnderTest):
    """Inherited tests every :class:`~syncd.sinks.base.Stager` sink passes.

    Needs the ``sink`` (a Sink that is also a Stager) and ``read_back``
    fixtures of :class:`SinkContract`: ``read_back`` is what consumers see.
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


_MARK = RotationMark(datetime(2032, 3, 4, 5, 6, 7, tzinfo=UTC), "app_owner")


class LeaserContract(_SinkUnderTest):
    """Inherited tests every :class:`~syncd.sinks.base.Leaser` sink passes.

    Needs the ``sink`` and ``read_back`` fixtures of :class:`SinkContract`. The
    lease is what keeps two runs from both resetting a password, so these pin
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


class ProviderContract:
    """Inherited tests every provider passes; see the module docstring for the fixtures.

    What the engine relies on: a fetch answers with a validated
    :class:`~syncd.core.models.ConnectionInfo` for exactly the target asked about,
    the same credential again while it is unchanged (else every cycle would
    be a write), from several threads at once; the credential is registered
    for redaction before anyone can log it; and every failure is a
    :class:`~syncd.errors.ProviderError` that says whether to retry
    (``transient``) and names ids, never the credential.
    """

    @pytest.fixture
    def provider(self) -> Provider:
        """The provider under test."""
        raise NotImplementedError

    @pytest.fixture
    def target(self) -> Target:
        """A target ``provider`` has a connection for."""
        raise NotImplementedError

    @pytest.fixture
    def missing_target(self) -> Target:
        """A target of a project ``provider``'s API does not know."""
        raise NotImplementedError

    @pytest.fixture
    def unreachable_provider(self) -> Provider:
        """The provider configured for an API that cannot be reached; optional."""
        pytest.skip("this provider's tests give no unreachable API")

    @pytest.fixture
    def refused_provider(self) -> Provider:
        """The provider with credentials its API refuses; optional."""
        pytest.skip("this provider's tests give no refused credentials")

    def test_provider_is_a_provider(self, provider: Provider) -> None:
        """The provider has the Provider protocol's methods."""
        assert isinstance(provider, Provider)

    def test_fetch_returns_the_targets_connection(self, provider: Provider, target: Target) -> None:
        """A fetch answers with a validated connection for the project, branch and pooling asked."""
        conn = provider.fetch(target)
        assert isinstance(conn, ConnectionInfo)
        assert (conn.project, conn.branch, conn.pooled) == (
            target.project,
            target.branch,
            target.pooled,
        )
        assert conn.password.get_secret_value()

    def test_unchanged_credential_fetches_the_same(
        self, provider: Provider, target: Target
    ) -> None:
        """Two fetches of an unchanged credential give the same URI (else every cycle writes)."""
        first = provider.fetch(target).uri.get_secret_value()
        assert provider.fetch(target).uri.get_secret_value() == first

    def test_concurrent_fetches_agree(self, provider: Provider, target: Target) -> None:
        """Fetches from several threads at once all succeed with the same connection."""
        with ThreadPoolExecutor(max_workers=4) as pool:
            uris = set(pool.map(lambda _: provider.fetch(target).uri.get_secret_value(), range(8)))
        assert len(uris) == 1

    def test_fetched_credential_is_registered_for_redaction(
        self, provider: Provider, target: Target
    ) -> None:
        """The password and the URI are masked in anything logged once fetched."""
        conn = provider.fetch(target)
        for value in (conn.password.get_secret_value(), conn.uri.get_secret_value()):
            shown = redaction.scrub(f"leaked: {value} (end)")
            assert value not in shown and redaction.MASK in shown

    def test_missing_project_is_not_found(
        self, provider: Provider, target: Target, missing_target: Target
    ) -> None:
        """An unknown project is ProviderNotFound: permanent, naming the project, no credential."""
        password = provider.fetch(target).password.get_secret_value()
        with pytest.raises(ProviderNotFound) as info:
            provider.fetch(missing_target)
        assert not info.value.transient
        assert missing_target.project in str(info.value)
        assert password not in str(info.value) + repr(info.value)

    def test_unreachable_api_is_unavailable(
        self, unreachable_provider: Provider, target: Target
    ) -> None:
        """An API that cannot be reached is ProviderUnavailable: transient, retried later."""
        with pytest.raises(ProviderUnavailable) as info:
            unreachable_provider.fetch(target)
        assert info.value.transient

    def test_refused_credentials_are_an_auth_error(
        self, refused_provider: Provider, target: Target
    ) -> None:
        """Credentials the API refuses are ProviderAuthError: permanent, fix the config."""
        with pytest.raises(ProviderAuthError) as info:
            refused_provider.fetch(target)
        assert not info.value.transient
        assert isinstance(info.value, SyncdError)


class SyncWorld:
    """One target wired to a sink through a static provider; usable outside the contract too."""

    def __init__(
        self,
        sink: Sink,
        secret: str,
        fmt: str,
        *,
        instance: str = "contract-instance",
        target: str = "contract",
    ) -> None:
        self.sink = sink
        self.secret = secret
        self.format = fmt
        self.instance = instance
        self.target_name = target
        self.adopt = False
        self.provider = StaticProvider()
        self.rotate()

    @property
    def target(self) -> Target:
        """The target ``target_name``, bound to the sink under the name ``sink``."""
        binding = SinkBinding("sink", self.secret, self.format, adopt=self.adopt)
        return Target(self.target_name, "p", "proj_contract", sinks=(binding,))

    @property
    def engine(self) -> Engine:
        """An engine over the static provider and the sink."""
        return Engine(
            {"p": self.provider}, {"sink": self.sink}, concurrency=1, instance=self.instance
        )

    def rotate(self, password: str | None = None) -> None:
        """Change the provider's password (to ``password``, or a fresh one)."""
        self.password = password or f"pw{secrets.token_hex(12)}"
        self.provider.uris[("proj_contract", "main", False)] = _uri(self.password)

    def sync(self) -> tuple[Action | None, bool]:
        """Run one sync of the target; return (action, written), failing on any error."""
        outcome = self.engine.sync_target(self.target)
        assert outcome.error is None, outcome.error
        (result,) = outcome.sinks
        assert result.error is None, result.error
        return result.action, result.written

    def request(self, sink: Sink) -> WriteRequest:
        """Build the write request a sync would send for the current value."""
        conn = self.provider.fetch(self.target)
        document = render(conn, self.format)
        return WriteRequest(
            target=self.target_name,
            secret=self.secret,
            document=document,
            fingerprint=Fingerprint.of(document.text),
            observed=sink.inspect(self.secret),
            action=Action.CREATE,
            instance=self.instance,
        )
