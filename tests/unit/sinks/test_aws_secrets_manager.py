"""Tests for the AWS Secrets Manager sink against moto's server over real HTTP."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from syncd.core.models import Action, RotationMark
from syncd.errors import SinkAuthError, SinkConflict
from syncd.sinks.aws_secrets_manager import AwsSecretsManagerSink
from syncd.sinks.base import WriteRequest
from syncd.testing.contract import (
    LeaserContract,
    MarkWriter,
    ReadBack,
    SinkContract,
    StagerContract,
    SyncWorld,
    Writer,
)
from tests.support.aws import (
    LEAST_PRIVILEGE_POLICY,
    make_sink,
)
from tests.support.servers.moto import MotoServer


def current(client: Any, secret: str) -> str:
    # Always name the stage: moto answers a stage-less read with the old version.
    return str(client.get_secret_value(SecretId=secret, VersionStage="AWSCURRENT")["SecretString"])


class TestAwsContract(SinkContract):
    """The AWS Secrets Manager sink passes the sink contract."""

    @pytest.fixture
    def sink(self, aws: MotoServer) -> Iterator[AwsSecretsManagerSink]:
        sink = make_sink(aws)
        yield sink
        sink.close()

    @pytest.fixture
    def read_back(self, sm_client: Any) -> ReadBack:
        return lambda secret: current(sm_client, secret)

    @pytest.fixture
    def write_foreign(self, sm_client: Any) -> Writer:
        return lambda secret, text: sm_client.put_secret_value(SecretId=secret, SecretString=text)

    @pytest.fixture
    def create_unmanaged(self, sm_client: Any) -> Writer:
        return lambda secret, text: sm_client.create_secret(Name=secret, SecretString=text)

    @pytest.fixture
    def write_raw_mark(self, sm_client: Any) -> MarkWriter:
        def write(secret: str, rotated_at: str, role: str) -> None:
            tags = {"syncd:rotated-at": rotated_at, "syncd:role": role}
            sm_client.tag_resource(
                SecretId=secret, Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
            )

        return write


class TestAwsRotation(StagerContract, LeaserContract):
    """The AWS sink stages through AWSPENDING like AWS's own rotation functions, and its
    rotation lease is a version label moved with compare-and-set."""

    @pytest.fixture
    def sink(self, aws: MotoServer) -> Iterator[AwsSecretsManagerSink]:
        sink = make_sink(aws)
        yield sink
        sink.close()

    @pytest.fixture
    def read_back(self, sm_client: Any) -> ReadBack:
        return lambda secret: current(sm_client, secret)


def test_created_secret_is_tagged_and_described(aws: MotoServer, sm_client: Any) -> None:
    """A created secret carries ownership tags, the user's tags and the description."""
    sink = make_sink(aws, tags={"team": "platform"}, description="db for app")
    SyncWorld(sink, "prod/app/database", "json").sync()
    described = sm_client.describe_secret(SecretId="prod/app/database")
    tags = {t["Key"]: t["Value"] for t in described["Tags"]}
    assert tags == {
        "managed-by": "syncd",
        "syncd:target": "contract",
        "syncd:owner": "contract-instance/contract",
        "team": "platform",
    }
    assert described["Description"] == "db for app"
    sink.close()


def test_previous_value_stays_reachable(aws: MotoServer, sm_client: Any) -> None:
    """After a rotation the old value is AWSPREVIOUS and no extra versions appear."""
    sink = make_sink(aws)
    world = SyncWorld(sink, "app/db", "uri")
    world.sync()
    first = world.password
    world.sync()
    world.rotate()
    world.sync()
    previous = sm_client.get_secret_value(SecretId="app/db", VersionStage="AWSPREVIOUS")[
        "SecretString"
    ]
    assert first in previous
    assert world.password in current(sm_client, "app/db")
    versions = sm_client.list_secret_version_ids(SecretId="app/db")["Versions"]
    assert len(versions) == 2
    sink.close()


def test_secret_of_older_syncd_gets_its_owner_on_next_write(
    aws: MotoServer, sm_client: Any
) -> None:
    """A secret tagged by an older syncd (target, no owner) is ours by target name, then tagged."""
    tags = [{"Key": "managed-by", "Value": "syncd"}, {"Key": "syncd:target", "Value": "contract"}]
    sm_client.create_secret(Name="legacy/db", SecretString="old", Tags=tags)
    sink = make_sink(aws)
    world = SyncWorld(sink, "legacy/db", "uri")
    assert world.sync() == (Action.DRIFT, True)
    described = sm_client.describe_secret(SecretId="legacy/db")
    assert {t["Key"]: t["Value"] for t in described["Tags"]}["syncd:owner"] == (
        "contract-instance/contract"
    )
    other = SyncWorld(sink, "legacy/db", "uri", target="someone-else")
    assert other.engine.sync_target(other.target).sinks[0].error is not None
    sink.close()


def test_least_privilege_policy_is_enough(aws: MotoServer, sm_client: Any) -> None:
    """With only the README's IAM policy (no GetSecretValue) create, unchanged, update and drift work."""
    keys = aws.create_user_with_policy(LEAST_PRIVILEGE_POLICY)
    with aws.iam_enforced():
        sink = make_sink(aws, keys)
        world = SyncWorld(sink, "prod/app/database", "json")
        assert world.sync() == (Action.CREATE, True)
        assert world.sync() == (Action.UNCHANGED, False)
        world.rotate()
        assert world.sync() == (Action.UPDATE, True)
        restricted = boto3.client("secretsmanager", **aws.client_kwargs(keys))
        with pytest.raises(restricted.exceptions.ClientError, match="AccessDenied"):
            restricted.get_secret_value(SecretId="prod/app/database")
        restricted.close()
        sink.close()
    assert world.password in current(sm_client, "prod/app/database")


def test_secret_scheduled_for_deletion_is_explained(aws: MotoServer, sm_client: Any) -> None:
    """A secret pending deletion is refused with a hint to restore it."""
    sink = make_sink(aws)
    SyncWorld(sink, "app/gone", "uri").sync()
    sm_client.delete_secret(SecretId="app/gone", RecoveryWindowInDays=7)
    world = SyncWorld(sink, "app/gone", "uri")
    error = world.engine.sync_target(world.target).sinks[0].error
    assert error is not None and "scheduled for deletion" in str(error)
    sink.close()


@pytest.mark.parametrize("name", ["", "bad name", "x" * 513, "semi;colon"])
def test_invalid_names_are_rejected(name: str) -> None:
    """Names AWS would refuse are config errors."""
    with pytest.raises(ValueError, match="AWS secret names"):
        AwsSecretsManagerSink.validate_secret_name(name)


#: The README's policy for rotating targets: the base policy plus UpdateSecretVersionStage.
ROTATION_POLICY: dict[str, Any] = json.loads(json.dumps(LEAST_PRIVILEGE_POLICY))
ROTATION_POLICY["Statement"][0]["Action"].append("secretsmanager:UpdateSecretVersionStage")
_MARK = RotationMark(datetime(2033, 1, 2, 3, 4, 5, tzinfo=UTC), "app_owner")


def _labels(client: Any, secret: str) -> dict[str, list[str]]:
    described = client.describe_secret(SecretId=secret)
    return {v: sorted(s) for v, s in described.get("VersionIdsToStages", {}).items() if s}


def _staged(sink: AwsSecretsManagerSink, world: SyncWorld) -> tuple[WriteRequest, str]:
    world.rotate()
    request = dataclasses.replace(world.request(sink), action=Action.UPDATE, rotation=_MARK)
    return request, sink.stage(request)


class _CrashOn:
    """A boto3 client that dies at the n-th call of one operation (a kill -9 stand-in)."""

    def __init__(self, client: Any, operation: str, nth: int = 1) -> None:
        self._client, self._operation, self._left = client, operation, nth

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name != self._operation:
            return method

        def call(**params: Any) -> Any:
            self._left -= 1
            if self._left == 0:
                raise KeyboardInterrupt  # not translated: the process "dies" here
            return method(**params)

        return call


def test_stage_promote_follow_aws_labels(aws: MotoServer, sm_client: Any) -> None:
    """Stage puts AWSPENDING on the new version; promote moves AWSCURRENT, the old one becomes AWSPREVIOUS, no AWSPENDING is left."""
    sink = make_sink(aws)
    world = SyncWorld(sink, "rot/labels", "uri")
    world.sync()
    old = sink.inspect("rot/labels").version
    assert old is not None
    request, version = _staged(sink, world)
    assert _labels(sm_client, "rot/labels") == {old: ["AWSCURRENT"], version: ["AWSPENDING"]}
    assert version == request.fingerprint.encode()
    sink.promote(request, version)
    assert _labels(sm_client, "rot/labels") == {old: ["AWSPREVIOUS"], version: ["AWSCURRENT"]}
    assert world.password in current(sm_client, "rot/labels")
    tags = {t["Key"]: t["Value"] for t in sm_client.describe_secret(SecretId="rot/labels")["Tags"]}
    assert tags["syncd:rotated-at"] == "2033-01-02T03:04:05Z"
    assert tags["syncd:role"] == "app_owner"
    sink.close()


def test_discard_removes_pending_label(aws: MotoServer, sm_client: Any) -> None:
    """Discard removes AWSPENDING from the staged version and leaves AWSCURRENT where it was."""
    sink = make_sink(aws)
    world = SyncWorld(sink, "rot/discard", "uri")
    world.sync()
    old = sink.inspect("rot/discard").version
    assert old is not None
    _, version = _staged(sink, world)
    sink.discard("rot/discard", version)
    assert _labels(sm_client, "rot/discard") == {old: ["AWSCURRENT"]}
    sink.discard("rot/gone", version)  # no such secret: also a no-op
    sink.close()


def test_crash_after_stage_reads_as_pending(aws: MotoServer, sm_client: Any) -> None:
    """After a crash between stage and promote, inspect reports the staged version as pending, and no new mark."""
    sink = make_sink(aws)
    world = SyncWorld(sink, "rot/crash1", "uri")
    old_password = world.password
    world.sync()
    _, version = _staged(sink, world)
    state = make_sink(aws).inspect("rot/crash1")
    assert state.pending == version and state.version != version
    assert state.rotation is None
    assert old_password in current(sm_client, "rot/crash1")
    sink.close()


def test_crash_after_tag_before_move_converges(aws: MotoServer, sm_client: Any) -> None:
    """A crash after promote's tags reads as ours with the new mark and a pending version; promoting again converges."""
    sink = make_sink(aws)
    world = SyncWorld(sink, "rot/crash2", "uri")
    world.sync()
    request, version = _staged(sink, world)
    crashing = AwsSecretsManagerSink("aws", _CrashOn(sm_client, "update_secret_version_stage"))
    with pytest.raises(KeyboardInterrupt):
        crashing.promote(request, version)
    state = sink.inspect("rot/crash2")
    assert state.rotation == _MARK and state.managed
    assert state.pending == version and state.version == request.observed.version
    assert world.password not in current(sm_client, "rot/crash2")
    sink.promote(dataclasses.replace(request, observed=state), version)
    assert _labels(sm_client, "rot/crash2")[version] == ["AWSCURRENT"]
    assert sink.inspect("rot/crash2").pending is None
    sink.close()


def test_crash_after_move_before_unlabel_is_cleaned_by_retry(
    aws: MotoServer, sm_client: Any
) -> None:
    """A crash after AWSCURRENT moved leaves AWSPENDING only on the current version; a retried promote removes it."""
    sink = make_sink(aws)
    world = SyncWorld(sink, "rot/crash3", "uri")
    world.sync()
    request, version = _staged(sink, world)
    crashing = AwsSecretsManagerSink("aws", _CrashOn(sm_client, "update_secret_version_stage", 2))
    with pytest.raises(KeyboardInterrupt):
        crashing.promote(request, version)
    assert _labels(sm_client, "rot/crash3")[version] == ["AWSCURRENT", "AWSPENDING"]
    state = sink.inspect("rot/crash3")
    assert state.pending is None and state.version == version
    assert world.password in current(sm_client, "rot/crash3")
    sink.promote(request, version)
    assert _labels(sm_client, "rot/crash3")[version] == ["AWSCURRENT"]
    sink.close()


def test_second_promoter_conflicts(aws: MotoServer, sm_client: Any) -> None:
    """Of two rotations staged against the same current version, only the first promotion wins."""
    sink = make_sink(aws)
    world = SyncWorld(sink, "rot/race", "uri")
    world.sync()
    first, first_version = _staged(sink, world)
    sink.promote(first, first_version)
    winner = world.password
    second, second_version = _staged(sink, world)
    late = dataclasses.replace(second, observed=first.observed)
    with pytest.raises(SinkConflict):
        sink.promote(late, second_version)
    assert world.password not in current(sm_client, "rot/race")
    sink.discard("rot/race", second_version)
    assert winner in current(sm_client, "rot/race")
    assert all("AWSPENDING" not in s for s in _labels(sm_client, "rot/race").values())
    sink.close()


def test_rotation_policy_is_enough(aws: MotoServer, sm_client: Any) -> None:
    """With only the README's rotation IAM policy, stage, discard and promote work."""
    keys = aws.create_user_with_policy(ROTATION_POLICY)
    with aws.iam_enforced():
        sink = make_sink(aws, keys)
        world = SyncWorld(sink, "rot/iam", "uri")
        world.sync()
        _, abandoned = _staged(sink, world)
        sink.discard("rot/iam", abandoned)
        request, version = _staged(sink, world)
        sink.promote(request, version)
        sink.close()
    assert world.password in current(sm_client, "rot/iam")


def test_promote_without_stage_permission_names_it(aws: MotoServer) -> None:
    """Without UpdateSecretVersionStage, promotion fails naming the missing action."""
    keys = aws.create_user_with_policy(LEAST_PRIVILEGE_POLICY)
    with aws.iam_enforced():
        sink = make_sink(aws, keys)
        world = SyncWorld(sink, "rot/denied", "uri")
        world.sync()
        request, version = _staged(sink, world)
        with pytest.raises(SinkAuthError, match="secretsmanager:UpdateSecretVersionStage"):
            sink.promote(request, version)
        sink.close()


def test_second_rotation_moves_previous(aws: MotoServer, sm_client: Any) -> None:
    """On a second promotion AWSPREVIOUS moves to the version just replaced; the oldest has no label."""
    sink = make_sink(aws)
    world = SyncWorld(sink, "rot/twice", "uri")
    world.sync()
    oldest = sink.inspect("rot/twice").version
    first, first_version = _staged(sink, world)
    sink.promote(first, first_version)
    second, second_version = _staged(sink, world)
    sink.promote(second, second_version)
    labels = _labels(sm_client, "rot/twice")
    assert labels == {first_version: ["AWSPREVIOUS"], second_version: ["AWSCURRENT"]}
    assert oldest not in labels
    sink.close()

