"""Unit tests for syncd.sinks.awsdescribe: checking a DescribeSecret answer's shape and reading its labels and lease."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from syncd.core import lease
from syncd.core.fingerprint import Fingerprint
from syncd.core.lease import Record
from syncd.core.models import RotationMark
from syncd.errors import SinkError
from syncd.sinks import awsdescribe, awsjson
from syncd.sinks.aws_secrets_manager import AwsSecretsManagerConfig, AwsSecretsManagerSink
from syncd.testing.casedev import FakeCaseDev
from tests.conftest import run_syncd
from tests.support.aws import (
    Scripted,
    json_answer,
    lean_from_config,
)
from tests.support.rotation import NOW

HOSTILE_DESCRIPTIONS = {
    "tags-a-string": ({"Tags": "managed-by=syncd"}, "Tags is a string, not a list"),
    "tag-not-an-object": ({"Tags": [1, 2]}, "not a {Key, Value} pair of strings"),
    "tag-value-an-object": (
        {"Tags": [{"Key": "managed-by", "Value": {"syncd": True}}]},
        "not a {Key, Value} pair of strings",
    ),
    "stages-a-list": ({"VersionIdsToStages": ["AWSCURRENT"]}, "is a list, not an object"),
    "stages-a-string": (
        {"VersionIdsToStages": {"v1": "AWSCURRENT"}},
        "something other than a list of labels",
    ),
    "stage-a-number": (
        {"VersionIdsToStages": {"v1": [1]}},
        "something other than a list of labels",
    ),
}


def _hostile(shape: dict[str, Any] | bytes) -> tuple[int, dict[str, str], bytes]:
    if isinstance(shape, bytes):
        return 200, {"Content-Type": awsjson.CONTENT_TYPE}, shape
    return json_answer(200, {"Name": "app/db", "ARN": "arn:aws:secretsmanager:x", **shape})


@pytest.mark.parametrize("case", sorted(HOSTILE_DESCRIPTIONS))
def test_hostile_description_shapes_are_refused_in_one_line(scripted: str, case: str) -> None:
    """Tags or VersionIdsToStages of the wrong shape are a SinkError naming the secret."""
    shape, problem = HOSTILE_DESCRIPTIONS[case]
    Scripted.script = [_hostile(shape)]
    sink = lean_from_config(scripted, max_attempts=1)
    with pytest.raises(SinkError) as info:
        sink.inspect("app/db")
    sink.close()
    message = str(info.value)
    assert message.startswith("aws sink aws: DescribeSecret on secret app/db: ")
    assert problem in message and "\n" not in message


@pytest.mark.parametrize(
    "shape",
    [
        {"Tags": "managed-by=syncd"},
        {"Tags": [{"Key": 1, "Value": "syncd"}]},
        {"VersionIdsToStages": ["AWSCURRENT"]},
        {"VersionIdsToStages": {"v1": [1]}},
        b'{"Tags": ' + b"[" * 100_000,
    ],
    ids=["tags-a-string", "tag-key-a-number", "stages-a-list", "stage-a-number", "deep"],
)
def test_hostile_descriptions_through_botocore_are_refused_in_one_line(
    scripted: str, shape: dict[str, Any] | bytes
) -> None:
    """The same answers read through botocore (describe_via) end in a SinkError, not a crash."""
    Scripted.script = [_hostile(shape)]
    config = AwsSecretsManagerConfig(
        region="us-east-1", endpoint_url=scripted, describe_via="botocore", max_attempts=1
    )
    sink = AwsSecretsManagerSink.from_config("aws", config)
    with pytest.raises(
        SinkError, match="DescribeSecret on secret app/db: the answer is not"
    ) as info:
        sink.inspect("app/db")
    sink.close()
    assert "\n" not in str(info.value)


def test_hostile_description_fails_the_target_through_the_cli(
    scripted: str, tmp_path: Path
) -> None:
    """run --once against a hostile endpoint: exit 1, one FAILED row, no traceback, no write."""
    from tests.support.cli import KEY, URI, aws_config

    fake = FakeCaseDev(KEY)
    fake.set_branch("proj_1", "main", direct=URI, pooled=URI)
    Scripted.script = [_hostile(b'{"Tags": ' + b"[" * 100_000), _hostile({"Tags": "x"})]
    with fake.serve() as api:
        config = aws_config(
            tmp_path, api, region="us-east-1", endpoint_url=scripted, max_attempts=1
        )
        for _ in range(2):
            result = run_syncd(
                "run", "--once", "--config", str(config), env={"CASEDEV_API_KEY": KEY}
            )
            assert result.code == 1, result.output
            (row,) = [line for line in result.stdout.splitlines() if "FAILED" in line]
            assert "aws sink aws: DescribeSecret on secret prod/app" in row
            assert "Traceback" not in result.stderr and "sink_crashed" not in result.stderr
    targets = [seen["X-Amz-Target"] for seen in Scripted.seen]
    assert targets == ["secretsmanager.DescribeSecret"] * 2


def test_current_and_pending_are_read_from_the_stage_map() -> None:
    """AWSCURRENT and AWSPENDING are found on whichever versions carry them, None when absent."""
    described = {
        "VersionIdsToStages": {"v1": ["AWSPREVIOUS"], "v2": ["AWSCURRENT"], "v3": ["AWSPENDING"]}
    }
    assert awsdescribe.current_and_pending(described) == ("v2", "v3")
    assert awsdescribe.current_and_pending({"VersionIdsToStages": None}) == (None, None)


def test_a_pending_version_syncd_did_not_stage_is_a_foreign_rotation() -> None:
    """RotationEnabled, or an AWSPENDING id that is no fingerprint, is another rotator; ours is not."""
    ours = Fingerprint.of("text").encode()
    assert awsdescribe.foreign_rotation({}, ours) is None
    assert awsdescribe.foreign_rotation({}, None) is None
    assert "RotationEnabled" in (
        awsdescribe.foreign_rotation({"RotationEnabled": True}, None) or ""
    )
    assert "AWSPENDING" in (awsdescribe.foreign_rotation({}, "lambda-version-1") or "")


def test_lease_record_trusts_the_version_id_and_a_tag_of_the_same_holder() -> None:
    """The lease's holder and expiry come from the labelled version id; the tag adds only its intent."""
    ours = lease.new(NOW, RotationMark(NOW, "app"))
    token = awsdescribe.lease_token(ours)
    stages = {"VersionIdsToStages": {token: [awsdescribe.LEASE_STAGE]}}
    tag = {"Key": awsdescribe.LEASE_TAG, "Value": ours.encode()}
    record = awsdescribe.lease_record({**stages, "Tags": [tag]})
    assert record is not None and record.token == token
    assert record.lease is not None and record.lease.holder == ours.holder
    assert record.lease.intent == RotationMark(NOW, "app") and record.lease.expires == ours.expires
    other = lease.new(NOW, RotationMark(NOW, "app_b"))
    mismatched = awsdescribe.lease_record(
        {**stages, "Tags": [{"Key": awsdescribe.LEASE_TAG, "Value": other.encode()}]}
    )
    assert mismatched is not None and mismatched.lease is not None
    assert mismatched.lease.holder == ours.holder and mismatched.lease.intent is None
    assert awsdescribe.lease_record({"VersionIdsToStages": {"v1": ["AWSCURRENT"]}}) is None
    odd = awsdescribe.lease_record({"VersionIdsToStages": {"v1": [awsdescribe.LEASE_STAGE]}})
    assert odd == Record("v1", None)


def test_tags_without_a_value_read_as_empty() -> None:
    """tag_map maps each Key to its Value, and a tag without one (AWS allows it) to ""."""
    described = {"Tags": [{"Key": "managed-by", "Value": "syncd"}, {"Key": "bare"}]}
    assert awsdescribe.shape_problem(described) is None
    assert awsdescribe.tag_map(described) == {"managed-by": "syncd", "bare": ""}
