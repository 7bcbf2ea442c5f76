"""What the sink suites share: :class:`SyncWorld`, the helpers' types, and the two fixtures.

:class:`SyncWorld` drives a sink through the real engine and is usable outside
the suites too (a sink's own tests build one to set a secret up).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pytest

from syncd.core.engine import Engine
from syncd.core.fingerprint import Fingerprint
from syncd.core.formats import render
from syncd.core.models import Action, SinkBinding, Target
from syncd.sinks.base import Sink, WriteRequest
from syncd.testing.fakes import StaticProvider

ReadBack = Callable[[str], str]
Writer = Callable[[str, str], None]
MarkWriter = Callable[[str, str, str], None]


def _uri(password: str) -> str:
    return f"postgresql://app_owner:{password}@db.example.test:5432/appdb?sslmode=require"


class SinkUnderTest:
    """The two fixtures every contract needs: the sink, and what a consumer reads from it."""

    format = "json"

    @pytest.fixture
    def sink(self) -> Sink:
        """The sink under test, over a store that is empty or has unique names."""
        raise NotImplementedError

    @pytest.fixture
    def read_back(self) -> ReadBack:
        """Return a function reading a secret's current value as a consumer would."""
        raise NotImplementedError


class SyncWorld:
    """One target wired to a sink through a static provider; usable outside the contract too."""

    def __init__(
        self,
        sink: Sink,
        secret: str,
        fmt: str,
        *,
        instance: str = "contract-instance",
        target: str = "contract",
    ) -> None:
        self.sink = sink
        self.secret = secret
        self.format = fmt
        self.instance = instance
        self.target_name = target
        self.adopt = False
        self.provider = StaticProvider()
        self.rotate()

    @property
    def target(self) -> Target:
        """The target ``target_name``, bound to the sink under the name ``sink``."""
        binding = SinkBinding("sink", self.secret, self.format, adopt=self.adopt)
        return Target(self.target_name, "p", "proj_contract", sinks=(binding,))

    @property
    def engine(self) -> Engine:
        """An engine over the static provider and the sink."""
        return Engine(
            {"p": self.provider}, {"sink": self.sink}, concurrency=1, instance=self.instance
        )

    def rotate(self, password: str | None = None) -> None:
        """Change the provider's password (to ``password``, or a fresh one)."""
        self.password = password or f"pw{secrets.token_hex(12)}"
        self.provider.uris[("proj_contract", "main", False)] = _uri(self.password)

    def sync(self) -> tuple[Action | None, bool]:
        """Run one sync of the target; return (action, written), failing on any error."""
        outcome = self.engine.sync_target(self.target)
        assert outcome.error is None, outcome.error
        (result,) = outcome.sinks
        assert result.error is None, result.error
        return result.action, result.written

    def request(self, sink: Sink) -> WriteRequest:
        """Build the write request a sync would send for the current value."""
        conn = self.provider.fetch(self.target)
        document = render(conn, self.format)
        return WriteRequest(
            target=self.target_name,
            secret=self.secret,
            document=document,
            fingerprint=Fingerprint.of(document.text),
            observed=sink.inspect(self.secret),
            action=Action.CREATE,
            instance=self.instance,
        )
