"""Building live providers and sinks from a validated :class:`~syncd.config.settings.Config`."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from syncd.config.settings import Config
from syncd.core import connect, timebox
from syncd.core.breaker import PROBE_INTERVAL, Breakers
from syncd.core.bulkhead import Bulkheads
from syncd.core.engine import Engine
from syncd.core.models import TargetOutcome
from syncd.core.rotation import Rotations
from syncd.errors import ConfigError
from syncd.providers.base import Provider
from syncd.sinks.base import Sink

#: Seconds closing the plugins may wait in a rate limiter (a Vault token's
#: revocation): a server's pause must not hold up an exit.
CLOSE_DEADLINE = 5.0


@dataclass
class Runtime:
    """The providers and sinks of one configuration; close it when done."""

    config: Config
    providers: dict[str, Provider]
    sinks: dict[str, Sink]
    #: One circuit breaker per provider and sink, kept for the runtime's life.
    breakers: Breakers = field(default_factory=Breakers)
    #: The share of the workers each provider and sink may hold (made with the first engine).
    bulkheads: Bulkheads | None = None

    @classmethod
    def build(cls, config: Config) -> Runtime:
        """Instantiate every configured plugin; on failure, close what was built and re-raise.

        Raises ConfigError (e.g. a missing credential, or psycopg missing for a
        rotating target: a reset must never start without its prover) or
        SinkError/ProviderError from a plugin that cannot be set up.
        """
        _require_prover(config)
        runtime = cls(config, {}, {}, Breakers(probe_interval=probe_interval_of(config)))
        try:
            for name, provider in config.providers.items():
                runtime.providers[name] = provider.factory.from_config(name, provider.config)
            for name, sink in config.sinks.items():
                runtime.sinks[name] = sink.factory.from_config(name, sink.config)
            # Made now, so the gauge and readiness list every dependency from the start.
            for name in runtime.providers:
                runtime.breakers.provider(name)
            for name in runtime.sinks:
                runtime.breakers.sink(name)
        except BaseException:
            runtime.close()
            raise
        return runtime

    def engine(
        self,
        *,
        dry_run: bool = False,
        on_outcome: Callable[[TargetOutcome], None] | None = None,
        rotate_now: frozenset[str] = frozenset(),
        stop: threading.Event | None = None,
    ) -> Engine:
        """An engine over this runtime's plugins, with the configured concurrency.

        ``on_outcome`` is called with each target's outcome as it finishes (progress).
        Rotation-enabled targets go through :class:`~syncd.core.rotation.Rotations`;
        those named in ``rotate_now`` rotate whatever their schedule. ``stop``
        (the daemon's) ends every wait of every target when set; by default
        the engine has its own, which a signal during a cycle sets.
        """
        if self.bulkheads is None:  # a runtime not made by build() (tests, benchmarks)
            self.bulkheads = bulkheads_of(self.config)
        rotations = Rotations(
            self.providers,
            self.sinks,
            instance=self.config.settings.instance,
            dry_run=dry_run,
            force=rotate_now,
            breakers=self.breakers,
        )
        return Engine(
            self.providers,
            self.sinks,
            concurrency=self.config.settings.concurrency,
            dry_run=dry_run,
            instance=self.config.settings.instance,
            on_outcome=on_outcome,
            rotate=rotations,
            stop=stop,
            breakers=self.breakers,
            bulkheads=self.bulkheads,
        )

    def close(self) -> None:
        """Close every plugin, ignoring errors from ones that failed half-built.

        Within :data:`CLOSE_DEADLINE`: a limiter that would wait longer refuses.
        """
        plugins: list[Provider | Sink] = [*self.providers.values(), *self.sinks.values()]
        with timebox.scope(CLOSE_DEADLINE, name="closing the plugins"):
            for plugin in plugins:
                with contextlib.suppress(Exception):
                    plugin.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def probe_interval_of(config: Config) -> float:
    """How often an open breaker lets a probe through: every 30 s, or each interval if shorter.

    So a provider or sink that answers again is found out within one interval
    of its targets, and they recover on their schedule.
    """
    return min([PROBE_INTERVAL, *(t.interval for t in config.targets)])


def bulkheads_of(config: Config) -> Bulkheads:
    """The compartments of ``config``'s providers and sinks (:mod:`syncd.core.bulkhead`)."""
    settings = config.settings
    return Bulkheads(
        settings.concurrency,
        share=settings.worker_share,
        providers=config.providers,
        sinks=config.sinks,
    )


#: Target names quoted in an error before "and N more".
_SHOWN = 5


def _require_prover(config: Config) -> None:
    """Refuse a config whose targets rotate where psycopg cannot be imported."""
    rotating = [t.name for t in config.targets if t.rotation is not None and t.rotation.rotates]
    if not rotating or connect.available():
        return
    shown = ", ".join(rotating[:_SHOWN])
    if len(rotating) > _SHOWN:
        shown += f" and {len(rotating) - _SHOWN} more"
    raise ConfigError(
        f"target(s) {shown} rotate (rotation.mode reset or alternate): {connect.MISSING}"
    )
