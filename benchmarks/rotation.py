"""The reset window and the alternate probe, measured against the local stand-ins.

Starts the real servers the end-to-end tests use (PostgreSQL, PgBouncer, moto's
server, OpenBao when ``bao`` or ``vault`` is on PATH) and the Neon-compatible
API in front of them, then runs ``syncd rotate`` as real processes:

* N ``reset`` rotations, each into AWS Secrets Manager, Vault and a file. The
  reset window (reset -> last sink promoted) is read from syncd's
  ``rotation_published`` event (``window_s``) and, from the outside, from the
  times the servers saw the reset and the last sink write;
* K rounds of two overlapping ``syncd rotate`` runs (random offsets): the
  resets Neon carried out per round (one, if the lease works), the reset
  window of the run that reset, and the API calls the rotation lease adds
  (counted at the proxy in front of moto: the lease lives in AWS, the
  target's first sink);
* M ``alternate`` rotations while a probe reconnects through PgBouncer with
  the credential the file and AWS sinks publish, every 50 ms, counting
  authentication failures.

    python -m benchmarks.rotation [--resets 10] [--overlaps 5] [--alternates 4]
                                  [--operation-delay 0.3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from tests.support.rotationworld import (
    TARGET,
    RotationWorld,
    lease_call,
    outside_window,
    probe_rotations,
    published_events,
    rotation_world,
)
from tests.support.servers.moto import MotoServer
from tests.support.servers.pgbouncer import PgBouncer
from tests.support.servers.postgres import PostgresServer
from tests.support.servers.vault import VaultDevServer, available_binaries
from tests.support.vaultutil import POLICY, make_token


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


def summary_count(values: list[int]) -> str:
    """Min / median / max of a count."""
    if not values:
        return "n/a"
    return f"min {min(values)} median {statistics.median(values):g} max {max(values)}"


def single_writer(w: RotationWorld, resets: int) -> list[str]:
    """``resets`` rotations one after the other: the window and the AWS calls of each."""
    inside: list[float] = []
    outside: list[float] = []
    lease_calls: list[int] = []
    all_calls: list[int] = []
    for _ in range(resets):
        since, calls = time.time(), len(w.proxy.calls)
        result = w.run("rotate", TARGET)
        if result.code != 0:
            raise SystemExit(f"a reset rotation failed (exit {result.code})")
        inside += [float(e["window_s"]) for e in published_events(result)]
        outside.append(outside_window(w, since))
        made = w.proxy.calls[calls:]
        lease_calls.append(sum(1 for c in made if lease_call(c)))
        all_calls.append(len(made))
    w.assert_converged()
    return [
        f"  reset window, syncd's window_s:  {summary(inside)}",
        f"  reset window, seen by servers:   {summary(outside)}",
        f"  AWS calls per rotation: {summary_count(all_calls)}; of them the lease's writes: "
        f"{summary_count(lease_calls)} (plus 2 DescribeSecret reads of the lease)",
    ]


def overlapping(w: RotationWorld, rounds: int) -> list[str]:
    """``rounds`` of two ``syncd rotate`` started at random offsets: resets and window."""
    inside: list[float] = []
    outside: list[float] = []
    resets: list[int] = []
    offsets = random.Random(16)  # noqa: S311 - reproducible offsets, not a secret
    for _ in range(rounds):
        since, before = time.time(), w.resets()
        first = w.start("rotate", TARGET)
        time.sleep(offsets.uniform(0, 0.8))
        second = w.start("rotate", TARGET)
        results = [first.wait(), second.wait()]
        w.outputs += results
        if any(r.code != 0 for r in results):
            raise SystemExit(f"an overlapping rotation failed: {[r.code for r in results]}")
        resets.append(w.resets() - before)
        inside += [float(e["window_s"]) for r in results for e in published_events(r)]
        outside.append(outside_window(w, since))
    w.assert_converged()
    return [
        f"  resets Neon carried out per round: {resets}",
        f"  reset window, syncd's window_s:  {summary(inside)}",
        f"  reset window, seen by servers:   {summary(outside)}",
    ]


def main() -> None:
    """Run the rotations and print the reset window, the lease's cost and the probe's result."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resets", type=int, default=10)
    parser.add_argument("--overlaps", type=int, default=5)
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
        single = single_writer(w, args.resets)
        overlap = overlapping(w, args.overlaps)
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
    print("\n".join(single))
    print(f"two overlapping `syncd rotate`, {args.overlaps} rounds (random offsets 0-0.8 s)")
    print("\n".join(overlap))
    print(f"alternate rotations: {args.alternates + 1} (probe through the last {args.alternates})")
    print(
        f"  probe every 50 ms: {probe.probes} connections, "
        f"{probe.auth_failures} authentication failures, {len(probe.other_failures)} other failures"
    )


if __name__ == "__main__":
    main()
