"""The call budget of a cycle, counted at the servers over real HTTP.

An unchanged cycle makes exactly one provider call per target (two for a
target with a binding that needs both its pooled and direct connections, such
as the prisma preset) and one metadata read (DescribeSecret) per sink secret,
and writes nothing; a changed secret costs at most one write plus the metadata
it needs. The servers are the
benchmark's stand-ins (benchmarks/standins.py), which count every call by API.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from benchmarks.standins import API_KEY, Running, serve
from tests.conftest import run_syncd
from tests.support.configs import ConfigBuilder

pytestmark = pytest.mark.e2e

# Six sink secrets over four targets: "two" has two AWS bindings; "four" has a
# plain one and a prisma preset (pooled and direct), so it fetches twice.
TARGETS = {
    "one": ["app/one"],
    "two": ["app/two-a", "app/two-b"],
    "three": ["app/three"],
    "four": ["app/four", "app/four-prisma"],
}
PRESETS = {"app/four-prisma": "prisma"}
SECRETS = sum(len(s) for s in TARGETS.values())
# One fetch per target, plus the other connection of each target that needs it.
FETCHES = len(TARGETS) + 1


@pytest.fixture
def standins() -> Iterator[Running]:
    with serve(latency=0.0) as running:
        yield running


def _config(tmp_path: Path, url: str) -> Path:
    builder = ConfigBuilder(tmp_path).casedev(url).aws_sink(endpoint_url=url)
    for name, secrets in TARGETS.items():
        builder.target(name, [_binding(s) for s in secrets], project=f"proj-{name}")
    return builder.write()


def _binding(secret: str) -> dict[str, str]:
    if secret in PRESETS:
        return {"sink": "aws", "secret": secret, "format": "env", "preset": PRESETS[secret]}
    return {"sink": "aws", "secret": secret}


def _cycle(path: Path, url: str) -> dict[str, int]:
    """Run one `syncd run --once` process and return the calls it made, by API."""
    httpx.post(f"{url}/_reset")
    env = {
        "CASEDEV_API_KEY": API_KEY,
        "AWS_ACCESS_KEY_ID": "budget",
        "AWS_SECRET_ACCESS_KEY": "budget-secret-key",
    }
    result = run_syncd("run", "--once", "--config", str(path), env=env)
    assert result.code == 0, result.output
    calls: dict[str, int] = httpx.get(f"{url}/_stats").json()["calls"]
    return calls


def test_unchanged_cycle_is_one_fetch_per_target_and_one_describe_per_secret(
    tmp_path: Path, standins: Running
) -> None:
    """With nothing changed, a cycle calls the provider once per target (twice for a prisma preset's), DescribeSecret once per secret, and writes nothing."""
    path = _config(tmp_path, standins.url)
    _cycle(path, standins.url)
    assert _cycle(path, standins.url) == {
        "casedev.GetConnection": FETCHES,
        "sm.DescribeSecret": SECRETS,
    }


def test_first_cycle_costs_one_create_per_secret(tmp_path: Path, standins: Running) -> None:
    """Creating every secret costs the unchanged cycle's fetches, one DescribeSecret and one CreateSecret per secret."""
    path = _config(tmp_path, standins.url)
    assert _cycle(path, standins.url) == {
        "casedev.GetConnection": FETCHES,
        "sm.DescribeSecret": SECRETS,
        "sm.CreateSecret": SECRETS,
    }


def test_changed_secret_costs_one_write_plus_its_metadata_read(
    tmp_path: Path, standins: Running
) -> None:
    """A rotated credential costs exactly one PutSecretValue per affected secret on top of the unchanged budget."""
    path = _config(tmp_path, standins.url)
    _cycle(path, standins.url)
    httpx.post(f"{standins.url}/_rotate", json={"projects": ["proj-two"]})
    assert _cycle(path, standins.url) == {
        "casedev.GetConnection": FETCHES,
        "sm.DescribeSecret": SECRETS,
        "sm.PutSecretValue": len(TARGETS["two"]),
    }


def test_rotated_prisma_target_writes_both_of_its_secrets_once(
    tmp_path: Path, standins: Running
) -> None:
    """A new password for a target with a prisma preset costs its two fetches and one write per secret."""
    path = _config(tmp_path, standins.url)
    _cycle(path, standins.url)
    httpx.post(f"{standins.url}/_rotate", json={"projects": ["proj-four"]})
    assert _cycle(path, standins.url) == {
        "casedev.GetConnection": FETCHES,
        "sm.DescribeSecret": SECRETS,
        "sm.PutSecretValue": len(TARGETS["four"]),
    }
