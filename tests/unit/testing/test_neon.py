"""Unit tests for syncd.testing.neon: the Neon stand-in's API, resets and operations, over a real PostgreSQL."""

from __future__ import annotations

import threading
import time

import httpx
import psycopg
import pytest

from syncd.testing.neon import FakeNeon, Fault
from tests.conftest import connects
from tests.support.neonfake import KEY, MAIN_ID, PROJECT, Passwords, provider, target
from tests.support.neonworld import NeonWorld


def test_threads_do_not_leak(neon_api: FakeNeon) -> None:
    """Closing the fake cancels pending operation timers."""
    neon_api.operation_delay = 30
    provider(neon_api).reset_password(target(), "app")
    before = threading.active_count()
    neon_api.close()
    time.sleep(0.05)
    assert threading.active_count() < before


def _client(neon_api: FakeNeon, key: str = KEY) -> httpx.Client:
    return httpx.Client(
        transport=httpx.MockTransport(neon_api.handle),
        base_url="https://console.neon.tech/api/v2",
        headers={"Authorization": f"Bearer {key}"},
    )


def _reset(
    client: httpx.Client, branch_id: str, role: str, project: str = PROJECT
) -> httpx.Response:
    return client.post(f"/projects/{project}/branches/{branch_id}/roles/{role}/reset_password")


def _uri(client: httpx.Client, project: str, database: str, role: str, **params: str) -> str:
    answer = client.get(
        f"/projects/{project}/connection_uri",
        params={"database_name": database, "role_name": role, **params},
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["uri"])


def test_a_reset_answers_the_new_password_and_sets_it_when_its_operation_finishes(
    neon_api: FakeNeon, cluster: Passwords
) -> None:
    """The reset answer carries the new password; set_password runs only once the operation finishes."""
    with _client(neon_api) as client:
        answer = _reset(client, MAIN_ID, "app")
        assert answer.status_code == 200
        new = answer.json()["role"]["password"]
        (operation,) = answer.json()["operations"]
        assert operation["status"] == "scheduling" and cluster.set == {}
        assert neon_api.password(PROJECT, "main", "app") == new  # Neon publishes it at once
        assert neon_api.settled(timeout=5)
        assert cluster.set == {"app": new}
        finished = client.get(f"/projects/{PROJECT}/operations/{operation['id']}").json()
        assert finished["operation"]["status"] == "finished"


def test_resets_are_locked_while_an_operation_runs_or_the_project_is_locked(
    neon_api: FakeNeon,
) -> None:
    """A reset during another operation of the project, or within lock_for, answers 423."""
    with _client(neon_api) as client:
        assert _reset(client, MAIN_ID, "app").status_code == 200
        assert _reset(client, MAIN_ID, "app_b").status_code == 423
        assert neon_api.settled(timeout=5)
        neon_api.lock_for(30)
        locked = _reset(client, MAIN_ID, "app")
        assert locked.status_code == 423 and "conflicting operations" in locked.json()["message"]


def test_a_failed_operation_puts_the_old_password_back(neon_api: FakeNeon, cluster: Passwords) -> None:
    """After fail_next_operation the reset's operation ends failed and Neon publishes the old password."""
    neon_api.fail_next_operation()
    with _client(neon_api) as client:
        assert _reset(client, MAIN_ID, "app").status_code == 200
        assert neon_api.settled(timeout=5)
    (operation,) = neon_api.operations()
    assert operation.status == "failed" and operation.as_json()["failures_count"] == 1
    assert neon_api.password(PROJECT, "main", "app") == "oldpw123" and cluster.set == {}


def test_unauthorised_unknown_and_missing_things_are_refused_like_neon() -> None:
    """A wrong key is 401, an unknown path 404, a missing role or branch 404, a non-GET 405."""
    neon_api = FakeNeon(KEY, set_password=Passwords(), direct=("db.example.test", 5432))
    neon_api.add_branch(PROJECT, "main", databases=["neondb"], roles={"app": "pw"}, branch_id=MAIN_ID)
    with _client(neon_api, key="wrong") as stranger:
        assert stranger.get(f"/projects/{PROJECT}/branches").status_code == 401
    with _client(neon_api) as client:
        assert client.get("/nothing/here").status_code == 404
        assert client.get(f"/projects/{PROJECT}/branches/{MAIN_ID}/roles/nobody").status_code == 404
        assert _reset(client, "br-none", "app").status_code == 404
        assert client.post(f"/projects/{PROJECT}/branches").status_code == 405
        roles = client.get(f"/projects/{PROJECT}/branches/{MAIN_ID}/roles").json()["roles"]
        assert [r["name"] for r in roles] == ["app"] and "password" not in roles[0]
    assert [r.authorized for r in neon_api.requests] == [False, True, True, True, True, True]


def test_on_request_sees_each_request_and_faults_come_first(neon_api: FakeNeon) -> None:
    """on_request is called with every request; an injected fault answers before the API does."""
    seen: list[str] = []
    neon_api.on_request = lambda request: seen.append(request.path)
    neon_api.fail_next(Fault(429, b"{}", {"Retry-After": "1"}))
    with _client(neon_api) as client:
        throttled = client.get(f"/projects/{PROJECT}/branches")
        assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
        assert client.get(f"/projects/{PROJECT}/branches").status_code == 200
    assert seen == [f"/api/v2/projects/{PROJECT}/branches"] * 2


@pytest.mark.e2e
def test_uris_connect_direct_and_pooled_and_the_old_password_works_until_the_reset_finishes(
    neon: NeonWorld,
) -> None:
    """Over HTTP, the direct URI reaches PostgreSQL and the pooled one PgBouncer; a reset bites when done."""
    creds = neon.add_branch("standin-proj", "main")
    with httpx.Client(
        base_url=neon.base_url, headers={"Authorization": f"Bearer {neon.api.api_key}"}
    ) as client:
        direct = _uri(client, "standin-proj", creds.database, creds.role)
        pooled = _uri(client, "standin-proj", creds.database, creds.role, pooled="true")
        assert "sslmode=require" in direct and "channel_binding=require" in direct
        assert "sslmode=require" in pooled and "channel_binding" not in pooled
        assert f":{neon.postgres.port}/" in direct and f":{neon.postgres.port}/" not in pooled
        assert connects(direct) == connects(pooled) == creds.role
        branch_id = client.get("/projects/standin-proj/branches").json()["branches"][0]["id"]
        assert _reset(client, branch_id, creds.role, "standin-proj").status_code == 200
        assert connects(direct) == creds.role  # the operation has not finished yet
        assert neon.api.settled(timeout=30)
        renewed = _uri(client, "standin-proj", creds.database, creds.role)
        assert connects(renewed) == creds.role
        with pytest.raises(psycopg.OperationalError):
            connects(direct)
