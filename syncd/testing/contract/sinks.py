"""The behaviour every sink has: :class:`SinkContract`."""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
from datetime import UTC, datetime

import pytest

from syncd.core.models import Action, Owner, RotationMark
from syncd.errors import SecretNotManaged, SecretOwnedElsewhere, SinkConflict
from syncd.sinks.base import Sink
from syncd.testing.contract.world import MarkWriter, ReadBack, SinkUnderTest, SyncWorld, Writer


class SinkContract(SinkUnderTest):
    """Inherited tests every sink passes; see :mod:`syncd.testing.contract` for the fixtures."""

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
