"""Tests for the Vault KV v2 sink against a real OpenBao (and Vault, if installed) dev server."""

from __future__ import annotations

import dataclasses
import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hvac
import pytest
from pydantic import ValidationError

from syncd.core import lease
from syncd.core.engine import Engine
from syncd.core.models import Action, RotationMark, SecretState, SinkBinding, Target
from syncd.errors import (
    ConfigError,
    SecretNotManaged,
    SinkConflict,
    SinkError,
)
from syncd.sinks.vault import VaultSink, VaultSinkConfig
from syncd.testing.contract import (
    LeaserContract,
    MarkWriter,
    ReadBack,
    SinkContract,
    SyncWorld,
    Writer,
)
from syncd.testing.fakes import StaticProvider
from tests.conftest import run_syncd
from tests.support.servers.vault import VaultDevServer
from tests.support.vaultutil import (
    POLICY,
    Recorder,
    closing,
    make_token,
    metadata,
    read_data,
    sink_from,
    text_file,
    tls_dev_server,
)

DOCS = Path(__file__).resolve().parents[3] / "docs" / "vault.md"


class TestVaultLeaser(LeaserContract):
    """The Vault sink's lease is a sibling KV secret written with check-and-set."""

    @pytest.fixture
    def sink(self, vault: VaultDevServer) -> Iterator[VaultSink]:
        with closing(VaultSink("vault", vault.client())) as sink:
            yield sink

    @pytest.fixture
    def read_back(self, root: hvac.Client) -> ReadBack:
        return lambda secret: json.dumps(read_data(root, secret), sort_keys=True)


class TestVaultContract(SinkContract):
    """The shared sink contract, against KV v2 at ``secret/``."""

    @pytest.fixture
    def sink(self, vault: VaultDevServer) -> Iterator[VaultSink]:
        with closing(VaultSink("vault", vault.client())) as sink:
            yield sink

    @pytest.fixture
    def read_back(self, root: hvac.Client) -> ReadBack:
        def read(secret: str) -> str:
            data = read_data(root, secret)
            return (
                str(data["value"]) if set(data) == {"value"} else json.dumps(data, sort_keys=True)
            )

        return read

    @pytest.fixture
    def write_foreign(self, root: hvac.Client) -> Writer:
        return lambda secret, text: root.secrets.kv.v2.create_or_update_secret(
            secret, {"value": text}
        )

    @pytest.fixture
    def create_unmanaged(self, root: hvac.Client) -> Writer:
        return lambda secret, text: root.secrets.kv.v2.create_or_update_secret(
            secret, {"value": text}
        )

    @pytest.fixture
    def write_raw_mark(self, root: hvac.Client) -> MarkWriter:
        def write(secret: str, rotated_at: str, role: str) -> None:
            custom = metadata(root, secret)["custom_metadata"] or {}
            custom.update({"syncd-rotated-at": rotated_at, "syncd-role": role})
            custom = {k: v for k, v in custom.items() if v}  # Vault refuses empty values
            root.secrets.kv.v2.update_metadata(secret, custom_metadata=custom)

        return write


# -- what is written ---------------------------------------------------------


def test_rotation_mark_is_custom_metadata(world: SyncWorld, root: hvac.Client) -> None:
    """A rotation's mark is recorded as syncd-rotated-at and syncd-role, next to others' keys."""
    world.sync()
    custom = metadata(root, world.secret)["custom_metadata"]
    root.secrets.kv.v2.update_metadata(world.secret, custom_metadata={**custom, "team": "a"})
    world.rotate()
    mark = RotationMark(datetime(2034, 5, 6, 7, 8, 9, tzinfo=UTC), "app_owner_b")
    request = dataclasses.replace(world.request(world.sink), action=Action.UPDATE, rotation=mark)
    assert world.sink.write(request) == "2"
    custom = metadata(root, world.secret)["custom_metadata"]
    assert custom["syncd-rotated-at"] == "2034-05-06T07:08:09Z"
    assert custom["syncd-role"] == "app_owner_b"
    assert custom["team"] == "a" and custom["syncd-version"] == "2"


def test_create_writes_fields_and_ownership_metadata(world: SyncWorld, root: hvac.Client) -> None:
    """A create stores the document's fields as KV data and syncd's markers as custom metadata."""
    assert world.sync() == (Action.CREATE, True)
    data = read_data(root, world.secret)
    assert data["password"] == world.password
    assert data["port"] == 5432
    assert data["pooled"] is False
    custom = metadata(root, world.secret)["custom_metadata"]
    assert custom["managed-by"] == "syncd"
    assert custom["syncd-target"] == "contract"
    assert custom["syncd-version"] == "1"
    assert len(custom["syncd-fingerprint"]) == 56


@pytest.mark.parametrize(("fmt", "key"), [("uri", "uri"), ("env", "DATABASE_URL")])
def test_uri_and_env_formats_store_one_key(
    sink: VaultSink, root: hvac.Client, fmt: str, key: str
) -> None:
    """``uri`` is stored as {uri: ...} and ``env`` as {DATABASE_URL: ...}."""
    world = SyncWorld(sink, f"syncd/{secrets.token_hex(6)}", fmt)
    world.sync()
    data = read_data(root, world.secret)
    assert list(data) == [key]
    assert world.password in data[key]
    assert not data[key].startswith("DATABASE_URL=")


@pytest.mark.parametrize("fmt", ["json", "env"])
def test_keys_and_presets_are_the_secrets_keys(sink: VaultSink, root: hvac.Client, fmt: str) -> None:
    """A preset's or keys' names are the KV keys, each value a string, in either keyed format."""
    direct = "postgresql://app:pw-vault-123@db.example/app?sslmode=require"
    provider = StaticProvider(
        {("proj_v", "main", False): direct, ("proj_v", "main", True): direct.replace("@db.", "@pool.")}
    )
    prefix = f"syncd/{secrets.token_hex(6)}"
    target = Target(
        "keyed",
        "p",
        "proj_v",
        sinks=(
            SinkBinding("vault", f"{prefix}/prisma", fmt, preset="prisma"),
            SinkBinding("vault", f"{prefix}/keys", fmt, keys=(("PORT", "port"), ("JDBC", "jdbc_url"))),
        ),
    )
    assert Engine({"p": provider}, {"vault": sink}).sync_target(target).ok
    assert read_data(root, f"{prefix}/prisma") == {
        "DATABASE_URL": direct.replace("@db.", "@pool."),
        "DIRECT_URL": direct,
    }
    assert read_data(root, f"{prefix}/keys") == {
        "PORT": "5432",
        "JDBC": "jdbc:postgresql://db.example:5432/app?sslmode=require",
    }


def test_unchanged_creates_no_version_and_update_adds_one(
    world: SyncWorld, root: hvac.Client
) -> None:
    """An unchanged value writes nothing; a rotated one adds exactly one version."""
    world.sync()
    assert world.sync() == (Action.UNCHANGED, False)
    assert metadata(root, world.secret)["current_version"] == 1
    world.rotate()
    assert world.sync() == (Action.UPDATE, True)
    meta = metadata(root, world.secret)
    assert meta["current_version"] == 2
    assert meta["custom_metadata"]["syncd-version"] == "2"


def test_drift_is_repaired_and_history_kept(world: SyncWorld, root: hvac.Client) -> None:
    """A foreign version is drift: syncd writes the next version and the foreign one stays in history."""
    world.sync()
    root.secrets.kv.v2.create_or_update_secret(world.secret, {"password": "tampered"})
    assert world.sync() == (Action.DRIFT, True)
    assert metadata(root, world.secret)["current_version"] == 3
    assert read_data(root, world.secret)["password"] == world.password
    old = root.secrets.kv.v2.read_secret_version(
        path=world.secret, version=2, raise_on_deleted_version=True
    )
    assert old["data"]["data"] == {"password": "tampered"}
    assert world.sync() == (Action.UNCHANGED, False)


def test_deleted_current_version_is_drift(world: SyncWorld, root: hvac.Client) -> None:
    """A soft-deleted (or destroyed) current version is rewritten as drift."""
    world.sync()
    root.secrets.kv.v2.delete_latest_version_of_secret(world.secret)
    assert world.sync() == (Action.DRIFT, True)
    root.secrets.kv.v2.destroy_secret_versions(world.secret, versions=[2])
    assert world.sync() == (Action.DRIFT, True)
    assert read_data(root, world.secret)["password"] == world.password


def test_scheduled_deletion_is_not_drift(world: SyncWorld, root: hvac.Client) -> None:
    """With delete_version_after, a version's future deletion time does not count as deleted."""
    root.secrets.kv.v2.update_metadata(world.secret, delete_version_after="1h")
    assert world.sync() == (Action.CREATE, True)
    assert metadata(root, world.secret)["versions"]["1"]["deletion_time"]
    assert world.sync() == (Action.UNCHANGED, False)


def test_adopt_keeps_foreign_metadata_keys(world: SyncWorld, root: hvac.Client) -> None:
    """Adopting marks the secret as syncd's and keeps custom metadata others set."""
    root.secrets.kv.v2.create_or_update_secret(world.secret, {"value": "theirs"})
    root.secrets.kv.v2.update_metadata(world.secret, custom_metadata={"owner": "team-a"})
    with pytest.raises(AssertionError, match="not managed by syncd"):
        world.sync()
    world.adopt = True
    assert world.sync() == (Action.UPDATE, True)
    custom = metadata(root, world.secret)["custom_metadata"]
    assert custom["owner"] == "team-a"
    assert custom["managed-by"] == "syncd"
    assert custom["syncd-version"] == "2"


def test_unmanaged_secret_is_not_touched(world: SyncWorld, root: hvac.Client) -> None:
    """Without adopt, a foreign secret keeps its single version and its metadata."""
    root.secrets.kv.v2.create_or_update_secret(world.secret, {"value": "theirs"})
    outcome = world.engine.sync_target(world.target).sinks[0]
    assert isinstance(outcome.error, SecretNotManaged)
    meta = metadata(root, world.secret)
    assert meta["current_version"] == 1
    assert meta["custom_metadata"] is None


def test_interrupted_create_reads_as_missing(world: SyncWorld, root: hvac.Client) -> None:
    """Metadata without any version (a create that stopped after claiming) is created normally."""
    root.secrets.kv.v2.update_metadata(world.secret, custom_metadata={"managed-by": "syncd"})
    assert world.sink.inspect(world.secret) == SecretState.missing()
    assert world.sync() == (Action.CREATE, True)


# -- check-and-set ------------------------------------------------------------


def test_write_after_foreign_write_is_a_conflict(
    sink: VaultSink, world: SyncWorld, root: hvac.Client
) -> None:
    """A write based on a stale inspect raises SinkConflict and leaves the foreign value alone."""
    world.sync()
    world.rotate()
    request = world.request(sink)
    root.secrets.kv.v2.create_or_update_secret(world.secret, {"value": "concurrent"})
    with pytest.raises(SinkConflict) as info:
        sink.write(request)
    assert info.value.transient
    assert read_data(root, world.secret) == {"value": "concurrent"}


def test_data_write_uses_check_and_set(vault: VaultDevServer, root: hvac.Client) -> None:
    """A writer slipping in right before the data write makes Vault's cas refuse it."""
    secret = f"syncd/{secrets.token_hex(6)}"

    class RacingAdapter(hvac.adapters.JSONAdapter):
        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            if method == "post" and "/data/" in url:
                root.secrets.kv.v2.create_or_update_secret(secret, {"value": "racer"})
            return super().request(method, url, *args, **kwargs)

    client = hvac.Client(url=vault.addr, token=vault.root_token, adapter=RacingAdapter)
    with closing(VaultSink("vault", client)) as sink:
        world = SyncWorld(sink, secret, "json")
        outcome = world.engine.sync_target(world.target).sinks[0]
    assert isinstance(outcome.error, SinkConflict)
    assert read_data(root, secret) == {"value": "racer"}


def test_requests_are_reported_to_an_observer(sink: VaultSink, world: SyncWorld) -> None:
    """Each HTTP request to Vault is reported with its outcome (a missing secret as not_found)."""
    recorder = Recorder()
    sink.observe(recorder)
    world.sync()
    assert ("sink", "vault", "not_found") in recorder.seen
    assert {outcome for _, _, outcome in recorder.seen} == {"ok", "not_found"}
    assert len(recorder.seen) >= 4  # mount check, inspect, metadata, claim, data, metadata


# -- errors --------------------------------------------------------------------


def test_mount_as_secrets_list_prints_it_is_accepted(
    vault: VaultDevServer, root: hvac.Client, tmp_path: Path
) -> None:
    """``mount: secret/`` (one trailing '/', as 'bao secrets list' shows it) is the mount secret."""
    assert VaultSinkConfig.model_validate({"type": "vault", "mount": "secret/"}).mount == "secret"
    with closing(sink_from(vault, tmp_path, vault.root_token, mount="secret/")) as sink:
        world = SyncWorld(sink, f"syncd/{secrets.token_hex(6)}", "json")
        assert world.sync() == (Action.CREATE, True)
    assert read_data(root, world.secret)["password"] == world.password


@pytest.mark.parametrize("mount", ["/secret", "secret//", "team//kv", "se cret", ""])
def test_a_malformed_mount_is_refused_in_words(tmp_path: Path, mount: str) -> None:
    """A mount that is no mount path is one config error in plain words, not a regex: exit 2."""
    path = tmp_path / "syncd.yaml"
    path.write_text(
        "providers:\n  casedev: {type: casedev}\nsinks:\n  vault:\n    type: vault\n"
        f"    url: http://127.0.0.1:8200\n    mount: '{mount}'\n"
        "targets: [{name: a, provider: casedev, project: p, sinks: [{sink: vault, secret: a}]}]\n"
    )
    result = run_syncd("check", "--config", str(path))
    assert result.code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"syncd: config error: {path}: line 7: sinks.vault.mount: {mount!r} is ")
    assert "is not a mount path: names of letters, digits" in line
    assert "pattern" not in line and "^" not in line


def test_namespace_is_used(vault: VaultDevServer, root: hvac.Client, tmp_path: Path) -> None:
    """With ``namespace`` (or VAULT_NAMESPACE) the secret lands in that namespace's mount."""
    if vault.binary == "vault":
        pytest.skip("namespaces are a Vault Enterprise feature")
    ns = f"team-{secrets.token_hex(3)}"
    root.write_data(f"sys/namespaces/{ns}", data={})
    scoped = hvac.Client(url=vault.addr, token=vault.root_token, namespace=ns)
    try:
        scoped.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
        token_file = text_file(tmp_path, vault.root_token)
        config = VaultSinkConfig(
            url=vault.addr, auth={"method": "token", "token_file": str(token_file)}
        )
        env = {"VAULT_NAMESPACE": ns, "HOME": str(tmp_path)}
        with closing(VaultSink.from_config("vault", config, environ=env)) as sink:
            world = SyncWorld(sink, "syncd/app", "uri")
            assert world.sync() == (Action.CREATE, True)
        assert world.password in read_data(scoped, "syncd/app")["uri"]
    finally:
        scoped.adapter.close()


# -- least privilege -------------------------------------------------------------


def test_docs_carry_the_tested_policy() -> None:
    """docs/vault.md shows exactly the policy these tests run with."""
    assert POLICY in DOCS.read_text(encoding="utf-8")


def test_least_privilege_policy_runs_a_full_cycle(
    vault: VaultDevServer, root: hvac.Client, tmp_path: Path
) -> None:
    """A token with only the documented policy creates, updates and skips; it cannot read the data."""
    token = make_token(root)
    with closing(sink_from(vault, tmp_path, token)) as sink:
        world = SyncWorld(sink, f"syncd/{secrets.token_hex(6)}", "json")
        assert world.sync() == (Action.CREATE, True)
        assert world.sync() == (Action.UNCHANGED, False)
        world.rotate()
        assert world.sync() == (Action.UPDATE, True)
        root.secrets.kv.v2.create_or_update_secret(world.secret, {"value": "tampered"})
        assert world.sync() == (Action.DRIFT, True)
    assert read_data(root, world.secret)["password"] == world.password
    limited = hvac.Client(url=vault.addr, token=token)
    try:
        with pytest.raises(hvac.exceptions.Forbidden):
            limited.secrets.kv.v2.read_secret_version(
                path=world.secret, raise_on_deleted_version=True
            )
    finally:
        limited.adapter.close()


def test_least_privilege_policy_publishes_a_rotation(
    vault: VaultDevServer, root: hvac.Client, tmp_path: Path
) -> None:
    """The documented policy is enough for rotation: a write carrying a mark, and the lease."""
    token = make_token(root)
    with closing(sink_from(vault, tmp_path, token)) as sink:
        world = SyncWorld(sink, f"syncd/{secrets.token_hex(6)}", "json")
        assert world.sync() == (Action.CREATE, True)
        world.rotate()
        mark = RotationMark(datetime.now(UTC).replace(microsecond=0), "app_owner")
        sink.write(dataclasses.replace(world.request(sink), action=Action.UPDATE, rotation=mark))
        assert sink.inspect(world.secret).rotation == mark
        held = sink.take_lease(world.secret, lease.new(datetime.now(UTC), mark), None)
        seen = sink.read_lease(world.secret)
        assert seen is not None and seen.lease == held.lease
        sink.release_lease(world.secret, held)
    assert read_data(root, world.secret)["password"] == world.password


# -- TLS -----------------------------------------------------------------------------


@pytest.mark.e2e
def test_tls_is_verified_against_the_configured_ca(vault: VaultDevServer, tmp_path: Path) -> None:
    """Over HTTPS the server certificate is always verified: with ca_cert or VAULT_CACERT it works, without it fails."""
    with tls_dev_server(vault.binary) as (addr, ca, token):
        token_file = text_file(tmp_path, token)
        auth = {"method": "token", "token_file": str(token_file)}
        with closing(
            VaultSink.from_config("vault", VaultSinkConfig(url=addr, auth=auth), environ={})
        ) as sink:
            with pytest.raises(
                SinkError, match=r"TLS verification of .* failed; set sinks\.vault\.ca_cert"
            ) as info:
                sink.inspect("syncd/app")
            assert not info.value.transient
        config = VaultSinkConfig(url=addr, ca_cert=ca, auth=auth)
        with closing(VaultSink.from_config("vault", config, environ={})) as sink:
            assert sink.inspect("syncd/app") == SecretState.missing()
        env = {"VAULT_CACERT": str(ca), "VAULT_ADDR": addr}
        with closing(
            VaultSink.from_config("vault", VaultSinkConfig(auth=auth), environ=env)
        ) as sink:
            assert SyncWorld(sink, "syncd/app", "uri").sync() == (Action.CREATE, True)


# -- config ------------------------------------------------------------------------------


def test_config_needs_an_address(tmp_path: Path) -> None:
    """Without url and VAULT_ADDR, building the sink names both."""
    config = VaultSinkConfig(
        auth={"method": "token", "token_file": str(text_file(tmp_path, "tok-123"))}
    )
    with pytest.raises(ConfigError, match=r"set sinks\.vault\.url or VAULT_ADDR"):
        VaultSink.from_config("vault", config, environ={})


def test_config_rejects_unknown_keys_and_methods() -> None:
    """A typo in the section or its auth block, or an unknown method, is a validation error."""
    with pytest.raises(ValidationError):
        VaultSinkConfig.model_validate({"type": "vault", "mount_point": "kv"})
    with pytest.raises(ValidationError):
        VaultSinkConfig.model_validate(
            {"type": "vault", "auth": {"method": "approle", "secret_id": "x"}}
        )
    with pytest.raises(ValidationError):
        VaultSinkConfig.model_validate({"type": "vault", "auth": {"method": "ldap"}})
    with pytest.raises(ValidationError):
        VaultSinkConfig.model_validate({"type": "vault", "mount": "/secret/"})


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("rate_limit: 0", "line 7: sinks.vault.rate_limit: Input should be greater than 0 (got 0)"),
        ("burst: 0.5", "line 7: sinks.vault.burst: Input should be greater than or equal to 1"),
    ],
)
def test_bad_rate_limit_is_one_line_with_exit_2(
    tmp_path: Path, setting: str, expected: str
) -> None:
    """rate_limit must be positive and burst at least 1: exit 2, one line naming the key."""
    path = tmp_path / "syncd.yaml"
    path.write_text(
        "providers:\n  casedev: {type: casedev}\nsinks:\n  vault:\n    type: vault\n"
        f"    url: http://127.0.0.1:8200\n    {setting}\n"
        "targets: [{name: a, provider: casedev, project: p, sinks: [{sink: vault, secret: a}]}]\n"
    )
    result = run_syncd("run", "--once", "--config", str(path))
    assert result.code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"syncd: config error: {path}: {expected}")


@pytest.mark.parametrize(
    ("url", "env"),
    [("http://vault.example.test:8200", {}), (None, {"VAULT_ADDR": "http://10.0.0.5:8200"})],
)
def test_plain_http_outside_loopback_is_refused(url: str | None, env: dict[str, str]) -> None:
    """http:// to a non-loopback Vault (url or VAULT_ADDR) is a config error naming the way out."""
    config = VaultSinkConfig(url=url)
    with pytest.raises(ConfigError, match=r"in clear.*sinks\.vault\.allow_insecure_http: true"):
        VaultSink.from_config("vault", config, environ={"VAULT_TOKEN": "tok-123456", **env})


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8200",
        "http://127.9.9.9:8200",
        "http://[::1]:8200",
        "http://localhost:8200",
    ],
)
def test_plain_http_to_loopback_is_allowed(url: str) -> None:
    """Loopback addresses (dev servers, a local agent) may use plain http://."""
    sink = VaultSink.from_config(
        "vault", VaultSinkConfig(url=url), environ={"VAULT_TOKEN": "tok-123456"}
    )
    sink.close()


def test_plain_http_can_be_allowed_explicitly() -> None:
    """allow_insecure_http: true accepts http:// to any host."""
    config = VaultSinkConfig(url="http://vault.internal:8200", allow_insecure_http=True)
    sink = VaultSink.from_config("vault", config, environ={"VAULT_TOKEN": "tok-123456"})
    sink.close()


def test_secret_of_older_syncd_gets_its_owner_on_next_write(
    world: SyncWorld, root: hvac.Client
) -> None:
    """Metadata of an older syncd (syncd-target, no syncd-owner) counts as this target's, then gains the owner."""
    root.secrets.kv.v2.create_or_update_secret(world.secret, {"value": "old"})
    root.secrets.kv.v2.update_metadata(
        world.secret, custom_metadata={"managed-by": "syncd", "syncd-target": "contract"}
    )
    assert world.sync() == (Action.DRIFT, True)
    assert metadata(root, world.secret)["custom_metadata"]["syncd-owner"] == (
        "contract-instance/contract"
    )


def test_config_missing_ca_cert_is_an_error(tmp_path: Path) -> None:
    """A configured CA file that does not exist fails at startup."""
    config = VaultSinkConfig(url="https://vault.example.test:8200", ca_cert=tmp_path / "nope.pem")
    with pytest.raises(ConfigError, match="CA certificate"):
        VaultSink.from_config("vault", config, environ={"VAULT_TOKEN": "tok-123456"})


@pytest.mark.parametrize("name", ["app", "team/app/db", "a.b/c-d_e@f=g+h,i:j", "x/.hidden"])
def test_valid_secret_names(name: str) -> None:
    """Relative KV paths of ordinary characters are accepted."""
    VaultSink.validate_secret_name(name)


@pytest.mark.parametrize(
    "name", ["/app", "app/", "a//b", "../app", "a/../b", "a/./b", ".", "", "a b", "a?b", "x" * 513]
)
def test_invalid_secret_names(name: str) -> None:
    """Absolute paths, empty, '.' or '..' segments and odd characters are refused."""
    with pytest.raises(ValueError, match="relative KV paths"):
        VaultSink.validate_secret_name(name)


def test_importing_the_sink_does_not_import_hvac() -> None:
    """A deployment that merely loads the module (or has no Vault sink) never imports hvac."""
    code = "import sys, syncd.sinks.vault; assert 'hvac' not in sys.modules, 'hvac imported'"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_registered_as_entry_point() -> None:
    """The ``vault`` sink type loads through the plugin registry."""
    from syncd import plugins

    assert plugins.load(plugins.SINK_GROUP, "vault") is VaultSink


def test_many_workers_reuse_connections_without_warnings(
    vault: VaultDevServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Sixteen workers writing at once keep their connections: urllib3 discards none, warns none."""
    sink = sink_from(vault, tmp_path, vault.root_token, rate_limit=1000)
    with ThreadPoolExecutor(16) as pool:
        prefix = secrets.token_hex(4)
        list(pool.map(lambda i: SyncWorld(sink, f"syncd/{prefix}-{i}", "json").sync(), range(48)))
    sink.close()
    assert [r.getMessage() for r in caplog.records if "pool is full" in r.getMessage()] == []
