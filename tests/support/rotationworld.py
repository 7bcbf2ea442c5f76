"""A world for rotation safety tests: Neon, PostgreSQL, PgBouncer, moto, OpenBao and files.

Why a separate module: the safety tests (tests/integration/test_rotation_safety.py) and the
benchmark (benchmarks/rotation.py) drive the same set-up, and both need to stop
syncd at exact protocol points without any test hook inside syncd:

* :class:`AwsKillProxy` is a forwarding HTTP proxy in front of moto's server.
  It records every Secrets Manager call (action, stage arguments, time; never
  the value) and, when armed, SIGKILLs a process right after answering a
  matching call, or instead of forwarding it.
* :class:`~syncd.testing.neon.FakeNeon`'s ``on_request`` does the same for the
  Neon API (see :meth:`RotationWorld.kill_on_neon`).
* :class:`PasswordSetter` lets a reset's operation finish without really
  changing the password, so the new credential fails its proof.

syncd runs as real processes (``python -m syncd``); :meth:`RotationWorld.start`
keeps the :class:`subprocess.Popen` so its PID is known.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import sql

from syncd.testing.casedev import SeenRequest
from syncd.testing.neon import FakeNeon, alter_role_password
from tests.conftest import CliResult, connects
from tests.support.configs import ConfigBuilder, binding
from tests.support.servers.moto import MotoServer
from tests.support.servers.pgbouncer import PgBouncer
from tests.support.servers.postgres import BranchCredentials, PostgresServer, random_password

PROJECT = "rot"
BRANCH = "main"
TARGET = "billing"
AWS_SECRET = "rot/billing"
FILE_SECRET = "billing.json"
_STAGE_KEYS = ("VersionStage", "VersionStages", "MoveToVersionId", "RemoveFromVersionId")


# -- killing at protocol points ------------------------------------------------------


@dataclass(frozen=True)
class AwsCall:
    """One Secrets Manager call seen by the proxy (no secret value is kept)."""

    action: str
    args: dict[str, Any]
    at: float  # time.time() when the answer went back (or the call was dropped)


Matcher = Callable[[AwsCall], bool]


class _QuietServer(ThreadingHTTPServer):
    """Killed clients reset their connections: expected here, so not printed."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class AwsKillProxy:
    """A forwarding proxy for moto that can SIGKILL a process at a chosen call.

    ``arm(match, pid)`` kills ``pid`` right after the first matching call has
    been answered; with ``before=True`` the call is not forwarded at all and
    the process dies waiting for it. Either way the kill fires once.
    """

    def __init__(self, upstream: str) -> None:
        split = urlsplit(upstream)
        self._upstream = (split.hostname or "127.0.0.1", split.port or 80)
        self.calls: list[AwsCall] = []
        self.killed = threading.Event()
        self._armed: tuple[Matcher, int, bool] | None = None
        self._hold: tuple[Matcher, float, threading.Event] | None = None
        self._lock = threading.Lock()
        self._httpd = _QuietServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.endpoint_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def arm(self, match: Matcher, pid: int, *, before: bool = False) -> None:
        """Kill ``pid`` at the first call ``match`` accepts (after answering it, or before)."""
        with self._lock:
            self.killed.clear()
            self._armed = (match, pid, before)

    def disarm(self) -> None:
        """Forget the armed kill, if it has not fired."""
        with self._lock:
            self._armed = None
            self._hold = None

    def hold(self, match: Matcher, seconds: float) -> threading.Event:
        """Hold back the answer to the first call ``match`` accepts for ``seconds``.

        The returned event is set when that call has arrived: the caller then
        knows the process is paused right there.
        """
        arrived = threading.Event()
        with self._lock:
            self._hold = (match, seconds, arrived)
        return arrived

    def _held(self, call: AwsCall) -> None:
        with self._lock:
            hold = self._hold
            if hold is None or not hold[0](call):
                return
            self._hold = None
        hold[2].set()
        time.sleep(hold[1])

    def close(self) -> None:
        """Stop serving."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def _take(self, call: AwsCall) -> tuple[int, bool] | None:
        with self._lock:
            if self._armed is None or not self._armed[0](call):
                return None
            _, pid, before = self._armed
            self._armed = None
            return pid, before

    def _fire(self, pid: int) -> None:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        self.killed.set()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                self._forward()

            def do_GET(self) -> None:
                self._forward()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
                return

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                action = (self.headers.get("X-Amz-Target") or "").rpartition(".")[2]
                try:
                    parsed = json.loads(body) if body else {}
                except ValueError:
                    parsed = {}
                args = {k: parsed[k] for k in _STAGE_KEYS if k in parsed}
                if isinstance(parsed.get("Tags"), list):  # the keys only, never a value
                    args["TagKeys"] = [t.get("Key") for t in parsed["Tags"] if isinstance(t, dict)]
                probe = AwsCall(action, args, time.time())
                fire = proxy._take(probe)
                if fire is not None and fire[1]:
                    proxy.calls.append(probe)
                    proxy._fire(fire[0])
                    self.close_connection = True
                    return
                status, headers, answer = self._upstream(body)
                proxy._held(probe)
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                self.wfile.flush()
                proxy.calls.append(AwsCall(action, args, time.time()))
                if fire is not None:
                    proxy._fire(fire[0])

            def _upstream(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
                conn = http.client.HTTPConnection(*proxy._upstream, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                    conn.request(self.command, self.path, body=body, headers=headers)
                    response = conn.getresponse()
                    return response.status, response.getheaders(), response.read()
                finally:
                    conn.close()

        return Handler


def staged(call: AwsCall) -> bool:
    """PutSecretValue that labels the new version AWSPENDING."""
    return call.action == "PutSecretValue" and "AWSPENDING" in (
        call.args.get("VersionStages") or []
    )


def lease_taken(call: AwsCall) -> bool:
    """The move of the lease label: the compare-and-set that takes the rotation lease."""
    return (
        call.action == "UpdateSecretVersionStage"
        and call.args.get("VersionStage") == "SYNCD_LEASE"
        and bool(call.args.get("MoveToVersionId"))
    )


def lease_released(call: AwsCall) -> bool:
    """The removal of the lease label: the holder releasing the lease."""
    return (
        call.action == "UpdateSecretVersionStage"
        and call.args.get("VersionStage") == "SYNCD_LEASE"
        and not call.args.get("MoveToVersionId")
    )


def lease_call(call: AwsCall) -> bool:
    """A call that only the rotation lease makes (writes; its DescribeSecret reads look alike)."""
    if call.action == "UpdateSecretVersionStage":
        return call.args.get("VersionStage") == "SYNCD_LEASE"
    if call.action == "PutSecretValue":
        return "SYNCD_LEASE_NEXT" in (call.args.get("VersionStages") or [])
    return call.action == "TagResource" and call.args.get("TagKeys") == ["syncd:lease"]


def promoting(call: AwsCall) -> bool:
    """UpdateSecretVersionStage that moves AWSCURRENT."""
    return (
        call.action == "UpdateSecretVersionStage"
        and call.args.get("VersionStage") == "AWSCURRENT"
        and bool(call.args.get("MoveToVersionId"))
    )


class PasswordSetter:
    """``set_password`` for FakeNeon that can skip the next changes (proofs then fail)."""

    def __init__(self, admin_dsn: str) -> None:
        self._set = alter_role_password(admin_dsn)
        self.skip = 0

    def __call__(self, role: str, password: str) -> None:
        if self.skip > 0:
            self.skip -= 1
            return
        self._set(role, password)


# -- processes ---------------------------------------------------------------------------


@dataclass
class Running:
    """A syncd process started with Popen, its output going to files."""

    proc: subprocess.Popen[bytes]
    out: Path
    err: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait(self, timeout: float = 120) -> CliResult:
        """Wait for the process and return what it did (code -9 when it was SIGKILLed)."""
        code = self.proc.wait(timeout=timeout)
        return CliResult(
            code,
            self.out.read_text(errors="replace"),
            self.err.read_text(errors="replace"),
        )


# -- the world ---------------------------------------------------------------------------


def password_of(uri: str) -> str:
    """The password in a ``postgresql://`` URI."""
    return unquote(urlsplit(uri).password or "")


def user_of(uri: str) -> str:
    """The user name in a ``postgresql://`` URI."""
    return unquote(urlsplit(uri).username or "")


@dataclass
class RotationWorld:
    """Everything one rotation scenario needs, with readers for every sink."""

    tmp: Path
    api: FakeNeon
    base_url: str
    setter: PasswordSetter
    postgres: PostgresServer
    proxy: AwsKillProxy
    sm: Any
    creds: BranchCredentials
    alt_role: str
    vault_addr: str | None = None
    vault_root: Any = None
    vault_token: str | None = None
    vault_secret: str = field(default_factory=lambda: f"syncd/rot/{secrets.token_hex(4)}")
    alt_password: str | None = field(default=None, repr=False)
    outputs: list[CliResult] = field(default_factory=list)
    #: Environment of the syncd processes on top of :meth:`env`'s (e.g. a PYTHONPATH).
    extra_env: dict[str, str] = field(default_factory=dict)

    # -- config and processes

    @property
    def config(self) -> Path:
        return self.tmp / "syncd.yaml"

    @property
    def out_dir(self) -> Path:
        return self.tmp / "out"

    def write_config(
        self,
        mode: str = "reset",
        *,
        level: str = "info",
        vendor_debug: bool = False,
        alternate_role: str | None = None,
        vault: bool = True,
        instance: str | None = None,
    ) -> Path:
        """Write syncd.yaml: one pooled neon target into AWS (first), Vault and a file."""
        builder = ConfigBuilder(self.tmp, log_level=None).provider(
            "neon", "neon", base_url=self.base_url
        )
        builder.aws_sink().file_sink("files", directory=self.out_dir)
        bindings = [binding("aws", AWS_SECRET)]
        if vault and self.vault_addr:
            builder.sink("vault", "vault", url=self.vault_addr, auth={"method": "token"})
            bindings.append(binding("vault", self.vault_secret))
        bindings.append(binding("files", FILE_SECRET))
        rotation: dict[str, Any] = {"mode": mode, "every": "30d"}
        if alternate_role:
            rotation["alternate_role"] = alternate_role
        log: dict[str, Any] = {"level": level, "format": "json"}
        if vendor_debug:
            log["vendor_debug"] = True
        builder.set(log=log).target(
            TARGET,
            bindings,
            provider="neon",
            project=PROJECT,
            branch=BRANCH,
            database=self.creds.database,
            role=self.creds.role,
            pooled=True,
            rotation=rotation,
        )
        if instance:
            builder.set(instance=instance)
        return builder.write(self.config.name)

    def env(self) -> dict[str, str]:
        """The environment of a syncd process: keys for Neon and Vault, AWS via the proxy."""
        env = {
            **os.environ,
            "NEON_API_KEY": self.api.api_key,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": self.proxy.endpoint_url,
        }
        if self.vault_token:
            env["VAULT_TOKEN"] = self.vault_token
        return {**env, **self.extra_env}

    def start(self, *args: str) -> Running:
        """Start ``python -m syncd ARGS --config <world>`` in the background."""
        handle, out = tempfile.mkstemp(prefix="syncd-out-", dir=self.tmp)
        os.close(handle)
        handle, err = tempfile.mkstemp(prefix="syncd-err-", dir=self.tmp)
        os.close(handle)
        with Path(out).open("wb") as stdout, Path(err).open("wb") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-m", "syncd", *self._with_config(args)],
                stdout=stdout,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
                env=self.env(),
            )
        return Running(proc, Path(out), Path(err))

    def run(self, *args: str, timeout: float = 120) -> CliResult:
        """Run syncd to completion; its output is kept for the canary check."""
        result = self.start(*args).wait(timeout)
        self.outputs.append(result)
        return result

    def _with_config(self, args: tuple[str, ...]) -> list[str]:
        # `syncd rotate [--config P] TARGET...`, `syncd run --once [--config P]`
        if args and args[0] == "run":
            return [*args, "--config", str(self.config)]
        return [args[0], "--config", str(self.config), *args[1:]]

    # -- killing

    def kill_on_neon(self, match: Callable[[SeenRequest], bool], pid: int) -> threading.Event:
        """SIGKILL ``pid`` once FakeNeon has decided its answer to the first matching request."""
        fired = threading.Event()

        def hook(request: SeenRequest) -> None:
            if not fired.is_set() and match(request):
                fired.set()
                self.api.on_request = None
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

        self.api.on_request = hook
        return fired

    # -- the truth and the sinks

    def resets(self) -> int:
        """Password resets Neon carried out (answered with a new password) so far."""
        return len(self.api.operations())

    def age_marks(self) -> None:
        """Move every sink's rotation mark into the past, so the target is due again."""
        old = "2020-01-01T00:00:00Z"
        self.sm.tag_resource(SecretId=AWS_SECRET, Tags=[{"Key": "syncd:rotated-at", "Value": old}])
        sidecar = self.out_dir / f".{FILE_SECRET}.syncd.json"
        sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "rotated_at": old}))
        if self.vault_addr:
            meta = self.vault_root.secrets.kv.v2.read_secret_metadata(
                path=self.vault_secret, mount_point="secret"
            )["data"]
            custom = {**(meta.get("custom_metadata") or {}), "syncd-rotated-at": old}
            self.vault_root.adapter.post(
                f"/v1/secret/metadata/{self.vault_secret}", json={"custom_metadata": custom}
            )

    def neon_password(self, role: str | None = None) -> str:
        """The password Neon publishes now for ``role`` (default: the target's role)."""
        return self.api.password(PROJECT, BRANCH, role or self.creds.role)

    def aws_uri(self, client: Any = None) -> str:
        """The AWSCURRENT value's URI, read as a consumer reads it."""
        value = (client or self.sm).get_secret_value(SecretId=AWS_SECRET, VersionStage="AWSCURRENT")
        return str(json.loads(value["SecretString"])["uri"])

    def file_uri(self) -> str:
        """The file sink's URI."""
        return str(json.loads((self.out_dir / FILE_SECRET).read_text())["uri"])

    def vault_uri(self) -> str:
        """The Vault sink's current URI."""
        data = self.vault_root.secrets.kv.v2.read_secret_version(
            path=self.vault_secret, mount_point="secret", raise_on_deleted_version=True
        )["data"]["data"]
        return str(data["uri"])

    def published(self) -> dict[str, str]:
        """The URI each sink holds now, by sink name."""
        uris = {"aws": self.aws_uri(), "files": self.file_uri()}
        if self.vault_addr:
            uris["vault"] = self.vault_uri()
        return uris

    def stray_pending(self) -> list[str]:
        """AWS version ids labelled AWSPENDING that are not AWSCURRENT."""
        versions = self.sm.list_secret_version_ids(SecretId=AWS_SECRET, IncludeDeprecated=True)
        return [
            v["VersionId"]
            for v in versions["Versions"]
            if "AWSPENDING" in v.get("VersionStages", [])
            and "AWSCURRENT" not in v.get("VersionStages", [])
        ]

    def marks(self) -> dict[str, str | None]:
        """The rotation time each sink records (None where none is recorded)."""
        tags = {t["Key"]: t["Value"] for t in self.sm.describe_secret(SecretId=AWS_SECRET)["Tags"]}
        sidecar = json.loads((self.out_dir / f".{FILE_SECRET}.syncd.json").read_text())
        marks: dict[str, str | None] = {
            "aws": tags.get("syncd:rotated-at"),
            "files": sidecar.get("rotated_at"),
        }
        if self.vault_addr:
            meta = self.vault_root.secrets.kv.v2.read_secret_metadata(
                path=self.vault_secret, mount_point="secret"
            )["data"]
            marks["vault"] = (meta.get("custom_metadata") or {}).get("syncd-rotated-at")
        return marks

    def assert_converged(self, role: str | None = None) -> None:
        """Every sink holds Neon's current credential for ``role``, it connects, no stray stage."""
        assert self.api.settled(), "a Neon operation never finished"
        role = role or self.creds.role
        current = self.neon_password(role)
        for sink, uri in self.published().items():
            assert user_of(uri) == role, f"{sink} publishes role {user_of(uri)}, not {role}"
            assert password_of(uri) == current, f"{sink} does not hold Neon's current password"
            assert connects(uri) == role, f"{sink}'s credential does not connect"
        assert self.stray_pending() == [], "AWSPENDING left on a version other than AWSCURRENT"
        missing = [sink for sink, mark in self.marks().items() if not mark]
        assert missing == [], f"rotation mark lost in {missing}"

    # -- the canary

    def passwords(self) -> list[str]:
        """Every password the role(s) ever had: the initial ones and each reset's."""
        seen = {self.creds.password, self.api.api_key}
        for op in self.api.operations():
            seen.update(p for p in (op.password, op.previous) if p)
        if self.alt_password:
            seen.add(self.alt_password)
        return sorted(seen)

    def assert_no_leak(self, *extra: CliResult) -> None:
        """No password (old or new) nor the API key appears in any output of this world."""
        markers = self.passwords()
        for result in (*self.outputs, *extra):
            for marker in markers:
                assert marker not in result.output, f"credential leaked: {marker[:3]}..."

    # -- alternate mode

    def create_alternate_role(self, name: str | None = None) -> str:
        """Create the second role with the owner's grants, in PostgreSQL and at Neon."""
        role = name or self.alt_role
        password = random_password()
        with self.postgres.admin_connect() as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(
                    sql.Identifier(role), sql.Literal(password), sql.Identifier(self.creds.role)
                )
            )
        self.api.add_role(PROJECT, BRANCH, role, password)
        self.alt_password = password
        return role


# -- measuring -----------------------------------------------------------------------------


def published_events(result: CliResult) -> list[dict[str, Any]]:
    """The `rotation_published` log events a run emitted."""
    events = []
    for line in result.output.splitlines():
        if '"rotation_published"' not in line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "rotation_published":
            events.append(event)
    return events


def outside_window(world: RotationWorld, since: float) -> float:
    """Seconds from the reset Neon received to the last sink's new version, seen by the servers."""
    resets = [
        r.at
        for r in world.api.requests
        if r.method == "POST" and r.path.endswith("/reset_password") and r.at >= since
    ]
    promoted = [c.at for c in world.proxy.calls if promoting(c) and c.at >= since]
    written = [*promoted, (world.out_dir / FILE_SECRET).stat().st_mtime]
    if world.vault_addr:
        meta = world.vault_root.secrets.kv.v2.read_secret_metadata(
            path=world.vault_secret, mount_point="secret"
        )["data"]
        created = meta["versions"][str(meta["current_version"])]["created_time"]
        written.append(datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp())
    return max(written) - resets[-1]


class Probe:
    """Reconnects with each sink's published credential every ``interval`` seconds.

    One thread per sink, so a slow connect to one does not thin out the other's
    probes. Counts connections, authentication failures (a dead password) and
    any other failure, and the roles seen in turn.
    """

    def __init__(self, readers: dict[str, Callable[[], str]], interval: float = 0.05) -> None:
        self.interval = interval
        self.probes = 0
        self.auth_failures = 0
        self.other_failures: list[str] = []
        self.roles: list[str] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, args=(sink, read), daemon=True)
            for sink, read in readers.items()
        ]

    def start(self) -> None:
        """Start probing."""
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop probing and wait for the threads."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _loop(self, sink: str, read: Callable[[], str]) -> None:
        while not self._stopping.is_set():
            self._probe(sink, read)
            self._stopping.wait(self.interval)

    def _probe(self, sink: str, read: Callable[[], str]) -> None:
        try:
            uri = read()
        except Exception as exc:
            self._record(failure=f"{sink} read: {type(exc).__name__}")
            return
        try:
            role = connects(uri)
        except psycopg.OperationalError as exc:
            if "authentication failed" in str(exc):
                self._record(auth_failed=True)
            else:
                self._record(failure=f"{sink} connect: {type(exc).__name__}")
            return
        self._record(role=role)

    def _record(
        self, *, role: str | None = None, auth_failed: bool = False, failure: str | None = None
    ) -> None:
        with self._lock:
            self.probes += 1
            self.auth_failures += auth_failed
            if failure:
                self.other_failures.append(failure)
            if role and (not self.roles or self.roles[-1] != role):
                self.roles.append(role)


def probe_rotations(world: RotationWorld, rotations: int) -> Probe:
    """Run `syncd rotate` ``rotations`` times while a :class:`Probe` reads the file and AWS sinks."""
    import boto3

    client = boto3.client(
        "secretsmanager",
        endpoint_url=world.sm.meta.endpoint_url,
        region_name=world.sm.meta.region_name,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    probe = Probe({"files": world.file_uri, "aws": lambda: world.aws_uri(client)})
    probe.start()
    try:
        for _ in range(rotations):
            result = world.run("rotate", TARGET)
            assert result.code == 0, result.output
            time.sleep(0.3)  # let the probe see the newly published credential
    finally:
        probe.stop()
        client.close()
    return probe


@contextmanager
def rotation_world(
    tmp: Path,
    postgres: PostgresServer,
    pgbouncer: PgBouncer,
    moto: MotoServer,
    *,
    vault_addr: str | None = None,
    vault_root: Any = None,
    vault_token: str | None = None,
    operation_delay: float = 0.3,
) -> Iterator[RotationWorld]:
    """A fresh Neon branch with a real role and database, served with the proxy in front of moto."""
    import boto3

    setter = PasswordSetter(postgres.admin_dsn)
    api = FakeNeon(
        f"napi_{secrets.token_urlsafe(24)}",
        set_password=setter,
        direct=(postgres.host, postgres.port),
        pooled=(pgbouncer.host, pgbouncer.port),
        operation_delay=operation_delay,
    )
    creds = postgres.create_branch(PROJECT, BRANCH)
    api.add_branch(PROJECT, BRANCH, databases=[creds.database], roles={creds.role: creds.password})
    proxy = AwsKillProxy(moto.endpoint_url)
    sm = boto3.client("secretsmanager", **moto.client_kwargs())
    try:
        with api.serve() as server:
            yield RotationWorld(
                tmp=tmp,
                api=api,
                base_url=server.base_url + "/api/v2",
                setter=setter,
                postgres=postgres,
                proxy=proxy,
                sm=sm,
                creds=creds,
                alt_role=f"{creds.role[: -len('_owner')]}_alt",
                vault_addr=vault_addr,
                vault_root=vault_root,
                vault_token=vault_token,
            )
    finally:
        proxy.close()
        sm.close()
