"""Tests for syncd.daemon.metrics, the API-request hooks (syncd.net.observe) and the HTTP endpoints."""

from __future__ import annotations

import http.client
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import prometheus_client
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from syncd import __version__, cli
from syncd.config import settings as config_mod
from syncd.core.breaker import Breakers
from syncd.core.engine import CycleReport
from syncd.core.fingerprint import Fingerprint
from syncd.core.formats import render
from syncd.core.models import Action, ConnectionInfo, SinkOutcome, Target, TargetOutcome
from syncd.core.runtime import Runtime
from syncd.daemon.health import HttpListener
from syncd.daemon.metrics import Metrics, write_textfile
from syncd.daemon.scheduler import Daemon, run_daemon
from syncd.daemon.sdnotify import Notifier
from syncd.errors import (
    ListenError,
    ProviderUnavailable,
    ProviderUnreachable,
    SinkUnavailable,
    SinkUnreachable,
)
from syncd.net.observe import attach
from syncd.net.retry import Backoff
from syncd.providers.casedev import CaseDevProvider
from syncd.sinks.aws_secrets_manager import AwsSecretsManagerSink
from syncd.sinks.base import WriteRequest
from syncd.testing.casedev import FakeCaseDev, Fault
from syncd.testing.fakes import MemorySink, StaticProvider
from tests.support.configs import ConfigBuilder, binding
from tests.support.servers.moto import MotoServer
from tests.support.servers.ports import free_port

CANARY = "canary-Pw-7f3a9c1e5b"
URI = f"postgresql://app_owner:{CANARY}@db.example:5432/app?sslmode=require"
API_KEY = "cdk_test_0123456789abcdef"


def config_file(tmp_path: Path, port: int, **settings: Any) -> Path:
    return (
        ConfigBuilder(tmp_path, log_level=None)
        .set(metrics={"listen": f"127.0.0.1:{port}"})
        .casedev("http://127.0.0.1:9", name="cd")
        .file_sink("mem")
        .set(defaults={"interval": "10m", "jitter": "0s"})
        .target("app", [binding("mem", "app")], provider="cd", project="proj_app")
        .target("ghost", [binding("mem", "g")], provider="cd", project="proj_gone")
        .set(**settings)
        .write()
    )


def get(port: int, path: str) -> tuple[int, str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read().decode()
    finally:
        conn.close()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Daemon, int]]:
    """A daemon over fakes with its listener on a free port: 'app' syncs, 'ghost' fails (404)."""
    port = free_port()
    cfg = config_mod.load(config_file(tmp_path, port))
    provider = StaticProvider({("proj_app", "main", False): URI})
    sink = MemorySink("mem")
    daemon = Daemon(
        cfg,
        build_runtime=lambda c: Runtime(c, {"cd": provider}, {"mem": sink}),
        notifier=Notifier({}),
        metrics=Metrics(daemon=True),
    )
    daemon.start()
    value = daemon.metrics.registry.get_sample_value
    deadline = time.monotonic() + 5
    while (
        value("syncd_target_consecutive_failures", {"target": "ghost"}) != 1
        or value("syncd_sync_total", {"target": "app", "sink": "mem", "result": "ok"}) != 1
    ):
        assert time.monotonic() < deadline, "the first syncs did not happen"
        time.sleep(0.01)
    yield daemon, port
    daemon.shutdown()


def test_metrics_live_in_their_own_registry() -> None:
    """Two Metrics coexist and neither touches prometheus_client's global registry."""
    first, second = Metrics(), Metrics(daemon=True)
    first.request("provider", "cd", "ok")
    assert (
        second.registry.get_sample_value(
            "syncd_provider_requests_total", {"provider": "cd", "outcome": "ok"}
        )
        is None
    )
    assert (
        prometheus_client.REGISTRY.get_sample_value("syncd_build_info", {"version": __version__})
        is None
    )
    assert first.registry.get_sample_value("syncd_build_info", {"version": __version__}) == 1


def test_results_writes_and_successes_are_counted_per_binding() -> None:
    """Each binding counts its result, what it wrote (created/updated/drift_repaired) and its last success."""
    metrics = Metrics()
    target = Target("app", "cd", "proj", sinks=())
    outcome = TargetOutcome(
        "app",
        (
            SinkOutcome("app", "aws", "s1", Action.CREATE, written=True),
            SinkOutcome("app", "vault", "s2", Action.DRIFT, written=True),
            SinkOutcome("app", "files", "s3", Action.UNCHANGED),
            SinkOutcome("app", "broken", "s4", Action.UPDATE, error=SinkUnavailable("throttled")),
        ),
    )
    metrics.record(target, outcome, now=1234.0)
    value = metrics.registry.get_sample_value
    assert value("syncd_sync_total", {"target": "app", "sink": "aws", "result": "ok"}) == 1
    assert value("syncd_sync_total", {"target": "app", "sink": "broken", "result": "error"}) == 1
    assert (
        value("syncd_secrets_written_total", {"target": "app", "sink": "aws", "kind": "created"})
        == 1
    )
    assert (
        value(
            "syncd_secrets_written_total",
            {"target": "app", "sink": "vault", "kind": "drift_repaired"},
        )
        == 1
    )
    assert (
        value("syncd_secrets_written_total", {"target": "app", "sink": "files", "kind": "updated"})
        is None
    )
    assert (
        value("syncd_last_success_timestamp_seconds", {"target": "app", "sink": "files"}) == 1234.0
    )
    assert (
        value("syncd_last_success_timestamp_seconds", {"target": "app", "sink": "broken"}) is None
    )


def test_dependency_up_follows_the_breakers() -> None:
    """syncd_dependency_up is 1 for a closed breaker and 0 for an open one, read at each scrape."""
    metrics = Metrics()
    breakers = Breakers(failures=1)
    metrics.watch_breakers(breakers.all)
    value = metrics.registry.get_sample_value
    assert value("syncd_dependency_up", {"kind": "provider", "name": "cd"}) is None
    breakers.provider("cd")
    breakers.sink("vault")
    assert value("syncd_dependency_up", {"kind": "provider", "name": "cd"}) == 1
    with pytest.raises(SinkUnreachable):
        breakers.sink("vault").call(_unreachable)
    assert value("syncd_dependency_up", {"kind": "sink", "name": "vault"}) == 0
    assert value("syncd_dependency_up", {"kind": "provider", "name": "cd"}) == 1
    assert 'syncd_dependency_up{kind="sink",name="vault"} 0.0' in metrics.render()[1].decode()


def _unreachable() -> None:
    raise SinkUnreachable("cannot reach Vault")


def test_a_failed_fetch_counts_every_binding_as_fetch_error(tmp_path: Path) -> None:
    """When the provider fails, each sink of the target records result=fetch_error."""
    cfg = config_mod.load(config_file(tmp_path, 1))
    metrics = Metrics()
    metrics.record(cfg.targets[0], TargetOutcome("app", error=ProviderUnavailable("503")), now=1.0)
    assert (
        metrics.registry.get_sample_value(
            "syncd_sync_total", {"target": "app", "sink": "mem", "result": "fetch_error"}
        )
        == 1
    )


def test_scrape_never_contains_a_credential(running: tuple[Daemon, int]) -> None:
    """The canary password synced by the daemon appears in no /metrics, /healthz or /readyz answer."""
    daemon, port = running
    assert CANARY in next(iter(_memory_sink(daemon).secrets.values())).text
    bodies = [get(port, path)[2] for path in ("/metrics", "/healthz", "/readyz")]
    for body in bodies:
        assert CANARY not in body
        assert "postgresql://" not in body
    allowed = {
        "app",
        "ghost",
        "mem",
        "cd",
        "provider",
        "sink",
        "ok",
        "error",
        "fetch_error",
        __version__,
        "created",
        "updated",
        "drift_repaired",
    }
    for family in text_string_to_metric_families(bodies[0]):
        for s in family.samples:
            for key, value in s.labels.items():
                assert key == "le" or value in allowed, (s.name, key, value)


def test_metrics_endpoint_serves_prometheus_text(running: tuple[Daemon, int]) -> None:
    """/metrics answers the syncd_ families in the Prometheus text format, process metrics included."""
    _, port = running
    status, content_type, body = get(port, "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    assert 'syncd_sync_total{result="ok",sink="mem",target="app"} 1.0' in body
    assert 'syncd_sync_total{result="fetch_error",sink="mem",target="ghost"} 1.0' in body
    assert 'syncd_secrets_written_total{kind="created",sink="mem",target="app"} 1.0' in body
    assert 'syncd_build_info{version="' + __version__ + '"} 1.0' in body
    assert "syncd_target_sync_duration_seconds_bucket" in body
    assert "process_resident_memory_bytes" in body
    assert 'syncd_dependency_up{kind="provider",name="cd"} 1.0' in body
    assert 'syncd_dependency_up{kind="sink",name="mem"} 1.0' in body


def test_health_endpoints_report_liveness_and_stale_targets(running: tuple[Daemon, int]) -> None:
    """/healthz is 200 while the scheduler runs; /readyz is 503, its JSON naming the target never synced."""
    daemon, port = running
    assert get(port, "/healthz")[0::2] == (200, "ok\n")
    status, _, body = get(port, "/readyz")
    assert status == 503
    answer = json.loads(body)
    assert answer["stale"] == {"ghost": "no successful sync yet"}
    assert answer["targets"] == 2
    assert get(port, "/nope")[0] == 404
    daemon.health.set_running(False)
    assert get(port, "/healthz")[0::2] == (503, "scheduler not running\n")


def test_readyz_and_gauge_name_the_current_runtimes_open_breaker(
    running: tuple[Daemon, int],
) -> None:
    """The daemon's /readyz and syncd_dependency_up read the breakers of its current runtime."""
    daemon, port = running
    breaker = daemon.breakers().provider("cd")
    for _ in range(3):
        with pytest.raises(ProviderUnreachable):
            breaker.call(_hung)
    answer = json.loads(get(port, "/readyz")[2])
    assert [(c["kind"], c["name"]) for c in answer["open_breakers"]] == [("provider", "cd")]
    assert 'syncd_dependency_up{kind="provider",name="cd"} 0.0' in get(port, "/metrics")[2]


def _hung() -> None:
    raise ProviderUnreachable("case.dev timed out")


def test_a_port_in_use_is_one_clear_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """When metrics.listen is taken, `syncd run` prints one error line and exits 2."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ListenError):
            HttpListener(f"127.0.0.1:{port}", {})
        cfg = config_mod.load(config_file(tmp_path, port))
        assert run_daemon(cfg) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"syncd: error: cannot listen on 127.0.0.1:{port} for metrics")


def test_provider_counts_each_attempt_including_throttling() -> None:
    """A 429 answered before a 200 shows as one throttled and one ok request, not just one success."""
    api = FakeCaseDev(API_KEY)
    api.set_branch("proj_app", "main", direct=URI, pooled=URI)
    api.fail_next(Fault(429, headers={"Retry-After": "0", "Content-Type": "application/json"}))
    provider = CaseDevProvider(
        "cd",
        api_key=SecretStr(API_KEY),
        base_url="https://api.case.dev",
        transport=httpx.MockTransport(api.handle),
        backoff=Backoff(attempts=3, base=0.01),
        sleep=lambda _s: None,
    )
    metrics = Metrics()
    attach([provider, MemorySink()], metrics)
    provider.fetch(Target("app", "cd", "proj_app"))
    provider.close()
    value = metrics.registry.get_sample_value
    assert value("syncd_provider_requests_total", {"provider": "cd", "outcome": "throttled"}) == 1
    assert value("syncd_provider_requests_total", {"provider": "cd", "outcome": "ok"}) == 1


def test_aws_sink_counts_each_request_by_outcome(aws: MotoServer) -> None:
    """DescribeSecret of a missing secret counts as not_found, the create as ok, per sink name."""
    sink = AwsSecretsManagerSink("aws", boto3.client("secretsmanager", **aws.client_kwargs()))
    metrics = Metrics()
    attach([sink], metrics)
    state = sink.inspect("app/db")
    conn = ConnectionInfo.parse(URI, project="p", branch="main", pooled=False)
    document = render(conn, "uri", env_var="DATABASE_URL")
    sink.write(
        WriteRequest("app", "app/db", document, Fingerprint.of(document.text), state, Action.CREATE)
    )
    sink.close()
    value = metrics.registry.get_sample_value
    assert value("syncd_sink_requests_total", {"sink": "aws", "outcome": "not_found"}) == 1
    assert value("syncd_sink_requests_total", {"sink": "aws", "outcome": "ok"}) == 1


def _report(*outcomes: TargetOutcome) -> CycleReport:
    return CycleReport(outcomes, 0.25)


def test_textfile_is_written_atomically_with_the_run_metrics(tmp_path: Path) -> None:
    """write_textfile leaves exactly one complete .prom file holding the cycle's metrics."""
    cfg = config_mod.load(config_file(tmp_path, 1))
    path = tmp_path / "metrics" / "syncd.prom"
    path.parent.mkdir()
    ok = TargetOutcome("app", (SinkOutcome("app", "mem", "app", Action.CREATE, written=True),))
    write_textfile(path, _report(ok, TargetOutcome("ghost", error=ProviderUnavailable("503"))), cfg)
    assert [p.name for p in path.parent.iterdir()] == ["syncd.prom"]
    text = path.read_text()
    assert 'syncd_secrets_written_total{kind="created",sink="mem",target="app"} 1.0' in text
    assert 'syncd_sync_total{result="fetch_error",sink="mem",target="ghost"} 1.0' in text
    assert "syncd_cycle_duration_seconds_sum 0.25" in text
    assert "process_" not in text


def test_textfile_keeps_the_last_success_of_a_binding_that_now_fails(tmp_path: Path) -> None:
    """A failed run carries over the previous last-success time, so staleness alerts keep counting."""
    cfg = config_mod.load(config_file(tmp_path, 1))
    path = tmp_path / "syncd.prom"
    ok = TargetOutcome("app", (SinkOutcome("app", "mem", "app", Action.UNCHANGED),))
    write_textfile(path, _report(ok), cfg)
    first = _last_success(path)
    assert first is not None
    write_textfile(path, _report(TargetOutcome("app", error=ProviderUnavailable("503"))), cfg)
    assert _last_success(path) == first
    path.write_text("garbage {{{\n")
    write_textfile(path, _report(TargetOutcome("app", error=ProviderUnavailable("503"))), cfg)
    assert _last_success(path) is None


@pytest.mark.parametrize("planted", ["fifo", "devzero"])
def test_textfile_reads_back_no_fifo_or_endless_link(tmp_path: Path, planted: str) -> None:
    """A FIFO or a link to /dev/zero planted at the path is not read back: the write goes on."""
    cfg = config_mod.load(config_file(tmp_path, 1))
    path = tmp_path / "syncd.prom"
    if planted == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    ok = TargetOutcome("app", (SinkOutcome("app", "mem", "app", Action.UNCHANGED),))
    started = time.monotonic()
    write_textfile(path, _report(ok), cfg)
    assert time.monotonic() - started < 5
    assert path.is_file() and not path.is_symlink() and _last_success(path) is not None


def test_run_once_metrics_file_counts_api_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`syncd run --once --metrics-file` writes the sync counters and the provider requests it made."""
    api = FakeCaseDev(API_KEY)
    api.set_branch("proj_app", "main", direct=URI, pooled=URI)
    with api.serve() as server:
        config = {
            "log": {"format": "json"},
            "providers": {"cd": {"type": "casedev", "base_url": server.base_url}},
            "sinks": {"files": {"type": "file", "directory": str(tmp_path / "out")}},
            "targets": [
                {
                    "name": "app",
                    "provider": "cd",
                    "project": "proj_app",
                    "sinks": [{"sink": "files", "secret": "app"}],
                }
            ],
        }
        (tmp_path / "syncd.yaml").write_text(yaml.safe_dump(config))
        monkeypatch.setenv("CASEDEV_API_KEY", API_KEY)
        prom = tmp_path / "syncd.prom"
        code = cli.main(
            ["run", "--once", "--config", str(tmp_path / "syncd.yaml"), "--metrics-file", str(prom)]
        )
    assert code == 0
    text = prom.read_text()
    assert 'syncd_provider_requests_total{outcome="ok",provider="cd"} 1.0' in text
    assert 'syncd_secrets_written_total{kind="created",sink="files",target="app"} 1.0' in text
    assert CANARY not in text
    assert API_KEY not in text


def _last_success(path: Path) -> float | None:
    for family in text_string_to_metric_families(path.read_text()):
        for s in family.samples:
            if s.name == "syncd_last_success_timestamp_seconds":
                return s.value
    return None


def _memory_sink(daemon: Daemon) -> MemorySink:
    generation = daemon._generation
    assert generation is not None
    sink = generation.runtime.sinks["mem"]
    assert isinstance(sink, MemorySink)
    return sink


def test_per_target_series_expose_like_prometheus_client() -> None:
    """The lightweight per-target duration histogram and failures gauge render the same
    samples as prometheus_client's own Histogram and Gauge would (created times aside)."""
    from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest

    from syncd.daemon.metrics import _BUCKETS

    reference = CollectorRegistry()
    histogram = Histogram(
        "syncd_target_sync_duration_seconds",
        "Time to sync one target into all its sinks.",
        ["target"],
        buckets=_BUCKETS,
        registry=reference,
    )
    gauge = Gauge(
        "syncd_target_consecutive_failures",
        "Failed attempts since the last success.",
        ["target"],
        registry=reference,
    )
    metrics = Metrics(daemon=True)
    for target, seconds in [("a", 0.05), ("a", 0.3), ("b", 400.0), ("a", 1.0), ("b", 0.01)]:
        histogram.labels(target).observe(seconds)
        metrics.observe_duration(target, seconds)
    gauge.labels("a").set(3)
    metrics.set_failures("a", 3)

    def samples(text: str) -> set[str]:
        return {line for line in text.splitlines() if "_created" not in line}

    assert samples(generate_latest(reference).decode()) <= samples(metrics.render()[1].decode())


def test_per_sink_series_expose_like_prometheus_client() -> None:
    """The lightweight sync counter and last-success gauge render the same samples as
    prometheus_client's own Counter and Gauge would (created times aside)."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

    reference = CollectorRegistry()
    syncs = Counter(
        "syncd_sync",
        "Syncs of a target into a sink, by result.",
        ["target", "sink", "result"],
        registry=reference,
    )
    last = Gauge(
        "syncd_last_success_timestamp_seconds",
        "Unix time of the last successful sync of a target into a sink.",
        ["target", "sink"],
        registry=reference,
    )
    metrics = Metrics(daemon=True)
    for registry_syncs in (syncs, metrics.syncs):
        registry_syncs.labels("a", "s", "ok").inc()
        registry_syncs.labels("a", "s", "ok").inc(2)
        registry_syncs.labels("a", "s", "error")
    last.labels("a", "s").set(12.5)
    metrics.last_success.labels("a", "s").set(12.5)

    def samples(text: str) -> set[str]:
        return {line for line in text.splitlines() if "_created" not in line}

    assert samples(generate_latest(reference).decode()) <= samples(metrics.render()[1].decode())


def test_a_removed_target_leaves_no_series_behind() -> None:
    """Forgetting a target drops its counters, gauges and histogram; other targets keep theirs."""
    from syncd.core.models import SinkBinding, SinkOutcome, Target, TargetOutcome

    metrics = Metrics(daemon=True)
    targets = [Target(f"t{i}", "p", "proj", sinks=(SinkBinding("s", f"x{i}"),)) for i in range(2)]
    metrics.track(targets)
    for target in targets:
        outcome = TargetOutcome(
            target.name, (SinkOutcome(target.name, "s", "x", Action.CREATE, written=True),)
        )
        metrics.record(target, outcome, now=1.0)
        metrics.observe_duration(target.name, 0.2)
    metrics.forget(targets[0])
    _, body = metrics.render()
    text = body.decode()
    assert 'target="t0"' not in text
    assert text.count('target="t1"') > 10
