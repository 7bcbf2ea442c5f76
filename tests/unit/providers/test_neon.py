"""Tests for the Neon provider, against the Neon-compatible fake (MockTransport or real HTTP)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from pydantic import SecretStr

from syncd import redaction
from syncd.config import settings as config
from syncd.errors import (
    ConfigError,
    ProviderNotFound,
    ProviderOperationFailed,
    ProviderResponseError,
    ProviderUnavailable,
)
from syncd.net.bounds import MAX_BODY_BYTES
from syncd.net.retry import Backoff
from syncd.providers.neon import (
    BRANCH_ID,
    BRANCH_LOOKUP_TIMEOUT,
    BRANCH_PAGE,
    LOCKED_ATTEMPTS,
    LOCKED_DELAY,
    MAX_BRANCH_PAGES,
    MAX_OPERATIONS,
    NeonConfig,
    NeonProvider,
    NeonTarget,
)
from syncd.testing.neon import FakeNeon, Fault
from tests.conftest import connects, run_syncd
from tests.support.configs import ConfigBuilder
from tests.support.neonfake import KEY, MAIN_ID, PROJECT, Clock, Passwords, provider, target
from tests.support.neonworld import NeonWorld

LOCKED = Fault(423, b'{"code":"","message":"project already has running conflicting operations"}')


def branch_listings(api: FakeNeon) -> int:
    return sum(1 for r in api.requests if r.path.endswith("/branches"))


def resets(api: FakeNeon) -> int:
    return sum(1 for r in api.requests if r.path.endswith("/reset_password"))


def page(branches: list[Any], next_cursor: str | None = None) -> httpx.Response:
    """A branch list answer with Neon's shape."""
    body: dict[str, Any] = {"branches": branches}
    if next_cursor is not None:
        body["pagination"] = {"next": next_cursor, "sort_by": "updated_at"}
    return httpx.Response(200, json=body)


def test_fetch_resolves_the_branch_and_returns_direct_and_pooled_uris(api: FakeNeon) -> None:
    """The direct URI carries channel_binding=require, the pooled one the pooler host; both sslmode=require."""
    p = provider(api)
    direct = p.fetch(target())
    pooled = p.fetch(target(pooled=True))
    assert direct.username == "app" and direct.dbname == "neondb"
    assert direct.password.get_secret_value() == "oldpw123"
    assert dict(direct.params) == {"sslmode": "require", "channel_binding": "require"}
    assert pooled.host == "ep-a-pooler.example.test" and dict(pooled.params) == {
        "sslmode": "require"
    }
    uri_request = next(r for r in api.requests if r.path.endswith("/connection_uri"))
    assert uri_request.params["branch_id"] == MAIN_ID
    assert (
        uri_request.params["role_name"] == "app" and uri_request.params["database_name"] == "neondb"
    )
    assert p.fetch(target(branch="dev")).password.get_secret_value() == "devpw123"


def test_branch_ids_are_cached_for_the_ttl(api: FakeNeon) -> None:
    """Branch names are listed once per project per TTL, not once per fetch."""
    now = [1000.0]
    p = provider(api, clock=lambda: now[0])
    for _ in range(3):
        p.fetch(target())
    assert branch_listings(api) == 1
    now[0] += 61
    p.fetch(target())
    assert branch_listings(api) == 2


def test_concurrent_fetches_share_one_branch_listing(api: FakeNeon) -> None:
    """Many threads resolving one project's branch wait for a single in-flight listing."""

    def slow_listing(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/branches"):
            time.sleep(0.2)
        return api.handle(request)

    p = provider(api, handler=slow_listing)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _i: p.fetch(target()), range(8)))
    assert len(results) == 8
    assert branch_listings(api) == 1


def test_a_branch_id_is_fetched_directly_without_listing(api: FakeNeon) -> None:
    """A target naming its branch by a Neon id (br-...) costs one GET of that branch, no listing."""
    p = provider(api)
    assert BRANCH_ID.fullmatch(MAIN_ID)
    assert p.fetch(target(branch=MAIN_ID)).username == "app"
    assert branch_listings(api) == 0
    assert [r.path for r in api.requests if "/branches/" in r.path and "/roles" not in r.path] == [
        f"/api/v2/projects/{PROJECT}/branches/{MAIN_ID}"
    ]


def test_an_unknown_branch_id_is_not_found_naming_it(api: FakeNeon) -> None:
    """A br-... id Neon answers 404 for is ProviderNotFound naming the branch; nothing is listed."""
    with pytest.raises(ProviderNotFound, match="branch br-quiet-sea-000000 in project"):
        provider(api).fetch(target(branch="br-quiet-sea-000000"))
    assert branch_listings(api) == 0


def test_unknown_branch_and_project_are_not_found(api: FakeNeon) -> None:
    """A missing branch or project is ProviderNotFound, naming it."""
    p = provider(api)
    with pytest.raises(ProviderNotFound, match="branch nope not found"):
        p.fetch(target(branch="nope"))
    with pytest.raises(ProviderNotFound, match="project other-project-1"):
        p.fetch(target(project="other-project-1"))


def test_a_name_is_searched_and_only_an_exact_match_counts(api: FakeNeon) -> None:
    """Searching "main" also finds main-preview-*: only the branch named exactly main is used."""
    previews = api.add_branches(PROJECT, ["main-preview-1", "main-preview-2"])
    p = provider(api)
    assert p.branch_id(target()) == MAIN_ID
    listing = next(r for r in api.requests if r.path.endswith("/branches"))
    assert listing.params == {"search": "main", "limit": str(BRANCH_PAGE)}
    assert p.branch_id(target(branch="main-preview-2")) == previews[1]
    with pytest.raises(ProviderNotFound, match="branch main-preview not found"):
        p.branch_id(target(branch="main-preview"))


def test_pagination_is_followed_to_the_name(api: FakeNeon) -> None:
    """The exact name on the third page is found by passing each page's pagination.next on."""
    api.add_branches(PROJECT, [f"main-preview-{n}" for n in range(2 * BRANCH_PAGE + 10)])
    p = provider(api)
    assert p.branch_id(target()) == MAIN_ID  # the oldest, so last by updated_at
    listings = [r for r in api.requests if r.path.endswith("/branches")]
    assert len(listings) == 3
    assert "cursor" not in listings[0].params
    assert listings[1].params["cursor"] != listings[2].params["cursor"]
    assert all(r.params["search"] == "main" for r in listings)


def test_hundreds_of_branches_resolve_although_the_full_list_is_over_the_cap(
    api: FakeNeon,
) -> None:
    """400 preview branches make the whole list larger than any answer syncd reads; names and ids still resolve."""
    api.add_branches(PROJECT, [f"preview/main-pr-{n}" for n in range(400)])
    whole = api.handle(
        httpx.Request(
            "GET",
            f"https://neon.test/api/v2/projects/{PROJECT}/branches",
            headers={"Authorization": f"Bearer {KEY}"},
        )
    )
    assert len(whole.read()) > MAX_BODY_BYTES
    p = provider(api)
    assert p.fetch(target()).password.get_secret_value() == "oldpw123"
    assert p.fetch(target(branch="dev")).password.get_secret_value() == "devpw123"
    assert p.fetch(target(branch=MAIN_ID, name="by-id")).username == "app"


def test_a_looping_pagination_cursor_is_refused(api: FakeNeon) -> None:
    """A next cursor already followed ends the search with ProviderResponseError, not a loop."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return page([{"id": "br-other-one-000001", "name": "main-x"}], next_cursor="c1")

    with pytest.raises(ProviderResponseError, match="repeats a pagination cursor"):
        provider(api, handler=handler).branch_id(target())
    assert len(seen) == 2


def test_a_search_reads_at_most_max_pages(api: FakeNeon) -> None:
    """An endless run of fresh cursors stops after MAX_BRANCH_PAGES, telling to name the branch by id."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return page([{"id": "br-other-one-000001", "name": "main-x"}], f"c{len(seen)}")

    with pytest.raises(ProviderResponseError, match=r"by its id \(br-"):
        provider(api, handler=handler).branch_id(target())
    assert len(seen) == MAX_BRANCH_PAGES


def test_a_search_ends_when_its_time_is_up(api: FakeNeon) -> None:
    """Pages that each take 4 s end the lookup at BRANCH_LOOKUP_TIMEOUT as ProviderUnavailable."""
    clock = Clock()
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        clock.now += 4.0
        return page([{"id": "br-other-one-000001", "name": "main-x"}], f"c{len(seen)}")

    start = clock.now
    with pytest.raises(ProviderUnavailable, match="ran out of time"):
        provider(api, handler=handler, fake_time=clock).branch_id(target())
    assert len(seen) == BRANCH_LOOKUP_TIMEOUT // 4 + 1
    assert clock.now - start <= BRANCH_LOOKUP_TIMEOUT + 4.0


@pytest.mark.parametrize(
    "answer",
    [
        {"branches": {"id": "br-main-one-000001", "name": "main"}},
        {"branches": [{"name": "main"}]},
        {"branches": [{"id": 7, "name": "main"}]},
        {"branches": ["main"]},
        {"branches": [], "pagination": "next"},
        {"branches": [{"id": "br-a-b-000001", "name": "x"}], "pagination": {"next": 5}},
        {"branches": [{"id": "br-a-b-000001", "name": "x"}], "pagination": {"next": "c" * 5000}},
        {"branches": [{"id": "br-a-b-000001", "name": "x" * 70_000}]},
    ],
    ids=[
        "not-a-list",
        "no-id",
        "id-not-a-string",
        "item-not-an-object",
        "pagination-not-an-object",
        "cursor-not-a-string",
        "cursor-huge",
        "answer-huge",
    ],
)
def test_hostile_branch_pages_are_refused_in_one_line(api: FakeNeon, answer: object) -> None:
    """Malformed, huge or odd branch pages are a one-line ProviderResponseError."""
    body = json.dumps(answer).encode()
    p = provider(api, handler=lambda _r: httpx.Response(200, content=body))
    with pytest.raises(ProviderResponseError) as info:
        p.branch_id(target())
    assert "\n" not in str(info.value) and len(str(info.value)) < 300


@pytest.mark.parametrize("status", [200, 400])
def test_deeply_nested_json_is_refused_in_one_line(api: FakeNeon, status: int) -> None:
    """JSON nested 60,000 deep, as an answer or an error, is a one-line error, not a crash."""
    body = b'{"branches": ' + b"[" * 60_000
    p = provider(api, handler=lambda _r: httpx.Response(status, content=body))
    with pytest.raises(ProviderResponseError) as info:
        p.branch_id(target())
    message = str(info.value)
    assert ("deeper than 32 levels" in message) is (status == 200)
    assert "\n" not in message and len(message) < 300


def test_an_answer_for_another_branch_id_is_refused(api: FakeNeon) -> None:
    """GET of a branch by id must describe that branch; anything else is ProviderResponseError."""
    body = json.dumps({"branch": {"id": "br-other-one-000001", "name": "main"}}).encode()
    p = provider(api, handler=lambda _r: httpx.Response(200, content=body))
    with pytest.raises(ProviderResponseError, match="does not describe that branch"):
        p.branch_id(target(branch=MAIN_ID))


def test_a_uri_for_another_role_is_refused(api: FakeNeon) -> None:
    """An answer whose URI is for a different role than asked is never used."""
    p = provider(api)
    p.branch_id(target())
    body = b'{"uri": "postgresql://admin:pw@ep-a.example.test/neondb?sslmode=require"}'
    api.fail_next(Fault(200, body))
    with pytest.raises(ProviderResponseError, match="not what was asked"):
        p.fetch(target())


def test_a_uri_without_tls_is_refused(api: FakeNeon) -> None:
    """The connection URI is validated as strictly as case.dev's (sslmode must require TLS)."""
    p = provider(api)
    p.branch_id(target())
    api.fail_next(Fault(200, b'{"uri": "postgresql://app:pw@ep-a.example.test/neondb"}'))
    with pytest.raises(ProviderResponseError, match="does not require TLS"):
        p.fetch(target())


def test_reset_returns_the_password_at_once_and_it_applies_when_operations_finish(
    api: FakeNeon, cluster: Passwords
) -> None:
    """The reset answers the new password and operations; the cluster changes only when they finish."""
    p = provider(api)
    reset = p.reset_password(target(), "app")
    new = reset.password.get_secret_value()
    assert reset.role == "app" and len(reset.operation_ids) == 1 and new != "oldpw123"
    assert "app" not in cluster.set
    assert api.operation(reset.operation_ids[0]).status in ("scheduling", "running")
    p.wait_for_operations(PROJECT, reset.operation_ids, deadline=time.monotonic() + 5)
    assert cluster.set["app"] == new
    assert api.operation(reset.operation_ids[0]).status == "finished"
    assert p.connection(target(), role="app").password.get_secret_value() == new


def test_the_new_password_is_redacted_as_soon_as_it_arrives(api: FakeNeon) -> None:
    """A reset's password is registered for redaction before the caller sees it."""
    reset = provider(api).reset_password(target(), "app")
    password = reset.password.get_secret_value()
    assert password not in redaction.scrub(f"leaked {password} here")
    assert password not in repr(reset)


def test_a_failed_operation_is_an_error_and_keeps_the_old_password(
    api: FakeNeon, cluster: Passwords
) -> None:
    """An operation ending 'failed' raises ProviderOperationFailed; nothing changes in the cluster."""
    api.fail_next_operation()
    p = provider(api)
    reset = p.reset_password(target(), "app")
    with pytest.raises(ProviderOperationFailed, match="ended failed") as info:
        p.wait_for_operations(PROJECT, reset.operation_ids, deadline=time.monotonic() + 5)
    assert info.value.transient
    assert cluster.set == {}
    assert p.connection(target(), role="app").password.get_secret_value() == "oldpw123"


def test_waiting_past_the_deadline_is_unavailable(api: FakeNeon) -> None:
    """Operations still running at the deadline give ProviderUnavailable, not a hang."""
    api.operation_delay = 5
    p = provider(api)
    reset = p.reset_password(target(), "app")
    with pytest.raises(ProviderUnavailable, match="past the deadline"):
        p.wait_for_operations(PROJECT, reset.operation_ids, deadline=time.monotonic() + 0.3)


def test_a_reset_during_a_running_operation_is_locked(api: FakeNeon) -> None:
    """A second reset while the first one's operation runs gets 423, a transient error."""
    api.operation_delay = 5
    p = provider(api, attempts=1)
    p.reset_password(target(), "app")
    with pytest.raises(ProviderUnavailable, match="423 Locked") as info:
        p.reset_password(target(), "app")
    assert info.value.transient


def test_a_locked_reset_is_tried_again_seconds_apart_until_it_is_accepted(api: FakeNeon) -> None:
    """Three 423 answers to a reset are waited out LOCKED_DELAY apart; the fourth attempt resets."""
    clock = Clock()
    p = provider(api, fake_time=clock)
    p.branch_id(target())
    api.fail_next(LOCKED, times=3)
    reset = p.reset_password(target(), "app")
    assert reset.password.get_secret_value() == api.password(PROJECT, "main", "app")
    assert clock.sleeps == [LOCKED_DELAY] * 3
    assert resets(api) == 4


def test_a_reset_locked_through_every_attempt_is_unavailable(api: FakeNeon) -> None:
    """After LOCKED_ATTEMPTS answers of 423 the reset gives up with a transient ProviderUnavailable."""
    clock = Clock()
    p = provider(api, fake_time=clock)
    p.branch_id(target())
    api.fail_next(LOCKED, times=LOCKED_ATTEMPTS + 1)
    with pytest.raises(ProviderUnavailable, match="423 Locked") as info:
        p.reset_password(target(), "app")
    assert info.value.transient
    assert resets(api) == LOCKED_ATTEMPTS
    assert clock.sleeps == [LOCKED_DELAY] * (LOCKED_ATTEMPTS - 1)


def test_a_locked_reset_never_waits_past_its_deadline(api: FakeNeon) -> None:
    """With 7 s to go, a reset locked throughout tries at 0, 3 and 6 s and gives up without sleeping past the deadline."""
    clock = Clock()
    p = provider(api, fake_time=clock)
    p.branch_id(target())
    api.fail_next(LOCKED, times=LOCKED_ATTEMPTS)
    deadline = clock.now + 7.0
    with pytest.raises(ProviderUnavailable, match="423 Locked"):
        p.reset_password(target(), "app", deadline=deadline)
    assert resets(api) == 3
    assert clock.sleeps == [LOCKED_DELAY, LOCKED_DELAY]
    assert clock.now <= deadline


def test_a_reset_whose_deadline_has_passed_sends_nothing(api: FakeNeon) -> None:
    """A reset asked for after its deadline is ProviderUnavailable without any request."""
    clock = Clock()
    p = provider(api, fake_time=clock)
    p.branch_id(target())
    before = len(api.requests)
    with pytest.raises(ProviderUnavailable, match="deadline"):
        p.reset_password(target(), "app", deadline=clock.now)
    assert len(api.requests) == before


def test_reads_keep_their_own_backoff_for_423(api: FakeNeon) -> None:
    """A 423 to a GET is retried with the configured backoff, not the reset's long waits."""
    clock = Clock()
    p = provider(api, fake_time=clock, attempts=3)
    p.branch_id(target())
    api.fail_next(LOCKED, times=3)
    with pytest.raises(ProviderUnavailable, match="423 Locked"):
        p.fetch(target())
    assert len(clock.sleeps) == 2 and all(s < LOCKED_DELAY for s in clock.sleeps)


def test_a_reset_listing_too_many_operations_is_refused(api: FakeNeon) -> None:
    """A reset answer with more than MAX_OPERATIONS operation ids is a ProviderResponseError."""
    p = provider(api)
    p.branch_id(target())
    operations = [{"id": f"op-{n}", "status": "finished"} for n in range(MAX_OPERATIONS + 1)]
    body = {"role": {"name": "app", "password": "x9Y8z7W6v5U4"}, "operations": operations}
    api.fail_next(Fault(200, json.dumps(body).encode()))
    with pytest.raises(ProviderResponseError, match=f"lists {MAX_OPERATIONS + 1} operations"):
        p.reset_password(target(), "app")
    with pytest.raises(ProviderResponseError, match="more than the"):
        p.wait_for_operations(PROJECT, [f"op-{n}" for n in range(MAX_OPERATIONS + 1)], 2000.0)


def test_the_deadline_is_checked_before_every_poll(api: FakeNeon) -> None:
    """Finished operations that take 1 s each to poll stop being polled once the deadline passes."""
    clock = Clock()
    polled: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        polled.append(request.url.path.rsplit("/", 1)[-1])
        clock.now += 1.0
        return httpx.Response(200, json={"operation": {"id": polled[-1], "status": "finished"}})

    p = provider(api, handler=handler, fake_time=clock)
    ids = [f"op-{n}" for n in range(MAX_OPERATIONS)]
    with pytest.raises(ProviderUnavailable, match="past the deadline"):
        p.wait_for_operations(PROJECT, ids, deadline=clock.now + 5.5)
    assert polled == ids[:6]
    assert clock.now <= 1000.0 + 6.0


def test_429_waits_for_retry_after(api: FakeNeon) -> None:
    """A 429 is retried after its Retry-After, then succeeds."""
    sleeps: list[float] = []
    p = provider(api, sleeps=sleeps)
    api.fail_next(Fault(429, b'{"message":"rate limited"}', {"Retry-After": "2"}))
    assert p.fetch(target()).username == "app"
    assert sleeps == [2.0]


def test_5xx_is_retried_then_unavailable(api: FakeNeon) -> None:
    """Server errors are retried up to max_attempts, then ProviderUnavailable."""
    api.fail_next(Fault(503), times=3)
    with pytest.raises(ProviderUnavailable, match="503"):
        provider(api, attempts=3).fetch(target())


def test_role_exists(api: FakeNeon) -> None:
    """role_exists is True for a role of the branch and False for one it lacks."""
    p = provider(api)
    assert p.role_exists(target(), "app_b")
    assert not p.role_exists(target(branch="dev"), "app_b")


def test_connection_for_another_role(api: FakeNeon) -> None:
    """connection(role=...) fetches the URI of that role, on the target's branch and database."""
    conn = provider(api).connection(target(), role="app_b")
    assert conn.username == "app_b" and conn.password.get_secret_value() == "b"


def test_missing_api_key_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without api_key_file, $NEON_API_KEY or a systemd credential, from_config names all three."""
    monkeypatch.delenv("NEON_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="NEON_API_KEY"):
        NeonProvider.from_config("neon", NeonConfig())


def test_api_key_from_credentials_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key is found in $CREDENTIALS_DIRECTORY/neon_api_key and pinned for redaction."""
    monkeypatch.delenv("NEON_API_KEY", raising=False)
    (tmp_path / "neon_api_key").write_text("napi_from_systemd_cred\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    p = NeonProvider.from_config("neon", NeonConfig())
    p.close()
    assert "napi_from_systemd_cred" not in redaction.scrub("key napi_from_systemd_cred")


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

