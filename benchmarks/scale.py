"""How fast syncd syncs N targets compared with the APIs' limit and a sequential script.

Starts the low-CPU stand-ins (benchmarks/standins.py: case.dev and Secrets
Manager, each answer delayed by ``--latency``) in a subprocess, writes a config
of N targets with one AWS secret each, and runs the real ``syncd run --once``
as a subprocess twice: the first cycle (every secret created) and the unchanged
cycle. For each it reports wall time, calls by API, writes, syncd's CPU seconds
(user + system of the child, from ``os.wait4``) and peak RSS, next to:

* the ideal: the call budget (unchanged: one fetch and one DescribeSecret per
  target; first: plus one CreateSecret) x latency / concurrency, and the quota
  bound, writes / 40 per second (AWS allows 50 writes/s per region);
* the baseline: the sequential script a user would otherwise write (httpx fetch,
  boto3 GetSecretValue, compare, write when different), timed on its own
  secrets over the same stand-ins.

    python -m benchmarks.scale [--targets 1000] [--concurrency 8] [--latency 0.025]
    python -m benchmarks.scale --targets 10000 --daemon-rss

Run from the repository root with syncd installed (``pip install -e '.[aws]'``).
syncd's modules are byte-compiled first, as ``pip install`` does (an editable
install run with ``PYTHONDONTWRITEBYTECODE`` would compile them at every start).
The start-up row is ``run --once`` of one target whose secret is current: what
a CronJob pays at every run.
``--daemon-rss`` starts ``syncd run`` as a daemon instead, waits for its first
cycle and reads VmRSS / VmHWM from /proc. Numbers depend on the machine's load,
which is printed with them.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.standins import API_KEY, connection_uri

QUOTA_WRITES_PER_S = 40.0
ENV = {
    "CASEDEV_API_KEY": API_KEY,
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench-secret-access-key",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


@dataclass
class Cycle:
    """One measured run."""

    label: str
    wall: float
    cpu: float
    rss_mb: float
    calls: dict[str, int]
    writes: int
    ideal: float
    quota: float


@contextmanager
def standins(latency: float) -> Iterator[httpx.Client]:
    """The stand-ins in a subprocess; yields a client for their control endpoints."""
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "benchmarks.standins", "--latency", str(latency)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert proc.stdout is not None  # noqa: S101 - PIPE above
        url = proc.stdout.readline().split()[-1]
        with httpx.Client(base_url=url, timeout=30) as control:
            yield control
    finally:
        proc.terminate()
        proc.wait()


def write_config(path: Path, url: str, n: int, concurrency: int) -> None:
    """N targets, each with one AWS secret; the daemon interval is long (one cycle)."""
    lines = [
        "log: {level: warning, format: json}",
        f"concurrency: {concurrency}",
        "metrics: {enabled: false}",
        f"providers: {{casedev: {{type: casedev, base_url: '{url}'}}}}",
        f"sinks: {{aws: {{type: aws-secrets-manager, region: us-east-1, endpoint_url: '{url}'}}}}",
        "defaults: {interval: 1d, jitter: 0s}",
        "targets:",
    ]
    lines += [
        f"  - {{name: t{i:05d}, provider: casedev, project: proj-{i:05d}, "
        f"sinks: [{{sink: aws, secret: bench/t{i:05d}}}]}}"
        for i in range(n)
    ]
    path.write_text("\n".join(lines) + "\n")


def run_once(config: Path, control: httpx.Client, label: str, log: Path) -> Cycle:
    """``syncd run --once`` as a child process, with its resource usage."""
    control.post("/_reset")
    with log.open("w") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "syncd", "run", "--once", "--config", str(config)],
            env={**os.environ, **ENV},
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{label}: syncd exited {proc.returncode}; see {log}:\n{log.read_text()[-2000:]}")
    stats = control.get("/_stats").json()
    return Cycle(
        label,
        wall,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss / 1024,
        stats["calls"],
        stats["writes"],
        0.0,
        0.0,
    )


def baseline(control: httpx.Client, url: str, n: int) -> tuple[float, float]:
    """The sequential script over ``n`` already-current secrets: wall and CPU seconds."""
    import boto3  # noqa: PLC0415 - only the benchmark's baseline needs it here

    control.post("/_put", json={f"baseline/t{i:05d}": _uri(i) for i in range(n)})
    client = boto3.client(
        "secretsmanager",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=ENV["AWS_SECRET_ACCESS_KEY"],
    )
    headers = {"Authorization": f"Bearer {API_KEY}"}
    cpu0 = _self_cpu()
    start = time.perf_counter()
    with httpx.Client(base_url=url, headers=headers, timeout=10) as http:
        for i in range(n):
            answer = http.get(
                f"/database/v1/projects/proj-{i:05d}/connection",
                params={"branch": "main", "pooled": "false"},
            )
            answer.raise_for_status()
            uri = answer.json()["connectionUri"]
            name = f"baseline/t{i:05d}"
            try:
                current = client.get_secret_value(SecretId=name)["SecretString"]
            except client.exceptions.ResourceNotFoundException:
                client.create_secret(Name=name, SecretString=uri)
                continue
            if current != uri:
                client.put_secret_value(SecretId=name, SecretString=uri)
    wall = time.perf_counter() - start
    client.close()
    return wall, _self_cpu() - cpu0


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _uri(i: int) -> str:
    return connection_uri(f"proj-{i:05d}", "main", pooled=False)


def daemon_rss(
    config: Path, control: httpx.Client, n: int, log: Path
) -> tuple[float, float, float]:
    """Start ``syncd run``; after its first cycle: VmRSS and VmHWM in MB, and the cycle's time."""
    control.post("/_clear")
    with log.open("w") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "syncd", "run", "--config", str(config)],
            env={**os.environ, **ENV},
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            while True:
                time.sleep(0.5)
                if proc.poll() is not None:
                    sys.exit(f"daemon exited {proc.returncode}; see {log}")
                if control.get("/_stats").json()["secrets"] >= n:
                    break
            elapsed = time.perf_counter() - start
            time.sleep(2)  # the last writes' bookkeeping settles
            status = Path(f"/proc/{proc.pid}/status").read_text()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return _kb(fields["VmRSS"]) / 1024, _kb(fields["VmHWM"]) / 1024, elapsed


def _kb(value: str) -> float:
    return float(value.split(maxsplit=1)[0])


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} (uptime)"


def print_table(args: argparse.Namespace, cycles: list[Cycle], base: Any) -> None:
    """The results, with ratios to the ideal and to the baseline."""
    print(
        f"\nN={args.targets}  concurrency={args.concurrency}  latency={args.latency * 1000:g} ms"
        f"  cpus={os.cpu_count()}\nload: {_load()}\n"
    )
    header = (
        f"{'cycle':<10} {'wall s':>7} {'ideal s':>8} {'quota s':>8} {'x ideal':>8} {'x bound':>8} "
        f"{'writes':>6} {'cpu s':>6} {'cpu ms/tgt':>10} {'RSS MB':>7}  calls"
    )
    print(header)
    print("-" * len(header))
    for c in cycles:
        bound = max(c.ideal, c.quota)
        calls = ", ".join(f"{k}={v}" for k, v in sorted(c.calls.items()))
        per_target = c.cpu * 1000 / (1 if c.label == "start-up" else args.targets)
        print(
            f"{c.label:<10} {c.wall:>7.2f} {c.ideal:>8.2f} {c.quota:>8.2f} "
            f"{c.wall / c.ideal:>8.2f} {c.wall / bound:>8.2f} {c.writes:>6} {c.cpu:>6.2f} "
            f"{per_target:>10.2f} {c.rss_mb:>7.1f}  {calls}"
        )
    if base is not None:
        sample, wall, cpu = base
        scaled = wall * args.targets / sample
        unchanged = cycles[-1]
        note = "" if sample == args.targets else f" (measured on {sample}, scaled)"
        print(
            f"\nbaseline (sequential script, unchanged cycle): {scaled:.2f} s{note}, "
            f"cpu {cpu / sample * 1000:.2f} ms/target; syncd is {scaled / unchanged.wall:.1f}x "
            "faster"
        )
    if len(cycles) > 2:  # noqa: PLR2004 - start-up row present
        startup = cycles[0]
        unchanged = cycles[-1]
        net = (unchanged.cpu - startup.cpu) / args.targets * 1000
        print(
            f"syncd CPU per unchanged target without start-up ({startup.cpu:.2f} s for one "
            f"target): {net:.2f} ms"
        )


def main() -> None:
    """Parse options, run the measurements, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.025, help="seconds per API answer")
    parser.add_argument(
        "--baseline-sample",
        type=int,
        default=1000,
        help="time the sequential baseline on at most this many targets and scale (0: skip)",
    )
    parser.add_argument(
        "--daemon-rss", action="store_true", help="measure the daemon's memory instead"
    )
    args = parser.parse_args()
    n, latency, c = args.targets, args.latency, args.concurrency
    # As pip does when it installs syncd: without it, an editable install under
    # PYTHONDONTWRITEBYTECODE compiles syncd's modules again at every start.
    compileall.compile_dir(Path(__file__).resolve().parent.parent / "syncd", quiet=1)
    with tempfile.TemporaryDirectory() as tmp, standins(latency) as control:
        url = str(control.base_url).rstrip("/")
        config = Path(tmp) / "syncd.yaml"
        write_config(config, url, n, c)
        if args.daemon_rss:
            rss, hwm, elapsed = daemon_rss(config, control, n, Path(tmp) / "daemon.log")
            print(
                f"\nN={n} daemon after its first cycle ({elapsed:.1f} s): VmRSS {rss:.1f} MB, "
                f"VmHWM {hwm:.1f} MB\nload: {_load()}"
            )
            return
        one = Path(tmp) / "one.yaml"
        write_config(one, url, 1, c)
        control.post("/_clear")
        run_once(one, control, "one", Path(tmp) / "one.log")  # creates the one secret
        # What a CronJob pays at every run: start-up and one unchanged target.
        cycles = [run_once(one, control, "start-up", Path(tmp) / "one.log")]
        cycles[0].ideal = 2 * latency  # fetch and describe
        control.post("/_clear")
        first = run_once(config, control, "first", Path(tmp) / "first.log")
        first.ideal, first.quota = 3 * n * latency / c, n / QUOTA_WRITES_PER_S
        unchanged = run_once(config, control, "unchanged", Path(tmp) / "unchanged.log")
        unchanged.ideal = 2 * n * latency / c
        cycles += [first, unchanged]
        base = None
        if args.baseline_sample:
            sample = min(n, args.baseline_sample)
            base = (sample, *baseline(control, url, sample))
        print_table(args, cycles, base)


if __name__ == "__main__":
    main()
