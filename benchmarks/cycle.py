"""Throughput of one sync cycle over many targets, through the real provider over HTTP.

The case.dev-compatible API (syncd.testing.casedev) serves every target over
loopback HTTP; the sink is either the in-memory fake, which isolates syncd's
own cost (HTTP fetch, validation, rendering, fingerprinting, engine), or the
file sink (atomic write with fsync per secret). Prints targets per second for
a first cycle (every secret created) and a second one (nothing changed).

    python benchmarks/cycle.py [--targets 1000] [--concurrency 8] [--sink memory|file]
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

from syncd import logs
from syncd.core.engine import Engine
from syncd.core.models import SinkBinding, Target
from syncd.providers.casedev import CaseDevProvider
from syncd.sinks.base import Sink
from syncd.sinks.file import FileSink
from syncd.testing.casedev import FakeCaseDev
from syncd.testing.fakes import MemorySink


def main() -> None:
    """Run two cycles and print their throughput."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--sink", choices=("memory", "file"), default="memory")
    args = parser.parse_args()
    logs.configure("warning", "json")  # as in production: no per-secret lines

    key = secrets.token_urlsafe(24)
    api = FakeCaseDev(key)
    targets = []
    for i in range(args.targets):
        uri = f"postgresql://owner:{secrets.token_urlsafe(18)}@ep-{i}.neon.tech/neondb?sslmode=require"
        api.set_branch(f"proj_{i}", "main", direct=uri, pooled=uri)
        binding = SinkBinding("sink", f"app-{i}.json", "json")
        targets.append(Target(f"t{i}", "casedev", f"proj_{i}", sinks=(binding,)))

    with api.serve() as server, tempfile.TemporaryDirectory() as tmp:
        sink: Sink = MemorySink() if args.sink == "memory" else FileSink("sink", Path(tmp))
        provider = CaseDevProvider("casedev", api_key=SecretStr(key), base_url=server.base_url)
        engine = Engine({"casedev": provider}, {"sink": sink}, concurrency=args.concurrency)
        print(f"targets: {args.targets}, concurrency: {args.concurrency}, sink: {args.sink}")
        for label in ("first cycle (create)", "second cycle (unchanged)"):
            api.requests.clear()
            start = time.perf_counter()
            report = engine.run_cycle(targets)
            elapsed = time.perf_counter() - start
            if not report.ok:
                raise SystemExit(f"cycle failed: {dict(report.counts)}")
            print(f"{label}: {elapsed:.2f}s, {args.targets / elapsed:.0f} targets/s")
        provider.close()


if __name__ == "__main__":
    main()
