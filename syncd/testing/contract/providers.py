"""The behaviour every provider has: :class:`ProviderContract`."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from syncd import redaction
from syncd.core.models import ConnectionInfo, Target
from syncd.errors import ProviderAuthError, ProviderNotFound, ProviderUnavailable, SyncdError
from syncd.providers.base import Provider


class ProviderContract:
    """Inherited tests every provider passes; see :mod:`syncd.testing.contract` for the fixtures.

    What the engine relies on: a fetch answers with a validated
    :class:`~syncd.core.models.ConnectionInfo` for exactly the target asked about,
    the same credential again while it is unchanged (else every cycle would
    be a write), from several threads at once; the credential is registered
    for redaction before anyone can log it; and every failure is a
    :class:`~syncd.errors.ProviderError` that says whether to retry
    (``transient``) and names ids, never the credential.
    """

    @pytest.fixture
    def provider(self) -> Provider:
        """The provider under test."""
        raise NotImplementedError

    @pytest.fixture
    def target(self) -> Target:
        """A target ``provider`` has a connection for."""
        raise NotImplementedError

    @pytest.fixture
    def missing_target(self) -> Target:
        """A target of a project ``provider``'s API does not know."""
        raise NotImplementedError

    @pytest.fixture
    def unreachable_provider(self) -> Provider:
        """The provider configured for an API that cannot be reached; optional."""
        pytest.skip("this provider's tests give no unreachable API")

    @pytest.fixture
    def refused_provider(self) -> Provider:
        """The provider with credentials its API refuses; optional."""
        pytest.skip("this provider's tests give no refused credentials")

    def test_provider_is_a_provider(self, provider: Provider) -> None:
        """The provider has the Provider protocol's methods."""
        assert isinstance(provider, Provider)

    def test_fetch_returns_the_targets_connection(self, provider: Provider, target: Target) -> None:
        """A fetch answers with a validated connection for the project, branch and pooling asked."""
        conn = provider.fetch(target)
        assert isinstance(conn, ConnectionInfo)
        assert (conn.project, conn.branch, conn.pooled) == (
            target.project,
            target.branch,
            target.pooled,
        )
        assert conn.password.get_secret_value()

    def test_unchanged_credential_fetches_the_same(
        self, provider: Provider, target: Target
    ) -> None:
        """Two fetches of an unchanged credential give the same URI (else every cycle writes)."""
        first = provider.fetch(target).uri.get_secret_value()
        assert provider.fetch(target).uri.get_secret_value() == first

    def test_concurrent_fetches_agree(self, provider: Provider, target: Target) -> None:
        """Fetches from several threads at once all succeed with the same connection."""
        with ThreadPoolExecutor(max_workers=4) as pool:
            uris = set(pool.map(lambda _: provider.fetch(target).uri.get_secret_value(), range(8)))
        assert len(uris) == 1

    def test_fetched_credential_is_registered_for_redaction(
        self, provider: Provider, target: Target
    ) -> None:
        """The password and the URI are masked in anything logged once fetched."""
        conn = provider.fetch(target)
        for value in (conn.password.get_secret_value(), conn.uri.get_secret_value()):
            shown = redaction.scrub(f"leaked: {value} (end)")
            assert value not in shown and redaction.MASK in shown

    def test_missing_project_is_not_found(
        self, provider: Provider, target: Target, missing_target: Target
    ) -> None:
        """An unknown project is ProviderNotFound: permanent, naming the project, no credential."""
        password = provider.fetch(target).password.get_secret_value()
        with pytest.raises(ProviderNotFound) as info:
            provider.fetch(missing_target)
        assert not info.value.transient
        assert missing_target.project in str(info.value)
        assert password not in str(info.value) + repr(info.value)

    def test_unreachable_api_is_unavailable(
        self, unreachable_provider: Provider, target: Target
    ) -> None:
        """An API that cannot be reached is ProviderUnavailable: transient, retried later."""
        with pytest.raises(ProviderUnavailable) as info:
            unreachable_provider.fetch(target)
        assert info.value.transient

    def test_refused_credentials_are_an_auth_error(
        self, refused_provider: Provider, target: Target
    ) -> None:
        """Credentials the API refuses are ProviderAuthError: permanent, fix the config."""
        with pytest.raises(ProviderAuthError) as info:
            refused_provider.fetch(target)
        assert not info.value.transient
        assert isinstance(info.value, SyncdError)
