"""Does Python's runtime stack survive the seccomp sandbox the systemd units ask for?

``systemd-analyze`` only reads unit files; it cannot tell whether CPython,
boto3, hvac, httpx, pydantic-core and friends work under
``MemoryDenyWriteExecute=yes``, ``SystemCallFilter=@system-service
~@privileged @resources`` and ``RestrictAddressFamilies=AF_UNIX AF_INET
AF_INET6``. Without systemd as PID 1 we cannot start the unit, so these tests
rebuild the same three seccomp filters the way systemd 252 does
(``src/shared/seccomp-util.c``) with libseccomp through ctypes, load them in a
child process, ``execve`` a fresh interpreter (as systemd would) and run
three workloads: one shaped like the daemon (imports, a metrics listener, HTTP
over TCP, DNS, threads, APScheduler, TLS contexts, sd_notify over AF_UNIX),
``syncd demo``, which syncs real targets against local servers, and a
rotation's proof (``syncd.core.connect.prove``: psycopg's bundled libpq logging in
to the local PostgreSQL over TLS).

The syscall lists come from ``systemd-analyze syscall-filter`` on this
machine, so they match the systemd that will run the unit. The workload also
checks that each filter really bites (W+X mmap, AF_NETLINK and setuid are
refused), so a filter that silently failed to load cannot pass.

Not reproduced: the mount, user and /proc namespaces (ProtectSystem=,
PrivateUsers=, ProcSubset=); syncd reads nothing they hide.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.servers.postgres import PostgresServer

REPO = Path(__file__).resolve().parents[2]
UNITS = ["syncd.service", "syncd-once.service"]

pytestmark = pytest.mark.e2e


def _unit_settings(unit: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for raw in (REPO / "systemd" / unit).read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def _expand(analyze: str, group: str, seen: set[str] | None = None) -> set[str]:
    """Syscall names in a systemd syscall group, nested groups resolved."""
    seen = set() if seen is None else seen
    if group in seen:
        return set()
    seen.add(group)
    out = subprocess.run(
        [analyze, "syscall-filter", "--no-pager", group],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    names: set[str] = set()
    for raw in out.splitlines()[1:]:
        name = raw.strip()
        if not name or name.startswith("#"):
            continue
        names |= _expand(analyze, name, seen) if name.startswith("@") else {name}
    return names


def _allowed_syscalls(analyze: str, filters: list[str]) -> list[str]:
    """Apply SystemCallFilter= lines in order: first an allow list, then ~ removals."""
    allowed: set[str] = set()
    for index, value in enumerate(filters):
        deny = value.startswith("~")
        groups = value.removeprefix("~").split()
        names = set().union(*(_expand(analyze, g) if g.startswith("@") else {g} for g in groups))
        assert index > 0 or not deny, "the first SystemCallFilter= line must be an allow list"
        allowed = allowed - names if deny else allowed | names
    return sorted(allowed)


# The child applies the filters, then execs the workload in a fresh interpreter.
_LOADER = textwrap.dedent(
    """
    import ctypes, json, os, sys

    spec = json.loads(sys.argv[1])
    lib = ctypes.CDLL(spec["libseccomp"], use_errno=True)

    class ArgCmp(ctypes.Structure):
        _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                    ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]

    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(ArgCmp)]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]

    ALLOW = 0x7FFF0000
    def errno_action(code):
        return 0x00050000 | code

    def load(default, rules):
        ctx = lib.seccomp_init(default)
        assert ctx, "seccomp_init failed"
        for name, action, cmps in rules:
            nr = lib.seccomp_syscall_resolve_name(name.encode())
            if nr < 0:
                continue  # not a syscall on this architecture
            array = (ArgCmp * max(len(cmps), 1))(*[ArgCmp(*c) for c in cmps])
            rc = lib.seccomp_rule_add_array(ctx, action, nr, len(cmps), array)
            assert rc == 0, (name, rc)
        rc = lib.seccomp_load(ctx)
        assert rc == 0, ("seccomp_load", rc)
        lib.seccomp_release(ctx)

    for f in spec["filters"]:
        load(f["default"], [(r[0], r[1], [tuple(c) for c in r[2]]) for r in f["rules"]])
    os.execv(sys.executable, [sys.executable, "-c", spec["workload"]])
    """
)

_WORKLOAD = textwrap.dedent(
    """
    import ctypes, errno, mmap, os, signal, socket, ssl, tempfile, threading
    from concurrent.futures import ThreadPoolExecutor

    import apscheduler.schedulers.background
    import boto3, hvac, httpx, pydantic, pydantic_settings, structlog, yaml
    import prometheus_client

    from syncd.daemon.sdnotify import Notifier

    # The filters are in force: each of these must be refused.
    try:
        mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        raise SystemExit("W+X mapping was allowed: MemoryDenyWriteExecute filter missing")
    except PermissionError:
        pass
    try:
        socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
        raise SystemExit("AF_NETLINK was allowed: RestrictAddressFamilies filter missing")
    except OSError as exc:
        assert exc.errno == errno.EAFNOSUPPORT, exc
    try:
        os.setuid(os.getuid())
        raise SystemExit("setuid was allowed: ~@privileged filter missing")
    except PermissionError:
        pass

    signal.signal(signal.SIGHUP, lambda *_: None)
    signal.signal(signal.SIGTERM, lambda *_: None)

    # ctypes callbacks go through libffi trampolines: must not need W+X pages.
    callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(lambda x: x + 1)
    assert callback(41) == 42

    class Model(pydantic.BaseModel):
        name: str
        interval: int
    assert Model.model_validate({"name": "a", "interval": "15"}).interval == 15
    assert yaml.load("a: [1, 2]", Loader=yaml.CSafeLoader) == {"a": [1, 2]}
    structlog.get_logger().info("sandbox_probe", ok=True)

    # DNS without netlink; AI_ADDRCONFIG is the one resolver path that tries it.
    assert socket.getaddrinfo("localhost", 443, type=socket.SOCK_STREAM)
    assert socket.getaddrinfo("localhost", 443, flags=socket.AI_ADDRCONFIG) is not None

    ssl.create_default_context().load_default_certs()
    boto3.session.Session().client("secretsmanager", region_name="us-east-1")
    hvac.Client(url="https://vault.example.com:8200")

    # A metrics listener, scraped over TCP by httpx, as the daemon does.
    server, thread = prometheus_client.start_http_server(0, addr="127.0.0.1")
    port = server.server_port
    with httpx.Client() as client:
        response = client.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert response.status_code == 200, response.status_code
    server.shutdown()

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert sorted(pool.map(lambda n: n * n, range(8)))[-1] == 49

    done = threading.Event()
    scheduler = apscheduler.schedulers.background.BackgroundScheduler()
    scheduler.add_job(done.set, max_instances=1, coalesce=True)
    scheduler.start()
    assert done.wait(10), "APScheduler job did not run"
    scheduler.shutdown()

    # sd_notify over an AF_UNIX datagram socket.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "notify")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(path)
            assert Notifier({"NOTIFY_SOCKET": path}).ready()
            assert sock.recv(64) == b"READY=1\\n"

    print("sandbox-ok")
    """
)


def _filters(analyze: str, unit: str) -> list[dict[str, object]]:
    settings = _unit_settings(unit)
    eperm = 0x00050000 | errno.EPERM
    assert settings["SystemCallErrorNumber"] == ["EPERM"]
    syscall_filter = {
        "default": eperm,
        "rules": [
            [name, 0x7FFF0000, []]
            for name in _allowed_syscalls(analyze, settings["SystemCallFilter"])
        ],
    }

    # RestrictAddressFamilies= as an allow list: refuse families below the
    # lowest, above the highest and every gap in between, like systemd.
    families = sorted(
        {"AF_UNIX": 1, "AF_INET": 2, "AF_INET6": 10}[name]
        for name in settings["RestrictAddressFamilies"][0].split()
    )
    eafnosupport = 0x00050000 | errno.EAFNOSUPPORT
    lt, eq, gt, masked_eq = 2, 4, 6, 7
    family_rules: list[list[object]] = [
        ["socket", eafnosupport, [[0, lt, families[0], 0]]],
        ["socket", eafnosupport, [[0, gt, families[-1], 0]]],
    ]
    family_rules += [
        ["socket", eafnosupport, [[0, eq, family, 0]]]
        for family in range(families[0], families[-1])
        if family not in families
    ]

    assert settings["MemoryDenyWriteExecute"] == ["yes"]
    prot_write, prot_exec, shm_exec = 0x2, 0x4, 0o100000
    mdwe_rules = [
        ["mmap", eperm, [[2, masked_eq, prot_write | prot_exec, prot_write | prot_exec]]],
        ["mprotect", eperm, [[2, masked_eq, prot_exec, prot_exec]]],
        ["pkey_mprotect", eperm, [[2, masked_eq, prot_exec, prot_exec]]],
        ["shmat", eperm, [[2, masked_eq, shm_exec, shm_exec]]],
    ]
    # The syscall allow list goes last, as in systemd: it forbids seccomp() itself.
    return [
        {"default": 0x7FFF0000, "rules": family_rules},
        {"default": 0x7FFF0000, "rules": mdwe_rules},
        syscall_filter,
    ]


def _run_sandboxed(unit: str, workload: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    if sys.platform != "linux":
        pytest.skip("seccomp is Linux-only")
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (CI installs systemd via apt)")
    libseccomp = ctypes.util.find_library("seccomp")
    if libseccomp is None:
        pytest.skip("libseccomp is not installed (it comes with systemd)")
    spec = {"libseccomp": libseccomp, "filters": _filters(analyze, unit), "workload": workload}
    return subprocess.run(
        [sys.executable, "-c", _LOADER, json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={"PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"},
        check=False,
    )


@pytest.mark.parametrize("unit", UNITS)
def test_runtime_stack_works_inside_the_units_seccomp_sandbox(unit: str, tmp_path: Path) -> None:
    """syncd's dependencies run under the unit's syscall, address-family and W^X filters."""
    result = _run_sandboxed(unit, _WORKLOAD, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "sandbox-ok"
    assert re.search(r"sandbox_probe", result.stdout + result.stderr)


@pytest.mark.parametrize("unit", UNITS)
def test_syncd_demo_runs_inside_the_units_seccomp_sandbox(unit: str, tmp_path: Path) -> None:
    """`syncd demo` (engine, HTTP provider, file and AWS sinks) completes under the unit's filters."""
    pytest.importorskip("moto", reason="the demo needs moto (the test or demo extra)")
    workload = "import sys\nfrom syncd.cli import main\nsys.exit(main(['demo']))\n"
    result = _run_sandboxed(unit, workload, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "demo finished: all cycles behaved as expected" in result.stdout


@pytest.mark.parametrize("unit", UNITS)
def test_rotation_proof_connects_inside_the_units_seccomp_sandbox(
    unit: str, tmp_path: Path, postgres: PostgresServer
) -> None:
    """A rotation's proof (psycopg's bundled libpq: TLS, SCRAM with channel binding) runs under the unit's filters."""
    pytest.importorskip("psycopg", reason="the proof needs psycopg (the rotation or test extra)")
    creds = postgres.create_branch("sandbox-proj", "main")
    # A throwaway role of the test cluster: its password may sit in the workload's text.
    workload = textwrap.dedent(
        f"""
        from pydantic import SecretStr
        from syncd.core.connect import prove
        from syncd.core.models import ConnectionInfo

        prove(ConnectionInfo(
            host={postgres.host!r}, port={postgres.port}, username={creds.role!r},
            password=SecretStr({creds.password!r}), dbname={creds.database!r},
            project="sandbox-proj", branch="main", pooled=False,
            params=(("sslmode", "require"), ("channel_binding", "require")),
        ))
        print("proof-ok")
        """
    )
    result = _run_sandboxed(unit, workload, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "proof-ok"
