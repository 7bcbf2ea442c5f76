"""Soak the daemon loop: hundreds of cycles in-process, watching memory, CPU and threads.

Run it from the repository root::

    python benchmarks/soak.py [--cycles 500] [--targets 5] [--interval 0.05]

What runs is the real daemon (``syncd.daemon.scheduler.Daemon``: APScheduler, the
shared worker pool, retries, metrics, the HTTP listener, which is scraped once
a second) with the real case.dev provider over ``httpx.MockTransport`` into the
in-memory sink. The config's 10s minimum interval is bypassed on purpose: the
targets are replaced after validation with copies whose interval is a few
milliseconds, so a few hundred cycles take seconds instead of hours. Every
``--rotate-every`` cycles the provider rotates the credentials, so updates are
written, not only "unchanged" checks. ``--rotation alternate`` (the default)
flips between two passwords, which isolates the daemon's own memory;
``--rotation fresh`` mints a new password each time, as a real provider does,
which also grows syncd's redaction registry of known credentials (bounded, see
syncd/knownvalues.py). The fake API's request log is cleared as it goes: it
belongs to the fake, not to syncd.

It prints the cycles done, RSS at start, after warm-up and at the end, the
growth per 100 cycles after warm-up, CPU per cycle, runs APScheduler skipped
because the previous one was still running, and the idle CPU% once the same
daemon is reloaded to a 10-minute interval and left alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import threading
import time
from pathlib import Path

import httpx
from pydantic import SecretStr

from syncd import logs
from syncd.config import settings as config_mod
from syncd.core.runtime import Runtime
from syncd.daemon.metrics import Metrics
from syncd.daemon.scheduler import Daemon
from syncd.daemon.sdnotify import Notifier
from syncd.providers.casedev import CaseDevProvider
from syncd.testing.casedev import FakeCaseDev
from syncd.testing.fakes import MemorySink

API_KEY = "cdk_soak_0123456789abcdef"
WARM_UP = 100


def rss_mib() -> float:
    """Resident set size of this process from /proc (no psutil needed)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def cpu_seconds() -> float:
    """User + system CPU time of all threads of this process."""
    return time.process_time()


def base_config(targets: int, concurrency: int) -> config_mod.Config:
    """A validated config (10s interval, as the config requires) of ``targets`` targets."""
    data = {
        "metrics": {"listen": "127.0.0.1:0"},
        "concurrency": concurrency,
        "providers": {"cd": {"type": "casedev", "base_url": "https://api.case.dev"}},
        "sinks": {"mem": {"type": "file", "directory": "/nonexistent"}},
        "defaults": {"interval": "10s", "jitter": "0s"},
        "targets": [
            {
                "name": f"t{i}",
                "provider": "cd",
                "project": f"proj{i}",
                "sinks": [{"sink": "mem", "secret": f"s{i}"}],
            }
            for i in range(targets)
        ],
    }
    return config_mod.load(Path("soak.yaml"), data=data)


def with_interval(cfg: config_mod.Config, interval: float) -> config_mod.Config:
    """``cfg`` with every target's interval replaced, below the config's minimum if asked."""
    return dataclasses.replace(
        cfg, targets=tuple(dataclasses.replace(t, interval=interval) for t in cfg.targets)
    )


class World:
    """The fake case.dev API and the in-memory sink, shared by every runtime the daemon builds."""

    def __init__(self, targets: int, rotation: str) -> None:
        self.api = FakeCaseDev(API_KEY)
        self.sink = MemorySink("mem")
        self.targets = targets
        self.fresh = rotation == "fresh"
        self.rotations = 0
        self.rotate()

    def rotate(self) -> None:
        """Give every branch a new password (or the other of two, with ``alternate``)."""
        serial = self.rotations if self.fresh else self.rotations % 2
        for i in range(self.targets):
            uri = f"postgresql://u{i}:pw{serial:06d}xyz@db{i}.example:5432/d?sslmode=require"
            self.api.set_branch(f"proj{i}", "main", direct=uri, pooled=uri)
        self.rotations += 1

    def build(self, cfg: config_mod.Config) -> Runtime:
        """A runtime of the real case.dev provider (over MockTransport) and the shared sink."""
        provider = CaseDevProvider(
            "cd", api_key=SecretStr(API_KEY), transport=httpx.MockTransport(self.api.handle)
        )
        return Runtime(cfg, {"cd": provider}, {"mem": self.sink})


def scrape(port: int) -> None:
    """GET /metrics like a Prometheus server would."""
    with httpx.Client() as client:
        client.get(f"http://127.0.0.1:{port}/metrics").raise_for_status()


def drive(daemon: Daemon, world: World, args: argparse.Namespace, report: dict[str, float]) -> None:
    """Sample while the daemon cycles, then reload it to idle, measure, and stop it."""
    try:
        _drive(daemon, world, args, report)
    finally:
        daemon.request_stop()


def _drive(
    daemon: Daemon, world: World, args: argparse.Namespace, report: dict[str, float]
) -> None:
    def cycles() -> int:
        value = daemon.metrics.registry.get_sample_value
        labels = [{"target": f"t{i}", "sink": "mem", "result": "ok"} for i in range(args.targets)]
        return int(sum(value("syncd_sync_total", x) or 0 for x in labels)) // args.targets

    port = daemon.listen_port
    assert port is not None  # noqa: S101 - the soak config enables the listener
    report["rss_start"] = rss_mib()
    report["threads_start"] = threading.active_count()
    started, cpu_started = time.monotonic(), cpu_seconds()
    next_scrape = 0.0
    done = 0
    while done < args.cycles:
        time.sleep(0.01)
        done = cycles()
        if args.rotate_every and done >= world.rotations * args.rotate_every:
            world.rotate()
        if "rss_warm" not in report and done >= WARM_UP:
            report["rss_warm"], report["cycles_warm"] = rss_mib(), done
        if time.monotonic() >= next_scrape:
            scrape(port)
            world.api.requests.clear()
            next_scrape = time.monotonic() + 1
    report["cycles"] = cycles()
    report["seconds"] = time.monotonic() - started
    report["cpu"] = cpu_seconds() - cpu_started
    report["rss_end"] = rss_mib()
    report["threads_end"] = threading.active_count()
    report["writes"] = world.sink.writes

    daemon.request_reload()  # load_config now answers the 10-minute interval
    time.sleep(1.0)  # the reload re-runs changed targets once; let that settle
    idle_wall, idle_cpu = time.monotonic(), cpu_seconds()
    time.sleep(args.idle)
    report["idle_pct"] = 100 * (cpu_seconds() - idle_cpu) / (time.monotonic() - idle_wall)


class _Count(logging.Handler):
    """Counts the records it sees (APScheduler's 'skipped: maximum number of instances')."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.seen += 1


def main() -> int:
    """Run the soak and print its figures; the daemon's exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=500)
    parser.add_argument("--targets", type=int, default=5)
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between syncs")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rotate-every", type=int, default=10, help="cycles; 0 = never")
    parser.add_argument("--rotation", choices=("alternate", "fresh"), default="alternate")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of idle measurement")
    args = parser.parse_args()
    if args.cycles <= WARM_UP:
        parser.error(f"--cycles must be more than the {WARM_UP} warm-up cycles")

    # Log as a daemon does (info, JSON, redaction on every line), into /dev/null.
    devnull = Path(os.devnull).open("w")  # noqa: SIM115 - open for the whole run
    logs.configure("info", "json", stream=devnull)
    skipped = _Count()
    logging.getLogger("apscheduler.scheduler").addHandler(skipped)
    world = World(args.targets, args.rotation)
    base = base_config(args.targets, args.concurrency)
    fast, idle = with_interval(base, args.interval), with_interval(base, 600.0)
    daemon = Daemon(
        fast,
        build_runtime=world.build,
        load_config=lambda _path: idle,
        notifier=Notifier({}),
        metrics=Metrics(daemon=True),
    )
    daemon.start()
    report: dict[str, float] = {}
    driver = threading.Thread(target=drive, args=(daemon, world, args, report), name="soak-driver")
    driver.start()
    code = daemon.serve()
    driver.join()
    report["skipped"] = skipped.seen
    logs.reset()
    devnull.close()
    _print(report, args)
    return code


def _print(r: dict[str, float], args: argparse.Namespace) -> None:
    after_warm = r["cycles"] - r["cycles_warm"]
    growth = (r["rss_end"] - r["rss_warm"]) / after_warm * 100 if after_warm else 0.0
    syncs = r["cycles"] * args.targets
    rotation = f"every {args.rotate_every} cycles, {args.rotation}" if args.rotate_every else "off"
    lines = [
        f"targets: {args.targets}, interval: {args.interval}s, concurrency: {args.concurrency}, "
        f"rotation: {rotation}",
        f"cycles: {r['cycles']:.0f} ({syncs:.0f} target syncs, {r['writes']:.0f} secret writes) "
        f"in {r['seconds']:.1f}s",
        f"RSS start: {r['rss_start']:.1f} MiB, after warm-up ({r['cycles_warm']:.0f} cycles): "
        f"{r['rss_warm']:.1f} MiB, end: {r['rss_end']:.1f} MiB",
        f"RSS growth after warm-up: {growth:+.3f} MiB per 100 cycles",
        f"CPU per cycle: {1000 * r['cpu'] / r['cycles']:.2f} ms "
        f"({1000 * r['cpu'] / syncs:.2f} ms per target sync)",
        f"runs skipped because the previous run still ran: {r['skipped']:.0f}",
        f"threads: {r['threads_start']:.0f} at start, {r['threads_end']:.0f} at end",
        f"idle CPU over {args.idle:.0f}s: {r['idle_pct']:.2f}%",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
