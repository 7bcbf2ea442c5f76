"""Fixtures shared by the Vault sink's test modules (test_vault, test_vault_api, ...)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from syncd.sinks.vault import VaultSink
from syncd.testing.contract import SyncWorld
from tests.support.servers.vault import VaultDevServer
from tests.support.vaultutil import closing


@pytest.fixture
def sink(vault: VaultDevServer) -> Iterator[VaultSink]:
    """The sink over an injected root client."""
    with closing(VaultSink("vault", vault.client())) as sink:
        yield sink


@pytest.fixture
def world(sink: VaultSink) -> SyncWorld:
    """A target syncing into ``syncd/<unique>`` through the real engine."""
    return SyncWorld(sink, f"syncd/{secrets.token_hex(6)}", "json")
