"""One rotating target's run: the secrets as their stores described them, and what was done.

Every step of a rotation reads and adds to the same :class:`Job`, so the
outcome reported for a target is whatever the last step left per secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from syncd.core.models import (
    Action,
    Rotation,
    RotationOutcome,
    SecretState,
    SinkBinding,
    SinkOutcome,
    Target,
)
from syncd.core.planning import failure
from syncd.errors import SyncdError
from syncd.providers.base import Rotator
from syncd.sinks.base import Sink

#: The logger name of every rotation module: one name, the one operators filter on.
LOGGER = "syncd.rotation"

log = structlog.get_logger(LOGGER)

Key = tuple[str, str]


@dataclass(frozen=True)
class View:
    """One binding as the store described it."""

    binding: SinkBinding
    sink: Sink
    state: SecretState

    @property
    def key(self) -> Key:
        """The binding's sink and secret, as outcomes are keyed."""
        return (self.binding.sink, self.binding.secret)


@dataclass
class Job:
    """One target's run: what was found, and what was done so far."""

    target: Target
    rotation: Rotation
    provider: Rotator
    outcomes: dict[Key, SinkOutcome] = field(default_factory=dict)
    #: Bindings a rotation may touch (inspected, owned, no other rotator).
    views: list[View] = field(default_factory=list)
    #: Why some binding rules out a reset (ownership, another rotator).
    blocked: list[str] = field(default_factory=list)
    result: RotationOutcome | None = None
    #: Whether what is written now is a rotation's credential (reported as ``rotate``).
    rotating: bool = False

    def states(self) -> list[SecretState]:
        """The states of the bindings a rotation may touch."""
        return [v.state for v in self.views]

    def fail(self, binding: SinkBinding, action: Action | None, exc: SyncdError) -> None:
        """Record (and log) that ``binding`` failed with ``exc``."""
        log.error("sync_failed", **failure(exc), sink=binding.sink, secret=binding.secret)
        self.outcomes[(binding.sink, binding.secret)] = SinkOutcome(
            self.target.name, binding.sink, binding.secret, action, error=exc
        )

    def record(self, binding: SinkBinding, action: Action, *, written: bool = False) -> None:
        """Record ``binding``'s outcome: ``action``, done when ``written``."""
        self.outcomes[(binding.sink, binding.secret)] = SinkOutcome(
            self.target.name, binding.sink, binding.secret, action, written=written
        )

    def ordered(self) -> tuple[SinkOutcome, ...]:
        """The outcomes so far, in the target's binding order."""
        keys = [(b.sink, b.secret) for b in self.target.sinks]
        return tuple(self.outcomes[k] for k in keys if k in self.outcomes)
