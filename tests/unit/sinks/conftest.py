"""Fixtures shared by the sink test modules: a scripted AWS endpoint, the Vault sink and its world."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from syncd.sinks.vault import VaultSink
from syncd.testing.contract import SyncWorld
from tests.support.aws import Scripted
from tests.support.servers.loopback import LoopbackServer
from tests.support.servers.vault import VaultDevServer
from tests.support.vaultutil import closing


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The URL of a Secrets Manager endpoint answering what ``Scripted.script`` says."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-value")
    Scripted.script = []
    Scripted.seen = []
    with LoopbackServer(Scripted) as server:
        yield server.url


@pytest.fixture
def sink(vault: VaultDevServer) -> Iterator[VaultSink]:
    """The Vault sink over an injected root client."""
    with closing(VaultSink("vault", vault.client())) as sink:
        yield sink


@pytest.fixture
def world(sink: VaultSink) -> SyncWorld:
    """A target syncing into ``syncd/<unique>`` through the real engine."""
    return SyncWorld(sink, f"syncd/{secrets.token_hex(6)}", "json")
