"""Unit tests for syncd.sinks.vault_api: the mount check, error translation and quota retries, against OpenBao."""

from __future__ import annotations

import os
import secrets
import subprocess
import uuid
from pathlib import Path

import hvac
import pytest

from syncd.core.models import Action
from syncd.errors import (
    SinkAuthError,
    SinkError,
    SinkUnavailable,
    SinkUnreachable,
)
from syncd.net.ratelimit import TokenBucket
from syncd.sinks.vault import THROTTLED_ATTEMPTS, VaultSink, VaultSinkConfig
from syncd.testing.contract import SyncWorld
from tests.support.servers.ports import free_port
from tests.support.servers.vault import VaultDevServer
from tests.support.vaultutil import (
    Recorder,
    RecordingProxy,
    closing,
    make_token,
    paced_sink,
    sink_from,
    text_file,
)


def test_kv_v1_mount_is_refused_with_the_one_command_that_upgrades_it(
    vault: VaultDevServer, root: hvac.Client, tmp_path: Path
) -> None:
    """A KV v1 mount is a permanent error naming 'kv enable-versioning', which then fixes it."""
    mount = f"kv1-{secrets.token_hex(3)}"
    root.sys.enable_secrets_engine("kv", path=mount, options={"version": "1"})
    with (
        closing(VaultSink("vault", vault.client(), mount=mount)) as sink,
        pytest.raises(SinkError) as info,
    ):
        sink.inspect("syncd/app")
    message = str(info.value)
    assert message.endswith(
        f"mount {mount}/ is KV version 1; syncd needs KV v2: upgrade it in place with "
        f"'vault kv enable-versioning {mount}/'"
    )
    assert "secrets enable" not in message and not info.value.transient
    # The command as given (with this server's CLI) upgrades the mount, and syncd then writes.
    command = message.rsplit("'", 2)[1].split()
    env = {"VAULT_ADDR": vault.addr, "BAO_ADDR": vault.addr, "HOME": str(tmp_path),
           "VAULT_TOKEN": vault.root_token, "BAO_TOKEN": vault.root_token, "PATH": os.environ["PATH"]}
    subprocess.run([vault.binary, *command[1:]], env=env, check=True, capture_output=True)
    with closing(VaultSink("vault", vault.client(), mount=mount)) as sink:
        world = SyncWorld(sink, "syncd/app", "json")
        assert world.sync() == (Action.CREATE, True)


def test_vaults_multi_line_errors_are_quoted_on_one_line(sink: VaultSink) -> None:
    """Vault's "1 error occurred:\\n\\t* ..." is quoted flattened, so one event stays one line."""
    with pytest.raises(SinkError) as info:
        # A custom metadata key over Vault's 128 characters: refused with a multi-line error.
        sink._put_metadata(f"syncd/{secrets.token_hex(4)}", {"k" * 200: "v"})
    message = str(info.value)
    assert "Vault rejected the request: 1 error occurred: * custom_metadata validation" in message
    assert "\n" not in message and "\t" not in message and len(message) < 400


def test_missing_mount_is_a_clear_error(vault: VaultDevServer) -> None:
    """A mount that does not exist is named in a permanent error."""
    with (
        closing(VaultSink("vault", vault.client(), mount="nosuch")) as sink,
        pytest.raises(SinkError) as info,
    ):
        sink.inspect("syncd/app")
    assert "mount nosuch/ does not exist" in str(info.value)
    assert not info.value.transient


def test_path_inside_a_mount_is_not_a_mount(vault: VaultDevServer) -> None:
    """``mount: secret/syncd`` is refused with a hint to put the folder into the secret name."""
    with (
        closing(VaultSink("vault", vault.client(), mount="secret/syncd")) as sink,
        pytest.raises(SinkError) as info,
    ):
        sink.inspect("app")
    assert "inside secret/" in str(info.value)


def test_permission_denied_names_path_and_capability(
    vault: VaultDevServer, root: hvac.Client, tmp_path: Path
) -> None:
    """A refused call is a SinkAuthError naming the API path and the missing capability."""
    token = make_token(root)
    with closing(sink_from(vault, tmp_path, token)) as sink, pytest.raises(SinkAuthError) as info:
        sink.inspect("elsewhere/app")
    assert "permission denied" in str(info.value)
    assert "read on secret/metadata/elsewhere/app" in str(info.value)
    assert token not in str(info.value)


def test_write_denied_names_the_data_path(
    vault: VaultDevServer, root: hvac.Client, tmp_path: Path
) -> None:
    """Without create/update on the data path, the write fails naming that path and capability."""
    metadata_only = 'path "secret/metadata/syncd/*" { capabilities = ["create", "read", "update"] }'
    root.sys.create_or_update_policy("metadata-only", metadata_only)
    token = make_token(root, policy="metadata-only")
    with closing(sink_from(vault, tmp_path, token)) as sink:
        world = SyncWorld(sink, f"syncd/{secrets.token_hex(6)}", "json")
        error = world.engine.sync_target(world.target).sinks[0].error
    assert isinstance(error, SinkAuthError)
    assert f"must grant create/update on secret/data/{world.secret}" in str(error)


def test_sealed_vault_is_unavailable(vault: VaultDevServer, world: SyncWorld) -> None:
    """A sealed server is a transient SinkUnavailable; after unsealing the sync succeeds."""
    vault.seal()
    try:
        outcome = world.engine.sync_target(world.target).sinks[0]
    finally:
        vault.unseal()
    assert isinstance(outcome.error, SinkUnavailable)
    assert outcome.error.transient
    assert "sealed" in str(outcome.error)
    assert world.sync() == (Action.CREATE, True)


def test_unreachable_vault_is_unavailable(tmp_path: Path) -> None:
    """Nothing listening at the address is SinkUnreachable (transient) naming the address."""
    url = f"http://127.0.0.1:{free_port()}"
    config = VaultSinkConfig(
        url=url, auth={"method": "token", "token_file": str(text_file(tmp_path, "t0ken-x"))}
    )
    recorder = Recorder()
    with (
        closing(VaultSink.from_config("vault", config, environ={})) as sink,
        pytest.raises(SinkUnreachable) as info,
    ):
        sink.observe(recorder)
        sink.inspect("syncd/app")
    assert url in str(info.value)
    assert recorder.seen == [("sink", "vault", "unavailable")]


def test_missing_namespace_is_a_clear_error(vault: VaultDevServer, tmp_path: Path) -> None:
    """A namespace that does not exist is named in a permanent error."""
    if vault.binary == "vault":
        pytest.skip("namespaces are a Vault Enterprise feature")
    sink = sink_from(vault, tmp_path, vault.root_token, namespace="nosuch")
    with closing(sink), pytest.raises(SinkError) as info:
        sink.inspect("syncd/app")
    assert "namespace nosuch does not exist" in str(info.value)


def test_vault_429_on_every_attempt_is_a_transient_error(
    vault: VaultDevServer, vault_proxy: RecordingProxy
) -> None:
    """A quota that keeps refusing: a few attempts, then SinkUnavailable naming rate_limit."""
    sink = paced_sink(vault_proxy.url, vault.root_token, TokenBucket(1000))
    secret = f"rl-{uuid.uuid4().hex[:8]}/refused"
    sink.inspect(secret)
    vault_proxy.throttle(100)
    before = len(vault_proxy.arrivals)
    with pytest.raises(SinkUnavailable, match=r"429: a rate-limit quota; lower sinks\.vault\.rate"):
        sink.inspect(secret)
    assert len(vault_proxy.arrivals) - before == THROTTLED_ATTEMPTS
    vault_proxy.throttle(0)
    sink.close()
