"""The reset window and the alternate probe, measured against the local stand-ins.

Starts the real servers the end-to-end tests use (PostgreSQL, PgBouncer, moto's
server, OpenBao when ``bao`` or ``vault`` is on PATH) and the Neon-compatible
API in front of them, then runs ``syncd rotate`` as real processes:

* N ``reset`` rotations, each into AWS Secrets Manager, Vault and a file. The
  reset window (reset -> last sink promoted) is read from syncd's
  ``rotation_published`` event (``window_s``) and, from the outside, from the
  times the servers saw the reset and the last sink write;
* M ``alternate`` rotations while a probe reconnects through PgBouncer with
  the credential the file and AWS sinks publish, every 50 ms, counting
  authentication failures.

    python -m benchmarks.rotation [--resets 10] [--alternates 4] [--operation-delay 0.3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from tests.rotationworld import (
    TARGET,
    RotationWorld,
    outside_window,
    probe_rotations,
    published_events,
    rotation_world,
)
from tests.servers.moto import MotoServer
from tests.servers.pgbouncer import PgBouncer
from tests.servers.postgres import PostgresServer
from tests.servers.vault import VaultDevServer, available_binaries
from tests.vaultutil import POLICY, make_token


@contextmanager
def world(tmp: Path, operation_delay: float) -> Iterator[RotationWorld]:
    """The servers and a Neon branch with sinks in AWS, Vault (if installed) and a file."""
    with ExitStack() as stack:
        postgres = stack.enter_context(PostgresServer())
        pgbouncer = stack.enter_context(PgBouncer(postgres))
        moto = stack.enter_context(MotoServer())
        vault: dict[str, Any] = {}
        binaries = available_binaries()
        if binaries:
            server = stack.enter_context(VaultDevServer(binaries[0]))
            root = server.client()
            stack.callback(root.adapter.close)
            root.sys.create_or_update_policy("syncd", POLICY)
            vault = {"vault_addr": server.addr, "vault_root": root, "vault_token": make_token(root)}
        yield stack.enter_context(
            rotation_world(tmp, postgres, pgbouncer, moto, operation_delay=operation_delay, **vault)
        )


def summary(values: list[float]) -> str:
    """Min / median / max in seconds."""
    if not values:
        return "n/a"
    return (
        f"min {min(values):.3f}s  median {statistics.median(values):.3f}s  max {max(values):.3f}s"
    )


def main() -> None:
    """Run the rotations and print the reset window and the probe's result."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resets", type=int, default=10)
    parser.add_argument("--alternates", type=int, default=4)
    parser.add_argument("--operation-delay", type=float, default=0.3)
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory(prefix="syncd-bench-rot-") as tmp,
        world(Path(tmp), args.operation_delay) as w,
    ):
        w.write_config("reset")
        seed = w.run("run", "--once")
        if seed.code != 0:
            raise SystemExit(f"seeding failed (exit {seed.code})")
        inside: list[float] = []
        outside: list[float] = []
        for _ in range(args.resets):
            since = time.time()
            result = w.run("rotate", TARGET)
            if result.code != 0:
                raise SystemExit(f"a reset rotation failed (exit {result.code})")
            events = published_events(result)
            if events:
                inside.append(float(events[-1]["window_s"]))
            outside.append(outside_window(w, since))
        w.assert_converged()

        alt = w.create_alternate_role()
        w.write_config("alternate", alternate_role=alt)
        first = w.run("run", "--once")
        if first.code != 0:
            raise SystemExit(f"the first alternate rotation failed (exit {first.code})")
        probe = probe_rotations(w, args.alternates)
        w.assert_no_leak()

    sinks = "AWS, Vault, file" if available_binaries() else "AWS, file"
    print(
        f"reset rotations: {args.resets} into {sinks}; Neon operation delay {args.operation_delay}s"
    )
    print(f"  reset window, syncd's window_s:  {summary(inside)}")
    print(f"  reset window, seen by servers:   {summary(outside)}")
    print(f"alternate rotations: {args.alternates + 1} (probe through the last {args.alternates})")
    print(
        f"  probe every 50 ms: {probe.probes} connections, "
        f"{probe.auth_failures} authentication failures, {len(probe.other_failures)} other failures"
    )


if __name__ == "__main__":
    main()
