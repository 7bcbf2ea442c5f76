"""Tests for the Vault sink's authentication: token sources, renewal, AppRole, Kubernetes."""

from __future__ import annotations

import io
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hvac
import pytest
from structlog.testing import capture_logs

from syncd import logs, redaction
from syncd.core.engine import Engine
from syncd.core.models import Action, SecretState, SinkBinding, Target
from syncd.errors import ConfigError, SinkAuthError
from syncd.sinks.vault import VaultSink, VaultSinkConfig
from syncd.testing.contract import SyncWorld
from syncd.testing.fakes import StaticProvider
from tests.support.servers.ports import free_port
from tests.support.servers.vault import VaultDevServer
from tests.support.vaultutil import (
    AUDIENCE,
    ServiceAccountIssuer,
    TokenReviewServer,
    closing,
    make_token,
    read_data,
)


def build(vault: VaultDevServer, auth: dict[str, Any], environ: dict[str, str]) -> VaultSink:
    """A sink built by from_config, the way the daemon builds it."""
    config = VaultSinkConfig.model_validate({"type": "vault", "url": vault.addr, "auth": auth})
    return VaultSink.from_config("vault", config, environ=environ)


def write(directory: Path, name: str, text: str) -> Path:
    """Write a credential file (trailing newline, as editors and Kubernetes leave it)."""
    path = directory / name
    path.write_text(text + "\n")
    return path


def logins(logs: list[dict[str, Any]]) -> int:
    """How many logins the captured log events report."""
    return sum(1 for event in logs if event["event"] == "vault_logged_in")


# -- token ---------------------------------------------------------------------------


@pytest.mark.parametrize("winner", ["token_file", "VAULT_TOKEN", "credentials_directory", "home"])
def test_token_sources_in_order(
    vault: VaultDevServer, root: hvac.Client, tmp_path: Path, winner: str
) -> None:
    """token_file, then VAULT_TOKEN, then $CREDENTIALS_DIRECTORY/vault_token, then ~/.vault-token."""
    order = ["token_file", "VAULT_TOKEN", "credentials_directory", "home"]
    good = make_token(root)
    auth: dict[str, Any] = {"method": "token"}
    env: dict[str, str] = {"HOME": str(tmp_path)}
    (tmp_path / "creds").mkdir()
    for source in order[order.index(winner) :]:
        token = good if source == winner else f"bogus-{secrets.token_hex(8)}"
        if source == "token_file":
            auth["token_file"] = str(write(tmp_path, "token", token))
        elif source == "VAULT_TOKEN":
            env["VAULT_TOKEN"] = token
        elif source == "credentials_directory":
            write(tmp_path / "creds", "vault_token", token)
            env["CREDENTIALS_DIRECTORY"] = str(tmp_path / "creds")
        else:
            write(tmp_path, ".vault-token", token)
    with closing(build(vault, auth, env)) as sink:
        assert sink.inspect("syncd/app") == SecretState.missing()


def test_no_token_is_a_config_error(vault: VaultDevServer, tmp_path: Path) -> None:
    """Without any token source, building the sink says where a token may come from."""
    with pytest.raises(
        ConfigError, match=r"no Vault token: set sinks\.vault\.auth\.token_file, VAULT_TOKEN"
    ):
        build(vault, {"method": "token"}, {"HOME": str(tmp_path)})


def test_revoked_token_fails_until_the_file_holds_a_new_one(
    vault: VaultDevServer, root: hvac.Client, tmp_path: Path
) -> None:
    """A revoked static token is a clear SinkAuthError; a token rotated into the file is picked up."""
    token = make_token(root)
    token_file = write(tmp_path, "token", token)
    with closing(build(vault, {"method": "token", "token_file": str(token_file)}, {})) as sink:
        sink.inspect("syncd/app")
        root.auth.token.revoke(token)
        with pytest.raises(
            SinkAuthError, match="Vault rejected the token: it is expired, revoked or not a token"
        ) as info:
            sink.inspect("syncd/app")
        assert token not in str(info.value)
        write(tmp_path, "token", make_token(root))
        assert sink.inspect("syncd/app") == SecretState.missing()


@pytest.mark.e2e
def test_token_is_renewed_past_half_its_ttl(
    vault: VaultDevServer, root: hvac.Client, tmp_path: Path
) -> None:
    """A renewable token is renewed once half its TTL has passed, so it outlives its first TTL."""
    token = make_token(root, ttl="2s", explicit_max_ttl="1m")
    sink = build(vault, {"method": "token", "token_file": str(write(tmp_path, "t", token))}, {})
    with closing(sink), capture_logs() as logs:
        sink.inspect("syncd/app")
        for _ in range(3):
            time.sleep(1.1)
            sink.inspect("syncd/app")
    assert sum(1 for e in logs if e["event"] == "vault_token_renewed") >= 2
    assert root.auth.token.lookup(token)["data"]["ttl"] >= 1


# -- AppRole ---------------------------------------------------------------------------------


def approle_files(root: hvac.Client, directory: Path) -> tuple[Path, Path, str]:
    """role_id and a fresh secret_id of role ``syncd`` as files; also the secret_id itself."""
    role_id = root.auth.approle.read_role_id("syncd")["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id("syncd")["data"]["secret_id"]
    return write(directory, "role_id", role_id), write(directory, "secret_id", secret_id), secret_id


def test_approle_login_full_cycle_and_relogin_after_revocation(
    vault: VaultDevServer, root: hvac.Client, tmp_path: Path
) -> None:
    """AppRole from files runs a full cycle; after its token is revoked the next call logs in once and succeeds."""
    role_file, secret_file, secret_id = approle_files(root, tmp_path)
    auth = {"method": "approle", "role_id_file": str(role_file), "secret_id_file": str(secret_file)}
    with capture_logs() as logs, closing(build(vault, auth, {})) as sink:
        world = SyncWorld(sink, f"syncd/{secrets.token_hex(6)}", "json")
        assert world.sync() == (Action.CREATE, True)
        assert world.sync() == (Action.UNCHANGED, False)
        root.sys.revoke_prefix("auth/approle/login")
        world.rotate()
        assert world.sync() == (Action.UPDATE, True)
        assert world.sync() == (Action.UNCHANGED, False)
    assert logins(logs) == 2
    assert any(e["event"] == "vault_token_invalid" for e in logs)
    assert read_data(root, world.secret)["password"] == world.password
    assert redaction.scrub(f"id={secret_id}") == "id=***"
    assert secret_id not in repr(logs)


def test_parallel_targets_share_one_relogin(
    vault: VaultDevServer, root: hvac.Client, tmp_path: Path
) -> None:
    """Eight targets syncing in parallel after a revocation all succeed on one new login."""
    role_file, secret_file, _ = approle_files(root, tmp_path)
    auth = {"method": "approle", "role_id_file": str(role_file), "secret_id_file": str(secret_file)}
    prefix = f"syncd/par-{secrets.token_hex(4)}"
    provider = StaticProvider()
    targets = [
        Target(f"t{i}", "p", "proj_par", sinks=(SinkBinding("vault", f"{prefix}/{i}"),))
        for i in range(8)
    ]
    with capture_logs() as logs, closing(build(vault, auth, {})) as sink:
        engine = Engine({"p": provider}, {"vault": sink}, concurrency=8)
        for password in ("first-pw-1", "second-pw-2"):
            provider.uris[("proj_par", "main", False)] = (
                f"postgresql://app:{password}@db.example.test:5432/app?sslmode=require"
            )
            report = engine.run_cycle(targets)
            assert report.ok, [s.error for t in report.outcomes for s in t.sinks]
            root.sys.revoke_prefix("auth/approle/login")
    assert report.counts["update"] == 8
    assert logins(logs) == 2


def test_token_events_name_the_sink_not_the_target_that_logged_in(
    vault: VaultDevServer, root: hvac.Client, tmp_path: Path
) -> None:
    """vault_logged_in carries no target: the token is the sink's, whichever target logged in."""
    role_file, secret_file, _ = approle_files(root, tmp_path)
    auth = {
        "method": "approle",
        "mount": "approle/",  # as 'bao auth list' prints it
        "role_id_file": str(role_file),
        "secret_id_file": str(secret_file),
    }
    prefix = f"syncd/tok-{secrets.token_hex(4)}"
    provider = StaticProvider()
    provider.uris[("proj_tok", "main", False)] = (
        "postgresql://app:tok-pw-1@db.example.test:5432/app?sslmode=require"
    )
    targets = [
        Target(f"t{i}", "p", "proj_tok", sinks=(SinkBinding("vault", f"{prefix}/{i}"),))
        for i in range(3)
    ]
    stream = io.StringIO()
    logs.configure("info", "json", stream)
    with closing(build(vault, auth, {})) as sink:
        assert Engine({"p": provider}, {"vault": sink}, concurrency=1).run_cycle(targets).ok
        root.sys.revoke_prefix("auth/approle/login")
        assert Engine({"p": provider}, {"vault": sink}, concurrency=1).run_cycle(targets[:1]).ok
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    token_events = [e for e in events if e["event"] in ("vault_logged_in", "vault_token_invalid")]
    assert [e["event"] for e in token_events] == [
        "vault_logged_in", "vault_token_invalid", "vault_logged_in"
    ]
    assert all(e["sink"] == "vault" and "target" not in e for e in token_events)
    created = [e for e in events if e["event"] == "secret_created"]
    assert {e["target"] for e in created} == {"t0", "t1", "t2"}  # other events keep theirs


@pytest.mark.e2e
def test_approle_logs_in_afresh_near_max_ttl(
    vault: VaultDevServer, root: hvac.Client, tmp_path: Path
) -> None:
    """When renewal cannot extend a token past half its TTL (max TTL reached), syncd logs in again."""
    root.write_data(
        "auth/approle/role/short",
        data={"token_policies": ["syncd"], "token_ttl": "2s", "token_max_ttl": "2s"},
    )
    role_id = root.auth.approle.read_role_id("short")["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id("short")["data"]["secret_id"]
    env = {"VAULT_ROLE_ID": role_id, "VAULT_SECRET_ID": secret_id}
    with (
        capture_logs() as logs,
        closing(build(vault, {"method": "approle", "mount": "approle"}, env)) as sink,
    ):
        sink.inspect("syncd/app")
        time.sleep(1.1)
        assert sink.inspect("syncd/app") == SecretState.missing()
    assert logins(logs) == 2
    assert not any(e["event"] == "vault_token_invalid" for e in logs)


def test_approle_from_env_and_credentials_directory(
    vault: VaultDevServer, root: hvac.Client, tmp_path: Path
) -> None:
    """VAULT_ROLE_ID and $CREDENTIALS_DIRECTORY/vault_secret_id are used when no files are configured."""
    role_file, secret_file, _ = approle_files(root, tmp_path)
    (tmp_path / "creds").mkdir()
    secret_file.rename(tmp_path / "creds" / "vault_secret_id")
    env = {
        "VAULT_ROLE_ID": role_file.read_text().strip(),
        "CREDENTIALS_DIRECTORY": str(tmp_path / "creds"),
    }
    with closing(build(vault, {"method": "approle"}, env)) as sink:
        assert sink.inspect("syncd/app") == SecretState.missing()


def test_approle_wrong_secret_id_is_an_auth_error(
    vault: VaultDevServer, root: hvac.Client, tmp_path: Path
) -> None:
    """A refused AppRole login is a SinkAuthError naming the auth mount, not the secret id."""
    role_file, _, _ = approle_files(root, tmp_path)
    bogus = f"bogus-{secrets.token_hex(8)}"
    auth = {
        "method": "approle",
        "role_id_file": str(role_file),
        "secret_id_file": str(write(tmp_path, "s", bogus)),
    }
    with closing(build(vault, auth, {})) as sink, pytest.raises(SinkAuthError) as info:
        sink.inspect("syncd/app")
    assert "approle login at auth/approle was refused" in str(info.value)
    assert bogus not in str(info.value)


def test_approle_without_secret_id_is_a_config_error(vault: VaultDevServer, tmp_path: Path) -> None:
    """A missing secret_id fails at startup and lists where it may come from."""
    with pytest.raises(
        ConfigError, match=r"no AppRole secret_id: set sinks\.vault\.auth\.secret_id_file"
    ):
        build(vault, {"method": "approle", "role_id": "r-123456"}, {})


# -- Kubernetes -------------------------------------------------------------------------------


@pytest.fixture
def kubernetes(root: hvac.Client, tmp_path: Path) -> Iterator[TokenReviewServer]:
    """The kubernetes auth method wired to a local TokenReview server, with role ``syncd``."""
    issuer = ServiceAccountIssuer()
    with TokenReviewServer(issuer, tmp_path) as reviewer:
        configure_kubernetes(root, reviewer, reviewer.host)
        root.write_data(
            "auth/kubernetes/role/syncd",
            data={
                "bound_service_account_names": [issuer.name],
                "bound_service_account_namespaces": [issuer.namespace],
                "audience": AUDIENCE,
                "token_policies": ["syncd"],
                "token_ttl": "1h",
            },
        )
        yield reviewer


def configure_kubernetes(root: hvac.Client, reviewer: TokenReviewServer, host: str) -> None:
    """Point the kubernetes auth method at ``host``, trusting the reviewer's CA and the issuer's key."""
    root.write_data(
        "auth/kubernetes/config",
        data={
            "kubernetes_host": host,
            "kubernetes_ca_cert": reviewer.tls.cert.read_text(),
            "pem_keys": [reviewer.issuer.public_pem],
            "disable_local_ca_jwt": True,
        },
    )


def test_kubernetes_login_full_cycle_and_relogin(
    vault: VaultDevServer, root: hvac.Client, kubernetes: TokenReviewServer, tmp_path: Path
) -> None:
    """The service-account JWT logs in through TokenReview; after revocation the rotated JWT is re-read."""
    jwt_file = write(tmp_path, "token", kubernetes.issuer.sign())
    auth = {"method": "kubernetes", "role": "syncd", "jwt_file": str(jwt_file)}
    with capture_logs() as logs, closing(build(vault, auth, {})) as sink:
        world = SyncWorld(sink, f"syncd/{secrets.token_hex(6)}", "env")
        assert world.sync() == (Action.CREATE, True)
        assert kubernetes.reviewed == [jwt_file.read_text().strip()]
        rotated = kubernetes.issuer.sign()
        write(tmp_path, "token", rotated)
        root.sys.revoke_prefix("auth/kubernetes/login")
        assert world.sync() == (Action.UNCHANGED, False)
    assert kubernetes.reviewed[-1] == rotated
    assert logins(logs) == 2
    assert rotated not in repr(logs)
    assert redaction.scrub(rotated) == "***"


def test_kubernetes_refused_when_token_review_fails(
    vault: VaultDevServer, kubernetes: TokenReviewServer, tmp_path: Path
) -> None:
    """When the API server does not authenticate the JWT, login is a SinkAuthError."""
    kubernetes.authenticate = False
    auth = {
        "method": "kubernetes",
        "role": "syncd",
        "jwt_file": str(write(tmp_path, "jwt", kubernetes.issuer.sign())),
    }
    with (
        closing(build(vault, auth, {})) as sink,
        pytest.raises(SinkAuthError, match="kubernetes login at auth/kubernetes was refused"),
    ):
        sink.inspect("syncd/app")
    assert len(kubernetes.reviewed) == 1


def test_pem_keys_do_not_replace_token_review(
    vault: VaultDevServer, root: hvac.Client, kubernetes: TokenReviewServer, tmp_path: Path
) -> None:
    """Even with pem_keys set, OpenBao asks TokenReview: an unreachable API server refuses the login."""
    configure_kubernetes(root, kubernetes, f"https://127.0.0.1:{free_port()}")
    auth = {
        "method": "kubernetes",
        "role": "syncd",
        "jwt_file": str(write(tmp_path, "jwt", kubernetes.issuer.sign())),
    }
    with closing(build(vault, auth, {})) as sink, pytest.raises(SinkAuthError):
        sink.inspect("syncd/app")
    assert root.read("auth/kubernetes/config")["data"]["pem_keys"] == [
        kubernetes.issuer.public_pem.strip()
    ]
    assert kubernetes.reviewed == []


def test_missing_jwt_file_is_a_config_error(vault: VaultDevServer, tmp_path: Path) -> None:
    """A service-account token file that cannot be read fails at startup, naming the file."""
    with pytest.raises(ConfigError, match="Kubernetes service account token"):
        build(
            vault, {"method": "kubernetes", "role": "syncd", "jwt_file": str(tmp_path / "none")}, {}
        )
