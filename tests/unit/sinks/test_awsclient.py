"""Unit tests for syncd.sinks.awsclient: the botocore client, its pool, and which reader DescribeSecret takes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from syncd.sinks.aws_secrets_manager import AwsSecretsManagerConfig, AwsSecretsManagerSink
from syncd.sinks.awsclient import region_from
from syncd.testing.contract import SyncWorld
from tests.support.aws import (
    Scripted,
    json_answer,
)
from tests.support.servers.moto import MotoServer


def test_many_workers_reuse_connections_without_warnings(
    aws: MotoServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Sixteen workers writing at once keep their connections: urllib3 discards none, warns none."""
    config = AwsSecretsManagerConfig(region=aws.region, endpoint_url=aws.endpoint_url)
    sink = AwsSecretsManagerSink.from_config("aws", config)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: SyncWorld(sink, f"app/pool-{i}", "uri").sync(), range(48)))
    sink.close()
    assert [r.getMessage() for r in caplog.records if "pool is full" in r.getMessage()] == []


def test_describe_via_botocore_keeps_every_call_on_botocore(scripted: str) -> None:
    """`describe_via: botocore` sends DescribeSecret through botocore (for in-process mocks)."""
    Scripted.script = [json_answer(200, {"Name": "app/db", "Tags": [], "VersionIdsToStages": {}})]
    config = AwsSecretsManagerConfig(
        region="us-east-1", endpoint_url=scripted, describe_via="botocore"
    )
    sink = AwsSecretsManagerSink.from_config("aws", config)
    assert sink.inspect("app/db").exists
    sink.close()
    assert "Botocore/" in Scripted.seen[0]["User-Agent"]


def test_region_follows_the_other_sdks_order() -> None:
    """The config's region wins, then AWS_REGION, then AWS_DEFAULT_REGION; none gives None."""
    both = {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-west-2"}
    assert region_from(AwsSecretsManagerConfig(region="ap-south-1"), both) == "ap-south-1"
    assert region_from(AwsSecretsManagerConfig(), both) == "eu-west-1"
    assert (
        region_from(AwsSecretsManagerConfig(), {"AWS_DEFAULT_REGION": "us-west-2"}) == "us-west-2"
    )
    assert region_from(AwsSecretsManagerConfig(), {"AWS_REGION": ""}) is None
