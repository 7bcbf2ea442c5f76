"""A fleet in fragments: each shard's config load time and peak memory, and its sync.

Writes a main config and ``--fragments`` files under ``targets.d/`` holding
``--targets`` targets (one AWS secret each, written one per line, each file
under 1 MiB), then for every shard ``I`` of ``--shards``:

* **load**: a child process imports syncd, then times ``syncd.config.settings.load``
  with the shard's selector, as ``run --shard I/N`` does (other shards'
  targets are parsed and name-checked, not built); it reports that time and
  its peak RSS (``ru_maxrss``) after the load;
* **sync** (the shards listed in ``--sync``; all with ``--sync all``): the real
  ``python -m syncd run --once --shard I/N --output json`` against the
  low-CPU stand-ins (benchmarks/standins.py) as a child process: wall time,
  peak RSS (``os.wait4``), targets synced, and secrets written by the
  stand-in, which must equal the shard's share. When every shard synced, the
  shards' targets together must be every target exactly once.

Syncing all ten shards of 100,000 targets takes long on two cores, so by
default only shard 0 syncs; the exactly-once property over all shards is also
pinned down at a smaller size by tests/unit/config/test_fragments.py.

    python -m benchmarks.fragments [--targets 100000] [--fragments 12] [--shards 10]
                                   [--sync 0 | --sync 0,3 | --sync all] [--latency 0]

Run from the repository root with syncd installed (``pip install -e '.[aws]'``).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.scale import ENV, _load, standins
from syncd.config.sharding import shard_of

LOAD_BUDGET_S = 3.0
RSS_BUDGET_MB = 150.0


@dataclass
class Row:
    """One shard's measurements (sync columns None when it did not sync)."""

    shard: int
    share: int
    load_s: float
    load_rss_mb: float
    sync_s: float | None = None
    sync_rss_mb: float | None = None
    synced: int | None = None
    writes: int | None = None


def names(n: int) -> list[str]:
    """The target names of an ``n``-target fleet."""
    return [f"t{i:06d}" for i in range(n)]


def write_fleet(directory: Path, url: str, n: int, fragments: int, concurrency: int) -> Path:
    """The main file (providers, sinks, ``include``) and ``fragments`` files of targets."""
    main = directory / "syncd.yaml"
    main.write_text(
        "\n".join(
            [
                "log: {level: warning, format: json}",
                f"concurrency: {concurrency}",
                "metrics: {enabled: false}",
                f"providers: {{casedev: {{type: casedev, base_url: '{url}'}}}}",
                "sinks: {aws: {type: aws-secrets-manager, region: us-east-1, "
                f"endpoint_url: '{url}'}}}}",
                "defaults: {interval: 1d, jitter: 0s}",
                'include: ["targets.d/*.yaml"]',
            ]
        )
        + "\n"
    )
    (directory / "targets.d").mkdir()
    fleet = names(n)
    per = -(-n // fragments)
    for f in range(fragments):
        lines = ["targets:"] + [
            f"  - {{name: {name}, provider: casedev, project: proj-{name[1:]}, "
            f"sinks: [{{sink: aws, secret: bench/{name}}}]}}"
            for name in fleet[f * per : (f + 1) * per]
        ]
        (directory / "targets.d" / f"{f:02d}.yaml").write_text("\n".join(lines) + "\n")
    return main


def measure_load(config: Path, shard: int, shards: int) -> tuple[float, float]:
    """Config load time and peak RSS (MB) of shard ``shard``, in a fresh child process."""
    out = subprocess.run(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "benchmarks.fragments",
            "--child-load",
            str(config),
            f"{shard}/{shards}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = json.loads(out)
    return float(result["load_s"]), float(result["rss_mb"])


def child_load(config: Path, spec: str) -> None:
    """In the child: import syncd, time the sharded load, print the time and peak RSS."""
    from syncd.config import settings as config_mod  # noqa: PLC0415 - timed apart from the load
    from syncd.config.sharding import Shard  # noqa: PLC0415

    shard = Shard.parse(spec)
    start = time.perf_counter()
    cfg = config_mod.load(config, select=lambda _count: shard.holds)
    elapsed = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"load_s": elapsed, "rss_mb": rss, "built": len(cfg.targets)}))


def sync(config: Path, shard: int, shards: int, log: Path) -> tuple[float, float, list[str]]:
    """``run --once --shard`` as a child: wall time, peak RSS (MB) and the targets it synced."""
    with log.open("w") as err, tempfile.TemporaryFile("w+") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [
                sys.executable,
                "-m",
                "syncd",
                "run",
                "--once",
                "--shard",
                f"{shard}/{shards}",
                "--output",
                "json",
                "--config",
                str(config),
            ],
            env={**os.environ, **ENV},
            stdout=out,
            stderr=err,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"shard {shard}: syncd exited {status}; see {log}")
        out.seek(0)
        report = json.load(out)
    return wall, usage.ru_maxrss / 1024, [t["target"] for t in report["targets"]]


def main() -> None:
    """Parse options, write the fleet, measure every shard, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", type=int, default=100_000)
    parser.add_argument("--fragments", type=int, default=12)
    parser.add_argument("--shards", type=int, default=10)
    parser.add_argument("--sync", default="0", help="shards that also sync: 0,3 or all or none")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per API answer")
    parser.add_argument(
        "--child-load", nargs=2, metavar=("CONFIG", "SHARD"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child_load:
        child_load(Path(args.child_load[0]), args.child_load[1])
        return
    n, count = args.targets, args.shards
    to_sync = (
        set(range(count))
        if args.sync == "all"
        else set()
        if args.sync == "none"
        else {int(s) for s in args.sync.split(",")}
    )
    compileall.compile_dir(Path(__file__).resolve().parent.parent / "syncd", quiet=1)
    shares = [0] * count
    for name in names(n):
        shares[shard_of(name, count)] += 1
    rows = []
    synced: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, standins(args.latency) as control:
        url = str(control.base_url).rstrip("/")
        config = write_fleet(Path(tmp), url, n, args.fragments, args.concurrency)
        sizes = [p.stat().st_size for p in sorted((Path(tmp) / "targets.d").iterdir())]
        for index in range(count):
            load_s, load_rss = measure_load(config, index, count)
            row = Row(index, shares[index], load_s, load_rss)
            if index in to_sync:
                control.post("/_reset")
                wall, rss, mine = sync(config, index, count, Path(tmp) / f"shard{index}.log")
                row.sync_s, row.sync_rss_mb, row.synced = wall, rss, len(mine)
                row.writes = control.get("/_stats").json()["writes"]
                synced += mine
            rows.append(row)
            print(_line(row), flush=True)
    print(
        f"\nN={n} in {args.fragments} fragments ({min(sizes):,}-{max(sizes):,} bytes each), "
        f"{count} shards, concurrency {args.concurrency}, latency {args.latency * 1000:g} ms, "
        f"cpus={os.cpu_count()}\nload: {_load()}"
    )
    worst_load = max(r.load_s for r in rows)
    worst_rss = max(max(r.load_rss_mb, r.sync_rss_mb or 0.0) for r in rows)
    print(
        f"worst config load {worst_load:.2f} s (budget {LOAD_BUDGET_S:g} s), worst peak RSS "
        f"{worst_rss:.1f} MB (budget {RSS_BUDGET_MB:g} MB)"
    )
    wrong = [r.shard for r in rows if r.synced is not None and r.synced != r.share]
    if wrong:
        sys.exit(f"shards {wrong} did not sync exactly their own share")
    if len(to_sync) == count:
        if sorted(synced) != names(n):
            sys.exit("the shards together did not sync every target exactly once")
        print(f"all {count} shards together synced each of the {n} targets exactly once")


def _line(row: Row) -> str:
    text = (
        f"shard {row.shard:>2}: share {row.share:>6}  load {row.load_s:5.2f} s  "
        f"RSS after load {row.load_rss_mb:6.1f} MB"
    )
    if row.sync_s is not None:
        text += (
            f"  | run --once {row.sync_s:6.1f} s  peak RSS {row.sync_rss_mb:6.1f} MB  "
            f"synced {row.synced}  stand-in writes {row.writes}"
        )
    return text


if __name__ == "__main__":
    main()
