"""The provider contract, run against each built-in provider over its API stand-in's HTTP server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

import pytest
from pydantic import SecretStr

from syncd.core.models import Target
from syncd.net.retry import Backoff
from syncd.providers.base import Provider
from syncd.providers.casedev import CaseDevProvider
from syncd.providers.neon import NeonProvider, NeonTarget
from syncd.testing.casedev import FakeCaseDev
from syncd.testing.contract import ProviderContract
from syncd.testing.neon import FakeNeon
from tests.support.servers.loopback import LoopbackServer

CASEDEV_KEY = "cdk_contract_0123456789abcdef"
NEON_KEY = "napi_contract_0123456789abcdef"
URI = "postgresql://owner:contractpw123@ep-a.example.test/neondb?sslmode=require"
# Both providers retry transient failures; the contract needs one attempt, fast.
ONE_ATTEMPT = Backoff(attempts=1, base=0.01)


@pytest.fixture(scope="module")
def closed_url() -> str:
    """A loopback URL nothing listens on any more."""
    with LoopbackServer(BaseHTTPRequestHandler) as server:
        return server.url


class _Served(ProviderContract):
    """A provider over its stand-in's HTTP server: ``base_url`` and ``make`` are per provider."""

    key = ""
    #: What follows the server's address in the provider's base URL.
    path = ""

    def make(self, base_url: str, key: str) -> Provider:
        raise NotImplementedError

    @contextmanager
    def made(self, base_url: str, key: str) -> Iterator[Provider]:
        provider = self.make(base_url + self.path, key)
        yield provider
        provider.close()

    @pytest.fixture
    def provider(self, base_url: str) -> Iterator[Provider]:
        with self.made(base_url, self.key) as provider:
            yield provider

    @pytest.fixture
    def unreachable_provider(self, closed_url: str) -> Iterator[Provider]:
        with self.made(closed_url, self.key) as provider:
            yield provider

    @pytest.fixture
    def refused_provider(self, base_url: str) -> Iterator[Provider]:
        with self.made(base_url, self.key[:-4] + "xxxx") as provider:
            yield provider


class TestCaseDevContract(_Served):
    """The case.dev provider passes the provider contract against the case.dev stand-in."""

    key = CASEDEV_KEY

    @pytest.fixture
    def base_url(self) -> Iterator[str]:
        api = FakeCaseDev(CASEDEV_KEY)
        api.set_branch("proj_contract", "main", direct=URI, pooled=URI)
        with api.serve() as server:
            yield server.base_url

    def make(self, base_url: str, key: str) -> Provider:
        return CaseDevProvider(
            "casedev", api_key=SecretStr(key), base_url=base_url, backoff=ONE_ATTEMPT
        )

    @pytest.fixture
    def target(self) -> Target:
        return Target(name="t", provider="casedev", project="proj_contract")

    @pytest.fixture
    def missing_target(self) -> Target:
        return Target(name="t", provider="casedev", project="proj_nowhere")


class TestNeonContract(_Served):
    """The Neon provider passes the provider contract against the Neon stand-in."""

    key = NEON_KEY
    path = "/api/v2"

    @pytest.fixture
    def base_url(self) -> Iterator[str]:
        api = FakeNeon(
            NEON_KEY, set_password=lambda _role, _pw: None, direct=("ep-a.example.test", 5432)
        )
        api.add_branch(
            "shiny-contract-123456", "main", databases=["neondb"], roles={"app": "contractpw123"}
        )
        with api.serve() as server:
            yield server.base_url
        api.close()

    def make(self, base_url: str, key: str) -> Provider:
        return NeonProvider(
            "neon", api_key=SecretStr(key), base_url=base_url, backoff=ONE_ATTEMPT, rate_limit=None
        )

    @pytest.fixture
    def target(self) -> Target:
        return Target(
            name="t",
            provider="neon",
            project="shiny-contract-123456",
            options=NeonTarget(database="neondb", role="app"),
        )

    @pytest.fixture
    def missing_target(self) -> Target:
        return Target(
            name="t",
            provider="neon",
            project="gone-project-654321",
            options=NeonTarget(database="neondb", role="app"),
        )
