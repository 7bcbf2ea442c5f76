"""syncd's systemd units under a real systemd: a Debian bookworm booted with systemd-nspawn.

The units from ``systemd/`` are installed unchanged into the container; test
drop-ins only add a file sink (``StateDirectory=``) and shorten timers. syncd
itself is this checkout, installed the way docs/deployment.md says. A
case.dev-compatible server runs on the host's loopback, which the container
shares. Everything is observed through ``systemctl``, ``journalctl`` and
``/proc`` inside the container. One test rotates a Neon role's password
through ``syncd-once.service`` against a Neon-compatible server and the local
PostgreSQL, both on that shared loopback, so the proof connects from inside
the unit's sandbox. Needs root, systemd-nspawn and mmdebstrap (``.ci/run``
installs them); see tests/support/realdeploy/.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg
import pytest

from syncd.testing.casedev import FakeCaseDev
from syncd.testing.neon import FakeNeon, alter_role_password
from tests.support.realdeploy.common import REPO, require, wait_for
from tests.support.realdeploy.debian import remove_tree
from tests.support.realdeploy.nspawn import Container, prepared_root
from tests.support.servers.ports import free_port
from tests.support.servers.postgres import PostgresServer

pytestmark = [pytest.mark.real_systemd, pytest.mark.timeout(900)]

PROJECT = "proj_real"
NEON_PROJECT = "real-proj-123456"
SECRETS = "/var/lib/private/syncd/secrets"  # where StateDirectory=syncd lands with DynamicUser
UNITS = ("syncd.service", "syncd-once.service", "syncd-once.timer")

# A file sink needs a writable directory: the drop-in the units' comments describe.
STATE_DROP_IN = "[Service]\nStateDirectory=syncd\nStateDirectoryMode=0700\n"
# Quick restarts for the tests; no core file from the watchdog's SIGABRT. The
# probe logs how the main process ended: after a stop the unit is unloaded, so
# `systemctl show` no longer knows its exit status.
FAST_RESTART = """[Service]
RestartSec=1s
TimeoutAbortSec=10s
LimitCORE=0
ExecStopPost=/bin/sh -c 'echo "test-probe: main process $$EXIT_CODE $$EXIT_STATUS"'
"""


def _config(base_url: str, metrics_port: int, *, interval: str = "1h") -> str:
    return f"""\
log: {{level: info, format: json}}
metrics: {{listen: "127.0.0.1:{metrics_port}"}}
providers:
  casedev: {{type: casedev, base_url: "{base_url}"}}
sinks:
  files: {{type: file, directory: /var/lib/syncd/secrets}}
defaults: {{format: uri, interval: {interval}, jitter: 0s}}
targets:
  - name: app
    provider: casedev
    project: {PROJECT}
    sinks: [{{sink: files, secret: app.uri}}]
"""


class System:
    """The booted container plus what the tests need to drive syncd inside it."""

    def __init__(
        self, box: Container, api: FakeCaseDev, base_url: str, metrics_port: int, neon_key: str
    ) -> None:
        self.box = box
        self.api = api
        self.neon_key = neon_key
        self.base_url = base_url
        self.metrics_port = metrics_port
        self.good_config = _config(base_url, metrics_port)

    @property
    def etc(self) -> Path:
        return self.box.root / "etc"

    def write_config(self, text: str) -> None:
        (self.etc / "syncd" / "syncd.yaml").write_text(text)

    def drop_in(self, unit: str, name: str, text: str | None) -> None:
        """Add (or with ``None`` remove) a drop-in, then daemon-reload."""
        path = self.etc / "systemd" / "system" / f"{unit}.d" / f"{name}.conf"
        if text is None:
            path.unlink(missing_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        self.systemctl("daemon-reload")

    def systemctl(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        return self.box.exec(["systemctl", *args], check=check, timeout=timeout).stdout

    def show(self, unit: str, *props: str) -> dict[str, str]:
        out = self.systemctl("show", unit, *(f"--property={p}" for p in props))
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def cursor(self) -> str:
        out = self.box.exec(["journalctl", "--quiet", "--lines=0", "--show-cursor"], check=False).stdout
        match = re.search(r"-- cursor: (\S+)", out)
        return match.group(1) if match else ""

    def journal(self, cursor: str, *units: str) -> list[str]:
        """Journal lines (MESSAGE only) since ``cursor`` for ``units`` (all with none)."""
        args = ["journalctl", "--quiet", "--no-pager", "--output=cat"]
        if cursor:
            args.append(f"--after-cursor={cursor}")
        args += [f"--unit={u}" for u in units]
        return self.box.exec(args, check=False).stdout.splitlines()

    def events(self, cursor: str, unit: str = "syncd.service") -> list[dict[str, object]]:
        """syncd's own JSON log lines since ``cursor``."""
        found = []
        for line in self.journal(cursor, unit):
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except ValueError:
                    continue
        return found

    def wait_event(self, cursor: str, event: str, timeout: float = 60) -> dict[str, object]:
        def probe() -> dict[str, object] | None:
            return next((e for e in self.events(cursor) if e.get("event") == event), None)

        return wait_for(f"{event!r} in syncd's journal", probe, timeout=timeout)  # type: ignore[return-value]

    def start_daemon(self) -> str:
        """(Re)start syncd.service from a clean state and return its MainPID."""
        self.systemctl("stop", "syncd.service", check=False)
        self.systemctl("reset-failed", "syncd.service", check=False)
        self.write_config(self.good_config)
        self.systemctl("start", "syncd.service")
        state = self.show("syncd.service", "ActiveState", "SubState", "MainPID")
        assert (state["ActiveState"], state["SubState"]) == ("active", "running"), state
        return state["MainPID"]

    def secret(self, timeout: float = 60) -> str:
        """The target's secret file once the first sync (after READY=1) has written it."""

        def read() -> str:
            return self.box.exec(["cat", f"{SECRETS}/app.uri"], check=False).stdout

        return wait_for("the file sink's secret", read, timeout=timeout)  # type: ignore[return-value]

    def proc(self, pid: str, name: str) -> str:
        return self.box.exec(["cat", f"/proc/{pid}/{name}"]).stdout

    def status_fields(self, pid: str) -> dict[str, str]:
        return {
            k: v.strip() for k, v in (line.split(":", 1) for line in self.proc(pid, "status").splitlines())
        }


def assert_clean(lines: list[str]) -> None:
    """No traceback, and no syncd event at warning level or above."""
    assert not [line for line in lines if "Traceback" in line], lines
    bad = []
    for line in lines:
        if line.startswith("{"):
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if str(event.get("level", "")).lower() in {"warning", "error", "critical"}:
                bad.append(line)
    assert not bad, bad


@pytest.fixture(scope="module")
def system() -> Iterator[System]:
    """A booted container with syncd's units, config, API key credential and the fake API."""
    require(tools=["systemd-nspawn", "mmdebstrap", "nsenter"])
    api_key = "sk_real_" + secrets.token_hex(12)
    api = FakeCaseDev(api_key=api_key)
    api.set_branch(
        PROJECT, "main",
        direct="postgresql://app:direct-pw@db.internal:5432/app?sslmode=require",
        pooled="postgresql://app:pooled-pw@pool.internal:6432/app?sslmode=require",
    )  # fmt: skip
    scratch = Path(tempfile.mkdtemp(prefix="syncd-nspawn-", dir="/var/tmp"))
    try:
        root = prepared_root(scratch)
        units = root / "etc" / "systemd" / "system"
        for unit in UNITS:
            shutil.copy(REPO / "systemd" / unit, units / unit)
        for unit in ("syncd.service", "syncd-once.service"):
            (units / f"{unit}.d").mkdir()
            (units / f"{unit}.d" / "state.conf").write_text(STATE_DROP_IN)
        (units / "syncd.service.d" / "test.conf").write_text(FAST_RESTART)
        credstore = root / "etc" / "credstore"
        credstore.mkdir(mode=0o700)
        (credstore / "casedev_api_key").write_text(api_key)
        (credstore / "casedev_api_key").chmod(0o600)
        neon_key = "napi_real_" + secrets.token_hex(12)
        (credstore / "neon_api_key").write_text(neon_key)
        (credstore / "neon_api_key").chmod(0o600)
        (root / "etc" / "syncd").mkdir()
        with api.serve() as server:
            name = f"syncd-{secrets.token_hex(3)}"
            with Container(root, name, scratch / "nspawn.log") as box:
                sys_ = System(box, api, server.base_url, free_port(), neon_key)
                sys_.write_config(sys_.good_config)
                yield sys_
    finally:
        remove_tree(scratch)


def test_daemon_becomes_active_through_sd_notify_and_syncs(system: System) -> None:
    """syncd.service (Type=notify) reaches active (running) and writes the target's secret."""
    cursor = system.cursor()
    system.start_daemon()
    assert system.show("syncd.service", "Type")["Type"] == "notify"
    system.wait_event(cursor, "daemon_started")
    uri = system.secret()
    assert "direct-pw@db.internal" in uri
    assert_clean(system.journal(cursor, "syncd.service"))


def test_status_shows_syncds_status_line(system: System) -> None:
    """`systemctl status` shows the STATUS= text syncd sends, counting the synced target."""
    system.start_daemon()

    def status_text() -> str:
        return system.show("syncd.service", "StatusText")["StatusText"]

    text = wait_for("a STATUS= with the synced target", lambda: "1 targets ok" in status_text(), timeout=30)
    assert text
    status = system.systemctl("status", "syncd.service", "--no-pager", check=False)
    assert f'Status: "{status_text()}"' in status


def test_api_key_arrives_as_a_credential_under_a_dynamic_user(system: System) -> None:
    """LoadCredential hands the API key to the transient user, outside the environment."""
    pid = system.start_daemon()
    system.secret()
    assert system.api.requests, "syncd never called the API"
    assert all(r.authorized for r in system.api.requests), "the API key was not sent"
    uid = int(system.status_fields(pid)["Uid"].split()[0])
    assert 61184 <= uid <= 65519, uid  # systemd's DynamicUser= range
    creds = system.box.exec(["ls", "/run/credentials/syncd.service"]).stdout.split()
    assert {"casedev_api_key", "neon_api_key"} <= set(creds)
    environ = system.proc(pid, "environ")
    assert "CREDENTIALS_DIRECTORY=/run/credentials/syncd.service" in environ
    assert system.api.api_key not in environ
    assert system.neon_key not in environ


def test_sandbox_is_applied_to_the_running_daemon(system: System) -> None:
    """Seccomp, NoNewPrivs, no capabilities, a private user namespace and hidepid are in force."""
    pid = system.start_daemon()
    status = system.status_fields(pid)
    assert status["Seccomp"] == "2"  # filter mode
    assert status["NoNewPrivs"] == "1"
    for caps in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[caps], 16) == 0, (caps, status[caps])
    # PrivateUsers=yes: a user namespace mapping only root and the service's own user.
    uid_map = system.proc(pid, "uid_map").split("\n")
    assert "4294967295" not in system.proc(pid, "uid_map"), uid_map
    # ProtectProc=invisible + ProcSubset=pid: the service's /proc hides other users' processes.
    proc_mount = next(
        line for line in system.proc(pid, "mountinfo").splitlines() if line.split()[4] == "/proc"
    )
    assert "hidepid=invisible" in proc_mount or "hidepid=2" in proc_mount, proc_mount
    assert "subset=pid" in proc_mount, proc_mount
    # ProtectSystem=strict: / is read-only for it.
    root_mount = next(line for line in system.proc(pid, "mountinfo").splitlines() if line.split()[4] == "/")
    assert root_mount.split()[5].startswith("ro"), root_mount


def test_memory_limit_is_configured(system: System) -> None:
    """MemoryMax= reaches the unit; whether the kernel enforces it needs the memory controller."""
    system.start_daemon()
    assert system.show("syncd.service", "MemoryMax")["MemoryMax"] == str(512 * 1024 * 1024)
    limit = system.box.exec(
        ["cat", "/sys/fs/cgroup/memory/system.slice/syncd.service/memory.limit_in_bytes"], check=False
    )
    if limit.returncode != 0:
        pytest.skip(
            "MemoryMax= is set on the unit, but this host does not delegate the memory "
            "controller to the container (cgroup v1 hybrid), so its enforcement cannot be checked"
        )
    assert int(limit.stdout) == 512 * 1024 * 1024


def test_watchdog_spares_a_healthy_daemon_and_kills_a_stopped_one(system: System) -> None:
    """Pings keep the daemon alive past WatchdogSec; a SIGSTOPped one is killed (watchdog) and restarted."""
    system.drop_in("syncd.service", "watchdog", "[Service]\nWatchdogSec=6s\n")
    try:
        cursor = system.cursor()
        pid = system.start_daemon()
        time.sleep(14)  # more than two WatchdogSec periods
        state = system.show("syncd.service", "ActiveState", "MainPID", "NRestarts")
        assert state == {"ActiveState": "active", "MainPID": pid, "NRestarts": "0"}, state

        system.box.sh(f"kill -STOP {pid}")
        wait_for(
            "a restart after the watchdog timeout",
            lambda: system.show("syncd.service", "NRestarts")["NRestarts"] != "0",
            timeout=60,
        )
        log = "\n".join(system.journal(cursor, "syncd.service"))
        assert "Watchdog timeout" in log
        assert "Failed with result 'watchdog'" in log
        wait_for(
            "the restarted daemon to be running",
            lambda: system.show("syncd.service", "SubState")["SubState"] == "running",
            timeout=60,
        )
        assert system.show("syncd.service", "MainPID")["MainPID"] not in {pid, "0"}
    finally:
        system.drop_in("syncd.service", "watchdog", None)
        system.systemctl("stop", "syncd.service", check=False)


def test_reload_applies_a_good_config_and_keeps_the_old_on_a_broken_one(system: System) -> None:
    """`systemctl reload` re-reads the config without a restart; a broken one is refused."""
    pid = system.start_daemon()
    cursor = system.cursor()
    system.write_config(_config(system.base_url, system.metrics_port, interval="2h"))
    system.systemctl("reload", "syncd.service")
    system.wait_event(cursor, "config_reloaded")

    cursor = system.cursor()
    system.write_config("targets: [this is not: a valid config\n")
    system.systemctl("reload", "syncd.service")
    failed = system.wait_event(cursor, "config_reload_failed")
    assert failed["level"] in {"error", "warning"}
    state = system.show("syncd.service", "ActiveState", "SubState", "MainPID")
    assert state == {"ActiveState": "active", "SubState": "running", "MainPID": pid}, state
    system.write_config(system.good_config)


def test_stop_exits_zero(system: System) -> None:
    """`systemctl stop` ends syncd gracefully with exit status 0 and result success."""
    system.start_daemon()
    cursor = system.cursor()
    system.systemctl("stop", "syncd.service")
    assert system.show("syncd.service", "ActiveState")["ActiveState"] == "inactive"
    lines = system.journal(cursor, "syncd.service")
    # "exited 0", not "killed TERM" (which systemd would also count as a clean stop).
    assert "test-probe: main process exited 0" in lines, lines
    assert "syncd.service: Deactivated successfully." in lines, lines
    system.wait_event(cursor, "shutdown_complete", timeout=10)
    assert_clean(lines)


def test_config_error_exits_2_and_is_not_restarted(system: System) -> None:
    """A bad config fails the start with exit 2, one clear line, and no restart."""
    system.systemctl("stop", "syncd.service", check=False)
    system.systemctl("reset-failed", "syncd.service", check=False)
    cursor = system.cursor()
    system.write_config(system.good_config + "unknown_key: 1\n")
    try:
        system.systemctl("start", "syncd.service", check=False)
        time.sleep(3)  # RestartSec=1s in the test drop-in: a restart would have happened
        state = system.show("syncd.service", "ActiveState", "ExecMainStatus", "NRestarts", "Result")
        assert state == {
            "ActiveState": "failed",
            "ExecMainStatus": "2",
            "NRestarts": "0",
            "Result": "exit-code",
        }, state
        lines = system.journal(cursor, "syncd.service")
        assert "test-probe: main process exited 2" in lines, lines
        assert not [line for line in lines if "Traceback" in line], lines
        assert any("unknown_key" in line for line in lines), lines
    finally:
        system.write_config(system.good_config)
        system.systemctl("reset-failed", "syncd.service", check=False)


def test_timer_runs_the_once_service_and_publishes_readable_metrics(system: System) -> None:
    """syncd-once.timer starts syncd-once.service, whose syncd.prom an unprivileged user can read."""
    system.systemctl("stop", "syncd.service", check=False)
    cursor = system.cursor()
    # Fire one second after the timer starts instead of at the next quarter hour.
    system.drop_in("syncd-once.timer", "soon", "[Timer]\nOnActiveSec=1s\nRandomizedDelaySec=0\n")
    try:
        system.systemctl("start", "syncd-once.timer")
        wait_for(
            "syncd-once.service to have run",
            lambda: system.show("syncd-once.service", "ExecMainExitTimestampMonotonic")[
                "ExecMainExitTimestampMonotonic"
            ]
            != "0",
            timeout=90,
        )
        wait_for(
            "syncd-once.service to finish",
            lambda: system.show("syncd-once.service", "ActiveState")["ActiveState"] != "activating",
            timeout=90,
        )
        state = system.show("syncd-once.service", "Result", "ExecMainStatus")
        assert state == {"Result": "success", "ExecMainStatus": "0"}, state
        timer = system.show("syncd-once.timer", "ActiveState")
        assert timer["ActiveState"] == "active"
        # node_exporter runs as its own unprivileged user: "nobody" stands in for it.
        metrics = system.box.exec(["runuser", "-u", "nobody", "--", "cat", "/run/syncd/syncd.prom"])
        assert 'syncd_last_success_timestamp_seconds{' in metrics.stdout, metrics.stdout[:2000]
        assert system.api.api_key not in metrics.stdout
        assert_clean(system.journal(cursor, "syncd-once.service"))
    finally:
        system.systemctl("stop", "syncd-once.timer", check=False)
        system.drop_in("syncd-once.timer", "soon", None)


def test_once_service_started_by_hand_exits_zero_and_republishes(system: System) -> None:
    """`systemctl start syncd-once.service` runs one cycle, exits 0 and refreshes syncd.prom."""
    system.systemctl("start", "syncd-once.service", timeout=180)
    first = system.box.exec(["stat", "-c", "%Y %a %U", "/run/syncd/syncd.prom"]).stdout.split()
    assert first[1:] == ["644", "root"], first
    assert system.show("syncd-once.service", "ExecMainStatus")["ExecMainStatus"] == "0"
    assert system.box.exec(["stat", "-c", "%a", "/run/syncd"]).stdout.strip() == "755"


def test_once_service_rotates_a_neon_password_with_the_credential(
    system: System, postgres: PostgresServer
) -> None:
    """syncd-once.service resets a due Neon role with the neon_api_key credential, proves and publishes it."""
    system.systemctl("stop", "syncd.service", check=False)
    creds = postgres.create_branch(NEON_PROJECT, "main")
    api = FakeNeon(
        system.neon_key,
        set_password=alter_role_password(postgres.admin_dsn),
        direct=(postgres.host, postgres.port),
        operation_delay=0.1,
    )
    api.add_branch(NEON_PROJECT, "main", databases=[creds.database], roles={creds.role: creds.password})
    cursor = system.cursor()
    try:
        with api.serve() as server:
            system.write_config(
                f"""\
log: {{level: info, format: json}}
providers:
  neon: {{type: neon, base_url: "{server.base_url}/api/v2"}}
sinks:
  files: {{type: file, directory: /var/lib/syncd/secrets}}
targets:
  - name: billing
    provider: neon
    project: {NEON_PROJECT}
    branch: main
    database: {creds.database}
    role: {creds.role}
    rotation: {{mode: reset, every: 30d}}
    sinks: [{{sink: files, secret: billing.uri, format: uri}}]
"""
            )
            system.systemctl("start", "syncd-once.service", check=False, timeout=180)
        state = system.show("syncd-once.service", "Result", "ExecMainStatus")
        lines = system.journal(cursor, "syncd-once.service")
        assert state == {"Result": "success", "ExecMainStatus": "0"}, (state, lines[-20:])
        assert [e for e in system.events(cursor, "syncd-once.service") if e.get("event") == "rotation_published"]
        assert all(r.authorized for r in api.requests), "the neon_api_key credential was not sent"
        uri = urlsplit(system.box.exec(["cat", f"{SECRETS}/billing.uri"]).stdout.strip())
        password = unquote(uri.password or "")
        assert password and password != creds.password
        login = {"host": postgres.host, "port": postgres.port, "user": creds.role, "dbname": creds.database}
        with psycopg.connect(**login, password=password, sslmode="require", connect_timeout=5):
            pass
        assert not [line for line in lines if system.neon_key in line or password in line]
        assert_clean(lines)
    finally:
        system.write_config(system.good_config)


def test_systemd_reports_no_problem_with_the_units(system: System) -> None:
    """systemd logs no warning about parsing syncd's units, and syncd no traceback, in the whole boot."""
    warnings = system.box.exec(
        ["journalctl", "--quiet", "--no-pager", "--output=cat", "_PID=1", "--priority=warning"],
        check=False,
    ).stdout.splitlines()
    # Parse problems name the file ("/etc/systemd/system/syncd.service:12: ...");
    # failures the tests provoke on purpose name only the unit.
    assert not [line for line in warnings if "/etc/systemd/system/syncd" in line], warnings
    everything = system.journal("", "syncd.service", "syncd-once.service")
    assert everything
    assert not [line for line in everything if "Traceback" in line]
