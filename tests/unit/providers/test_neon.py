"""Tests for the Neon provider, against the Neon-compatible fake (MockTransport or real HTTP)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from pydantic import SecretStr

from syncd.config import settings as config
from syncd.errors import (
    ConfigError,
    ProviderResponseError,
    ProviderUnavailable,
)
from syncd.net.bounds import MAX_BODY_BYTES
from syncd.net.retry import Backoff
from syncd.providers.neon import (
    BRANCH_ID,
    NeonProvider,
    NeonTarget,
)
from syncd.testing.neon import FakeNeon, Fault
from tests.conftest import connects, run_syncd
from tests.support.configs import ConfigBuilder
from tests.support.neonfake import KEY, MAIN_ID, PROJECT, provider, target
from tests.support.neonworld import NeonWorld


def test_fetch_resolves_the_branch_and_returns_direct_and_pooled_uris(neon_api: FakeNeon) -> None:
    """The direct URI carries channel_binding=require, the pooled one the pooler host; both sslmode=require."""
    p = provider(neon_api)
    direct = p.fetch(target())
    pooled = p.fetch(target(pooled=True))
    assert direct.username == "app" and direct.dbname == "neondb"
    assert direct.password.get_secret_value() == "oldpw123"
    assert dict(direct.params) == {"sslmode": "require", "channel_binding": "require"}
    assert pooled.host == "ep-a-pooler.example.test" and dict(pooled.params) == {
        "sslmode": "require"
    }
    uri_request = next(r for r in neon_api.requests if r.path.endswith("/connection_uri"))
    assert uri_request.params["branch_id"] == MAIN_ID
    assert (
        uri_request.params["role_name"] == "app" and uri_request.params["database_name"] == "neondb"
    )
    assert p.fetch(target(branch="dev")).password.get_secret_value() == "devpw123"


def test_a_uri_for_another_role_is_refused(neon_api: FakeNeon) -> None:
    """An answer whose URI is for a different role than asked is never used."""
    p = provider(neon_api)
    p.branch_id(target())
    body = b'{"uri": "postgresql://admin:pw@ep-a.example.test/neondb?sslmode=require"}'
    neon_api.fail_next(Fault(200, body))
    with pytest.raises(ProviderResponseError, match="not what was asked"):
        p.fetch(target())


def test_a_uri_without_tls_is_refused(neon_api: FakeNeon) -> None:
    """The connection URI is validated as strictly as case.dev's (sslmode must require TLS)."""
    p = provider(neon_api)
    p.branch_id(target())
    neon_api.fail_next(Fault(200, b'{"uri": "postgresql://app:pw@ep-a.example.test/neondb"}'))
    with pytest.raises(ProviderResponseError, match="does not require TLS"):
        p.fetch(target())


def test_429_waits_for_retry_after(neon_api: FakeNeon) -> None:
    """A 429 is retried after its Retry-After, then succeeds."""
    sleeps: list[float] = []
    p = provider(neon_api, sleeps=sleeps)
    neon_api.fail_next(Fault(429, b'{"message":"rate limited"}', {"Retry-After": "2"}))
    assert p.fetch(target()).username == "app"
    assert sleeps == [2.0]


def test_5xx_is_retried_then_unavailable(neon_api: FakeNeon) -> None:
    """Server errors are retried up to max_attempts, then ProviderUnavailable."""
    neon_api.fail_next(Fault(503), times=3)
    with pytest.raises(ProviderUnavailable, match="503"):
        provider(neon_api, attempts=3).fetch(target())


def test_role_exists(neon_api: FakeNeon) -> None:
    """role_exists is True for a role of the branch and False for one it lacks."""
    p = provider(neon_api)
    assert p.role_exists(target(), "app_b")
    assert not p.role_exists(target(branch="dev"), "app_b")


def test_connection_for_another_role(neon_api: FakeNeon) -> None:
    """connection(role=...) fetches the URI of that role, on the target's branch and database."""
    conn = provider(neon_api).connection(target(), role="app_b")
    assert conn.username == "app_b" and conn.password.get_secret_value() == "b"


def test_default_rate_limit_stays_under_neons_quota() -> None:
    """The default limiter allows 11/s with bursts of at most 40 (Neon: 700/min, 40/s)."""
    p = NeonProvider("neon", api_key=SecretStr(KEY))
    bucket = p._api._bucket
    p.close()
    assert bucket is not None and bucket.rate == 11.0 and bucket.burst <= 40
    assert bucket.burst + 60 * bucket.rate <= 700


def write_config(tmp_path: Path, targets: list[dict[str, Any]], **provider: Any) -> Path:
    return (
        ConfigBuilder(tmp_path, log_level=None)
        .provider("neon", "neon", **provider)
        .file_sink("files")
        .targets(targets)
        .write()
    )


@pytest.mark.parametrize("missing", ["database", "role"])
def test_neon_target_without_database_or_role_is_a_config_error(
    tmp_path: Path, missing: str
) -> None:
    """A neon target lacking database or role is refused at load, naming the key."""
    spec = {
        "name": "billing",
        "provider": "neon",
        "project": PROJECT,
        "database": "neondb",
        "role": "app",
        "sinks": [{"sink": "files", "secret": "billing.json"}],
    }
    del spec[missing]
    with pytest.raises(ConfigError, match=rf"targets\.0\.{missing}: required for a neon target"):
        config.load(write_config(tmp_path, [spec]))


def test_role_and_database_names_are_validated(tmp_path: Path) -> None:
    """Role and database names must be identifier-like and at most 63 characters."""
    base = {
        "name": "billing",
        "provider": "neon",
        "project": PROJECT,
        "database": "neondb",
        "sinks": [{"sink": "files", "secret": "billing.json"}],
    }
    for bad in ("x" * 64, "app\nrole", "app/role", ""):
        with pytest.raises(ConfigError, match="role"):
            config.load(write_config(tmp_path, [{**base, "role": bad}]))
    loaded = config.load(write_config(tmp_path, [{**base, "role": "billing_app-2"}]))
    assert loaded.targets[0].options == NeonTarget(database="neondb", role="billing_app-2")


# -- against the real PostgreSQL and PgBouncer ------------------------------------


def real_provider(neon: NeonWorld) -> NeonProvider:
    return NeonProvider(
        "neon",
        api_key=SecretStr(neon.api.api_key),
        base_url=neon.base_url,
        backoff=Backoff(attempts=2, base=0.05),
    )


@pytest.mark.e2e
def test_reset_old_password_works_until_operations_finish_then_only_the_new(
    neon: NeonWorld,
) -> None:
    """After a reset the old password connects until the operation finishes; then only the new one does."""
    creds = neon.add_branch(PROJECT, "main")
    t = target(database=creds.database, role=creds.role)
    p = real_provider(neon)
    old_direct = p.fetch(t).uri.get_secret_value()
    old_pooled = p.fetch(target(database=creds.database, role=creds.role, pooled=True))
    assert "channel_binding=require" in old_direct

    reset = p.reset_password(t, creds.role)
    assert connects(old_direct) == creds.role  # the operation has not finished yet
    p.wait_for_operations(PROJECT, reset.operation_ids, deadline=time.monotonic() + 30)

    new_direct = p.connection(t, role=creds.role)
    new_pooled = p.connection(
        target(database=creds.database, role=creds.role, pooled=True), role=creds.role
    )
    assert new_direct.password.get_secret_value() == reset.password.get_secret_value()
    assert connects(new_direct.uri.get_secret_value()) == creds.role
    assert connects(new_pooled.uri.get_secret_value()) == creds.role
    for old in (old_direct, old_pooled.uri.get_secret_value()):
        with pytest.raises(psycopg.OperationalError):
            connects(old)
    p.close()


@pytest.mark.e2e
def test_run_once_syncs_a_neon_target_into_files_that_connect(
    tmp_path: Path, neon: NeonWorld
) -> None:
    """`syncd run --once` writes direct and pooled Neon URIs that connect to PostgreSQL and PgBouncer."""
    creds = neon.add_branch(PROJECT, "main")
    common = {"provider": "neon", "project": PROJECT, "branch": "main"}
    targets = [
        {
            **common,
            "name": "billing",
            "database": creds.database,
            "role": creds.role,
            "sinks": [{"sink": "files", "secret": "billing.uri", "format": "uri"}],
        },
        {
            **common,
            "name": "billing-pooled",
            "database": creds.database,
            "role": creds.role,
            "pooled": True,
            "sinks": [{"sink": "files", "secret": "billing-pooled.uri", "format": "uri"}],
        },
    ]
    path = write_config(tmp_path, targets, base_url=neon.base_url)
    result = run_syncd(
        "run", "--once", "--config", str(path), env={"NEON_API_KEY": neon.api.api_key}
    )
    assert result.code == 0, result.output
    assert neon.api.api_key not in result.output and creds.password not in result.output
    direct = (tmp_path / "out" / "billing.uri").read_text().strip()
    pooled = (tmp_path / "out" / "billing-pooled.uri").read_text().strip()
    assert "channel_binding=require" in direct and "channel_binding" not in pooled
    assert connects(direct) == creds.role
    assert connects(pooled) == creds.role
    listings = [r for r in neon.api.requests if r.path.endswith("/branches")]
    assert len(listings) == 1  # two targets, one project: one branch listing


@pytest.mark.e2e
def test_run_once_finds_branches_by_name_and_id_among_400(tmp_path: Path, neon: NeonWorld) -> None:
    """With 400 preview branches (a list far over the answer cap), a target by name and one by br- id both sync and connect."""
    creds = neon.add_branch(PROJECT, "main")
    release = neon.postgres.create_branch(PROJECT, "release")
    release_id = neon.api.add_branch(
        PROJECT, "release", databases=[release.database], roles={release.role: release.password}
    )
    assert BRANCH_ID.fullmatch(release_id)
    # Every preview matches the search for "main", so finding main means paging through them.
    neon.api.add_branches(PROJECT, [f"preview/main-pr-{n}" for n in range(400)])
    whole = httpx.get(
        f"{neon.base_url}/projects/{PROJECT}/branches",
        headers={"Authorization": f"Bearer {neon.api.api_key}"},
    )
    assert whole.status_code == 200 and len(whole.content) > 3 * MAX_BODY_BYTES
    common = {"provider": "neon", "project": PROJECT}
    targets = [
        {
            **common,
            "name": "by-name",
            "branch": "main",
            "database": creds.database,
            "role": creds.role,
            "sinks": [{"sink": "files", "secret": "by-name.uri", "format": "uri"}],
        },
        {
            **common,
            "name": "by-id",
            "branch": release_id,
            "database": release.database,
            "role": release.role,
            "sinks": [{"sink": "files", "secret": "by-id.uri", "format": "uri"}],
        },
    ]
    path = write_config(tmp_path, targets, base_url=neon.base_url)
    before = len(neon.api.requests)
    result = run_syncd(
        "run", "--once", "--config", str(path), env={"NEON_API_KEY": neon.api.api_key}
    )
    assert result.code == 0, result.output
    assert connects((tmp_path / "out" / "by-name.uri").read_text().strip()) == creds.role
    assert connects((tmp_path / "out" / "by-id.uri").read_text().strip()) == release.role
    seen = neon.api.requests[before:]
    listings = [r for r in seen if r.path.endswith("/branches")]
    assert len(listings) > 1 and all(r.params["search"] == "main" for r in listings)
    assert [r.path for r in seen if r.path.endswith(f"/branches/{release_id}")] == [
        f"/api/v2/projects/{PROJECT}/branches/{release_id}"
    ]
