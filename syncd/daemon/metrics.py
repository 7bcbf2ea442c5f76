"""Prometheus metrics for the daemon (``/metrics``) and for one-shot runs (textfile).

Every metric lives in a :class:`~prometheus_client.CollectorRegistry` owned by
one :class:`Metrics` object, never in prometheus_client's global registry, so
two instances (tests, a reload) never collide and nothing leaks in from
imported libraries.

Label values are only configuration names (target, sink, provider), fixed
vocabularies (result, kind, outcome) and the version: never a secret name's
value, a URI or an error message, so no credential can reach a scrape.

===============================================  =====================================
metric                                           labels
===============================================  =====================================
``syncd_sync_total``                             target, sink, result (ok, error, fetch_error)
``syncd_secrets_written_total``                  target, sink, kind (created, updated,
                                                 drift_repaired, rotated)
``syncd_last_success_timestamp_seconds``         target, sink
``syncd_target_sync_duration_seconds``           target (histogram; daemon)
``syncd_cycle_duration_seconds``                 (histogram; one-shot runs)
``syncd_target_consecutive_failures``            target (daemon)
``syncd_provider_requests_total``                provider, outcome (see syncd.net.observe)
``syncd_sink_requests_total``                    sink, outcome
``syncd_config_reloads_total``                   result (ok, failed)
``syncd_build_info``                             version
===============================================  =====================================
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    write_to_textfile,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from syncd import __version__, localfile
from syncd.config.settings import Config
from syncd.core.breaker import Breaker
from syncd.core.engine import CycleReport
from syncd.core.models import Action, Target, TargetOutcome
from syncd.net.observe import Kind, Outcome

__all__ = ["Metrics", "write_textfile"]

#: The largest previous textfile read back: 10,000 targets with two sinks each write ~10 MiB.
MAX_PREVIOUS_BYTES = 64 * 1024 * 1024

_KINDS = {
    Action.CREATE: "created",
    Action.UPDATE: "updated",
    Action.DRIFT: "drift_repaired",
    Action.ROTATE: "rotated",
}
_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_LAST_SUCCESS = "syncd_last_success_timestamp_seconds"


class Metrics:
    """syncd's metrics in a registry of their own; also a ``RequestObserver``.

    ``daemon=True`` adds the ``process_*`` metrics (memory, CPU, fds), which
    only mean something for a long-running process; ``daemon=False`` (one-shot
    runs) adds the cycle duration instead, since the daemon has no cycles.
    """

    def __init__(self, *, daemon: bool = False) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.syncs = _Series(
            "syncd_sync",
            "Syncs of a target into a sink, by result.",
            "counter",
            ("target", "sink", "result"),
        )
        self.written = _Series(
            "syncd_secrets_written",
            "Secrets written, by why they were written.",
            "counter",
            ("target", "sink", "kind"),
        )
        self.last_success = _Series(
            _LAST_SUCCESS,
            "Unix time of the last successful sync of a target into a sink.",
            "gauge",
            ("target", "sink"),
        )
        for series in (self.syncs, self.written, self.last_success):
            r.register(series)
        self._per_target = _PerTarget()
        r.register(self._per_target)
        self.provider_requests = Counter(
            "syncd_provider_requests",
            "Provider API requests (retries included), by outcome.",
            ["provider", "outcome"],
            registry=r,
        )
        self.sink_requests = Counter(
            "syncd_sink_requests",
            "Secret store API requests (retries included), by outcome.",
            ["sink", "outcome"],
            registry=r,
        )
        self.reloads = Counter(
            "syncd_config_reloads",
            "Configuration reloads (SIGHUP), by result.",
            ["result"],
            registry=r,
        )
        Gauge(
            "syncd_build_info", "Always 1; the version is the label.", ["version"], registry=r
        ).labels(__version__).set(1)
        self._dependencies = _Dependencies()
        r.register(self._dependencies)
        self.cycle_duration: Histogram | None = None
        if daemon:
            ProcessCollector(registry=r)
        else:
            self.cycle_duration = Histogram(
                "syncd_cycle_duration_seconds",
                "Time of a one-shot cycle over all targets.",
                buckets=_BUCKETS,
                registry=r,
            )

    def watch_breakers(self, breakers: Callable[[], Iterable[Breaker]]) -> None:
        """Report ``syncd_dependency_up`` of the breakers ``breakers()`` returns at each scrape."""
        self._dependencies.source = breakers

    def observe_duration(self, target: str, seconds: float) -> None:
        """Observe one sync of ``target`` that took ``seconds`` (the duration histogram)."""
        self._per_target.observe(target, seconds)

    def set_failures(self, target: str, count: int) -> None:
        """Set the consecutive failures of ``target``."""
        self._per_target.set_failures(target, count)

    def track(self, targets: Iterable[Target]) -> None:
        """Create the zero-valued series of these targets so rate() works from the start."""
        for target in targets:
            self._per_target.set_failures(target.name, 0, only_new=True)
            for binding in target.sinks:
                for result in ("ok", "error"):
                    self.syncs.labels(target.name, binding.sink, result)

    def forget(self, target: Target) -> None:
        """Drop every series of a target removed from the config.

        Gauges and counters and the duration histogram alike, so that
        ``/metrics`` and the daemon's memory do not grow with each reload
        that replaces targets. Prometheus treats a counter that comes back
        (the target is added again) as a counter reset, which ``rate()``
        handles.
        """
        self._per_target.forget(target.name)
        for series in (self.syncs, self.written, self.last_success):
            series.remove_target(target.name)

    def record(self, target: Target, outcome: TargetOutcome, *, now: float) -> None:
        """Count one target's sync: a result per sink binding, the writes, the successes."""
        if outcome.error is not None:
            for binding in target.sinks:
                self.syncs.labels(target.name, binding.sink, "fetch_error").inc()
            return
        for sink in outcome.sinks:
            self.syncs.labels(target.name, sink.sink, "ok" if sink.ok else "error").inc()
            if sink.ok:
                self.last_success.labels(target.name, sink.sink).set(now)
            if sink.written and sink.action in _KINDS:
                self.written.labels(target.name, sink.sink, _KINDS[sink.action]).inc()

    def request(self, kind: Kind, name: str, outcome: Outcome) -> None:
        """Count one provider or sink API request (the RequestObserver interface)."""
        counter = self.provider_requests if kind == "provider" else self.sink_requests
        counter.labels(name, outcome).inc()

    def render(self, accept: str = "") -> tuple[str, bytes]:
        """``(content type, body)`` in the format the scraper's Accept header asks for."""
        encoder, content_type = choose_encoder(accept)
        return content_type, encoder(self.registry)


class _Dependencies(Collector):
    """``syncd_dependency_up{kind,name}``: 1 while a provider's or sink's breaker is closed.

    Read from the live breakers at each scrape, so a reload (new runtime, new
    breakers) needs no bookkeeping here.
    """

    def __init__(self) -> None:
        self.source: Callable[[], Iterable[Breaker]] = tuple

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "syncd_dependency_up",
            "1 while the circuit breaker of a provider or sink is closed, 0 while it is open.",
            labels=("kind", "name"),
        )
        for breaker in self.source():
            up = 1.0 if breaker.since is None else 0.0
            family.add_metric((breaker.kind, breaker.name), up)
        yield family


class _Child:
    """One labelled series of a :class:`_Series`, made on demand and not kept."""

    __slots__ = ("_key", "_series")

    def __init__(self, series: _Series, key: tuple[str, ...]) -> None:
        self._series = series
        self._key = key

    def inc(self, amount: float = 1.0) -> None:
        self._series.update(self._key, amount, add=True)

    def set(self, value: float) -> None:
        self._series.update(self._key, value, add=False)


class _Series(Collector):
    """A labelled counter or gauge whose series are plain numbers under one lock.

    Renders as prometheus_client's Counter (``_total`` and ``_created``) or
    Gauge would, without an object and a lock per value for each series: the
    per-target series of thousands of targets were most of the daemon's memory.
    """

    def __init__(self, name: str, documentation: str, typ: str, labels: tuple[str, ...]) -> None:
        self._name = name
        self._documentation = documentation
        self._type = typ
        self._labels = labels
        self._lock = threading.Lock()
        #: label values -> [value, created time]
        self._values: dict[tuple[str, ...], list[float]] = {}

    def labels(self, *values: str) -> _Child:
        """The series of these label values (created at zero on first use)."""
        key = tuple(str(v) for v in values)
        if len(key) != len(self._labels):
            raise ValueError(f"{self._name} takes labels {self._labels}")
        with self._lock:
            if key not in self._values:
                self._values[key] = [0.0, time.time()]
        return _Child(self, key)

    def remove(self, *values: str) -> None:
        """Drop a series; KeyError when it does not exist."""
        with self._lock:
            del self._values[tuple(str(v) for v in values)]

    def remove_target(self, target: str) -> None:
        """Drop every series whose first label (``target``) is ``target``."""
        with self._lock:
            for key in [k for k in self._values if k[0] == target]:
                del self._values[key]

    def update(self, key: tuple[str, ...], value: float, *, add: bool) -> None:
        """Add ``value`` to the series ``key``, or set it."""
        with self._lock:
            row = self._values.setdefault(key, [0.0, time.time()])
            row[0] = row[0] + value if add else value

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            rows = [(key, row[0], row[1]) for key, row in self._values.items()]
        metric = Metric(self._name, self._documentation, self._type)
        counter = self._type == "counter"
        for key, value, created in rows:
            labels = dict(zip(self._labels, key, strict=True))
            metric.add_sample(f"{self._name}_total" if counter else self._name, labels, value)
            if counter:
                metric.add_sample(f"{self._name}_created", labels, created)
        yield metric


class _PerTarget(Collector):
    """The per-target daemon series, kept as plain numbers under one lock.

    prometheus_client gives every labelled child its own objects and a lock per
    value (a histogram child holds 15 of them); with thousands of targets that was
    most of the daemon's memory. The exposition is the same: the duration
    histogram (buckets, count, sum, created) and the consecutive-failures gauge.
    """

    _DURATION = "syncd_target_sync_duration_seconds"
    _FAILURES = "syncd_target_consecutive_failures"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: target -> bucket counts (non-cumulative, +Inf last), then sum, then created.
        self._durations: dict[str, list[float]] = {}
        self._failures: dict[str, int] = {}

    def observe(self, target: str, seconds: float) -> None:
        with self._lock:
            row = self._durations.get(target)
            if row is None:
                row = self._durations[target] = [0.0] * (len(_BUCKETS) + 2) + [time.time()]
            row[bisect_left(_BUCKETS, seconds)] += 1
            row[-2] += seconds

    def set_failures(self, target: str, count: int, *, only_new: bool = False) -> None:
        with self._lock:
            if not only_new or target not in self._failures:
                self._failures[target] = count

    def forget(self, target: str) -> None:
        with self._lock:
            self._failures.pop(target, None)
            self._durations.pop(target, None)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            durations = {t: list(row) for t, row in self._durations.items()}
            failures = dict(self._failures)
        bounds = [*(repr(b) for b in _BUCKETS), "+Inf"]  # as prometheus_client writes these
        histogram = Metric(
            self._DURATION, "Time to sync one target into all its sinks.", "histogram"
        )
        for target, row in durations.items():
            total = 0.0
            for le, count in zip(bounds, row, strict=False):
                total += count
                labels = {"target": target, "le": le}
                histogram.add_sample(f"{self._DURATION}_bucket", labels, total)
            histogram.add_sample(f"{self._DURATION}_count", {"target": target}, total)
            histogram.add_sample(f"{self._DURATION}_sum", {"target": target}, row[-2])
            histogram.add_sample(f"{self._DURATION}_created", {"target": target}, row[-1])
        yield histogram
        gauge = Metric(self._FAILURES, "Failed attempts since the last success.", "gauge")
        for target, value in failures.items():
            gauge.add_sample(self._FAILURES, {"target": target}, float(value))
        yield gauge


def write_textfile(
    path: Path, report: CycleReport, cfg: Config, *, metrics: Metrics | None = None
) -> None:
    """Write a one-shot run's metrics to ``path`` for node_exporter's textfile collector.

    The file is replaced atomically (temporary file in the same directory, then
    rename), so the collector never reads half of it. ``metrics`` is the
    :class:`Metrics` that observed the run's API requests, if any. The last
    success of a binding that failed, or was not selected, in this run is
    carried over from the previous file, so ``time() - last_success`` keeps
    measuring since the last real success. Raises OSError when the file cannot
    be written.
    """
    metrics = metrics if metrics is not None else Metrics()
    targets = {t.name: t for t in cfg.targets}
    now = time.time()
    for outcome in report.outcomes:
        target = targets.get(outcome.target)
        if target is not None:
            metrics.record(target, outcome, now=now)
    if metrics.cycle_duration is not None:
        metrics.cycle_duration.observe(report.duration)
    succeeded = {(o.target, s.sink) for o in report.outcomes for s in o.sinks if s.ok}
    configured = {(t.name, b.sink) for t in cfg.targets for b in t.sinks}
    for (target_name, sink), when in _previous_successes(path).items():
        if (target_name, sink) in configured - succeeded:
            metrics.last_success.labels(target_name, sink).set(when)
    write_to_textfile(str(path), metrics.registry)


def _previous_successes(path: Path) -> dict[tuple[str, str], float]:
    # Never through a link, never blocking on a FIFO, never more than a real file holds:
    # the CLI refuses such a path up front, this covers one planted since.
    try:
        raw = localfile.read(path, MAX_PREVIOUS_BYTES)
        text = raw.decode("utf-8") if raw is not None else ""
    except (OSError, localfile.NotRegular, UnicodeDecodeError):
        return {}
    found: dict[tuple[str, str], float] = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == _LAST_SUCCESS:
                    found[(sample.labels["target"], sample.labels["sink"])] = sample.value
    except (ValueError, KeyError):
        return {}  # an unreadable old file only loses the carried-over timestamps
    return found
