"""Real clients connect with nothing but what syncd wrote, as the README tells users to.

``syncd run --once`` (the CLI, a real process) writes into a file sink and into
Secrets Manager (moto's server) from the case.dev stand-in, whose URIs reach
the test PostgreSQL 15 (direct) and PgBouncer (pooled), both TLS-only. Each
client then gets only what syncd wrote: an env file loaded the way systemd
(its own parser), docker (``--env-file`` rules) and python-dotenv load it (the
three must agree), or the keys of a JSON secret picked out as ECS does. The
clients: psycopg2 and SQLAlchemy (in this process), node-postgres,
postgres.js with Drizzle, Prisma 7 with ``@prisma/adapter-pg``, psql with the
``PG*`` variables only, PHP PDO and the PostgreSQL JDBC driver; direct and
pooled wherever the client has both. node-postgres (and Prisma through it)
verifies the certificate for ``sslmode=require``, so the Node clients get the
two test certificates in ``NODE_EXTRA_CA_CERTS``.

Every output, syncd's at debug level and every client's, is checked for the
database passwords and the API key, as in tests/integration/test_canary.py.

Outside CI a missing tool (node and ``npm ci`` in tests/integration/clients, php with
pdo_pgsql, java with Debian's libpostgresql-jdbc-java, psql, systemd's
environment.d generator) skips with the reason; under ``CI=true`` it fails.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from syncd.testing.casedev import FakeCaseDev
from tests.conftest import CaseDevWorld, CliResult, run_syncd
from tests.support.configs import ConfigBuilder
from tests.support.servers.moto import MotoServer
from tests.support.servers.pgbouncer import PgBouncer
from tests.support.servers.postgres import PostgresServer

pytestmark = pytest.mark.e2e

CLIENTS = Path(__file__).resolve().parent / "clients"
PGJDBC = Path("/usr/share/java/postgresql.jar")
ENVIRONMENT_D = Path("/usr/lib/systemd/user-environment-generators/30-systemd-environment-d-generator")
PROJECT = "proj_clients"
CLIENT_TIMEOUT = 90.0


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> None:
    """Skip for ``reason``, or fail under CI=true, where every client must run."""
    if in_ci():
        pytest.fail(f"CI=true but a client test cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def need(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        unavailable(f"not installed: {', '.join(missing)} (.ci/run installs them)")


def test_a_missing_client_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without CI=true a missing tool skips, naming it."""
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-such-client-xyz"):
        need("no-such-client-xyz")


def test_a_missing_client_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """With CI=true a missing tool fails the test instead of skipping it."""
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"CI=true.*no-such-client-xyz"):
        need("no-such-client-xyz")


# -- loading what syncd wrote ----------------------------------------------------


def docker_env_file(text: str) -> dict[str, str]:
    """``docker --env-file``'s rules: left-trimmed lines, '#' comments, split at the first '='."""
    values = {}
    for raw in text.splitlines():
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep and not re.search(r"\s", name), f"docker would refuse the line for {name!r}"
        values[name] = value
    return values


def systemd_env_file(path: Path, scratch: Path) -> dict[str, str]:
    """``path`` as systemd's own env-file parser reads it (the environment.d generator's)."""
    if not ENVIRONMENT_D.is_file():
        unavailable(f"systemd's {ENVIRONMENT_D.name} not found (Debian package systemd)")
    config = scratch / "environment.d"
    config.mkdir(parents=True, exist_ok=True)
    (config / "50-syncd.conf").write_text(path.read_text())
    proc = subprocess.run(
        [str(ENVIRONMENT_D)],
        env={"XDG_CONFIG_HOME": str(scratch), "HOME": str(scratch)},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    (config / "50-syncd.conf").unlink()
    names = set(docker_env_file(path.read_text()))
    values = {}
    for line in proc.stdout.splitlines():
        name, _, value = line.partition("=")
        if name not in names:
            continue  # the machine's own environment.d settings
        if len(value) >= 2 and value[0] == value[-1] == '"':  # it prints shell-quoted values
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        values[name] = value
    return values


def load_env_file(path: Path, scratch: Path) -> dict[str, str]:
    """Read an env file as systemd, docker and python-dotenv do; they must read it alike."""
    from dotenv import dotenv_values

    docker = docker_env_file(path.read_text())
    for loader, values in (
        ("python-dotenv", dict(dotenv_values(path))),
        ("systemd", systemd_env_file(path, scratch)),
    ):
        if values != docker:  # named, not shown: the values hold credentials
            differ = sorted(k for k in {*values, *docker} if values.get(k) != docker.get(k))
            pytest.fail(f"{loader} reads {path.name} differently from docker: {differ}")
    return docker


# -- the clients -------------------------------------------------------------------


@dataclass
class Outputs:
    """The credentials no output may contain, and a check of each output against them."""

    markers: list[str] = field(default_factory=list)

    def check(self, output: str) -> None:
        for marker in self.markers:
            assert marker not in output, f"credential leaked: {marker[:4]}..."
        for chunk in (c for m in self.markers for c in re.split(r"[^A-Za-z0-9]", m)):
            if len(chunk) >= 12:  # the plain runs of a password that encodings would change
                assert chunk not in output, "a credential's plain chunk leaked"


@dataclass
class Clients:
    """Runs each client as its own process, with only the variables given to it."""

    home: Path
    ca_bundle: Path
    outputs: Outputs

    def run(self, argv: list[str], env: dict[str, str], *, ca: bool = True) -> str:
        """Run ``argv`` with ``env`` (and PATH, HOME) only; return its stdout, checked for leaks."""
        full = {"PATH": os.environ["PATH"], "HOME": str(self.home), **env}
        if ca:
            full["NODE_EXTRA_CA_CERTS"] = str(self.ca_bundle)
        proc = subprocess.run(
            argv,
            env=full,
            cwd=CLIENTS,
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        self.outputs.check(proc.stdout + proc.stderr)
        assert proc.returncode == 0, f"{argv[0]} failed: {proc.stdout}{proc.stderr}"
        return proc.stdout.strip()

    def node(self, script: str, *args: str, env: dict[str, str]) -> str:
        return self.run(["node", script, *args], env)

    def prisma(self, variable: str, env: dict[str, str]) -> str:
        tsx = str(CLIENTS / "node_modules" / ".bin" / "tsx")
        return self.run([tsx, "prisma_adapter_pg.ts", variable], env)

    def psql(self, env: dict[str, str]) -> str:
        return self.run(["psql", "-X", "-w", "-A", "-t", "-c", "select current_user"], env)

    def php(self, env: dict[str, str]) -> str:
        return self.run(["php", "pdo_libpq.php"], env)

    def jdbc(self, classes: Path, env: dict[str, str]) -> str:
        classpath = f"{PGJDBC}:{classes}"
        return self.run(["java", "-cp", classpath, "SpringDataSource"], env)


@pytest.fixture(scope="session")
def node_clients(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/integration/clients installed (npm ci) and its Prisma client generated; the generated dir."""
    need("node")
    if not (CLIENTS / "node_modules" / ".bin" / "tsx").exists():
        unavailable("tests/integration/clients has no node_modules: run `npm ci` there (.ci/run does)")
    generated = CLIENTS / "generated"
    shutil.rmtree(generated, ignore_errors=True)
    proc = subprocess.run(
        [str(CLIENTS / "node_modules" / ".bin" / "prisma"), "generate"],
        cwd=CLIENTS,
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path_factory.mktemp("prisma-home")),
            # The schema engine cannot be downloaded here, and generate does not need it.
            "PRISMA_SCHEMA_ENGINE_BINARY": "/bin/true",
            "PRISMA_HIDE_UPDATE_MESSAGE": "1",
            "CHECKPOINT_DISABLE": "1",
            "DIRECT_URL": "postgresql://generate@127.0.0.1:1/none",  # read by prisma.config.ts
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return generated


@pytest.fixture(scope="session")
def java_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SpringDataSource.java compiled against Debian's PostgreSQL JDBC driver."""
    need("java", "javac")
    if not PGJDBC.is_file():
        unavailable(f"{PGJDBC} not found (Debian package libpostgresql-jdbc-java)")
    classes = tmp_path_factory.mktemp("java")
    subprocess.run(
        ["javac", "-cp", str(PGJDBC), "-d", str(classes), str(CLIENTS / "SpringDataSource.java")],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return classes


@pytest.fixture(scope="session")
def php_pdo() -> None:
    """php with the pdo_pgsql extension."""
    need("php")
    check = subprocess.run(
        ["php", "-r", "exit(extension_loaded('pdo_pgsql') ? 0 : 1);"], check=False, timeout=30
    )
    if check.returncode != 0:
        unavailable("php has no pdo_pgsql (Debian package php-pgsql)")


# -- one world for the matrix ----------------------------------------------------------


def bindings(kind: str) -> list[dict[str, Any]]:
    """What each target writes: the README's bindings, one per client."""
    files = [
        {"sink": "files", "secret": f"{kind}.env", "format": "env"},
        {"sink": "files", "secret": f"libpq-{kind}.env", "format": "env", "preset": "libpq"},
        {"sink": "files", "secret": f"spring-{kind}.env", "format": "env", "preset": "spring"},
        {"sink": "aws", "secret": f"clients/{kind}"},  # the RDS-style json
    ]
    if kind == "direct":
        files += [
            {"sink": "files", "secret": "prisma.env", "format": "env", "preset": "prisma"},
            {"sink": "aws", "secret": "clients/prisma", "format": "json", "preset": "prisma"},
            {
                "sink": "aws",
                "secret": "clients/ecs",
                "format": "json",
                "keys": {
                    "DATABASE_URL": "pooled_uri",
                    "PGHOST": "host",
                    "PGPORT": "port",
                    "PGUSER": "user",
                    "PGPASSWORD": "password",
                    "PGDATABASE": "dbname",
                    "PGSSLMODE": "sslmode",
                },
            },
        ]
    return files


def config(tmp_path: Path, base_url: str, targets: list[dict[str, Any]]) -> Path:
    return (
        ConfigBuilder(tmp_path, log_level="debug")
        .casedev(base_url, max_attempts=2)
        .file_sink("files")
        .aws_sink()
        .targets(targets)
        .write()
    )


def targets_for(project: str) -> list[dict[str, Any]]:
    return [
        {
            "name": kind,
            "provider": "casedev",
            "project": project,
            "pooled": kind == "pooled",
            "sinks": bindings(kind),
        }
        for kind in ("direct", "pooled")
    ]


@dataclass
class World:
    """A case.dev branch, a config writing every binding, and where it all went."""

    casedev: CaseDevWorld
    moto: MotoServer
    path: Path
    out: Path
    scratch: Path
    clients: Clients
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def role(self) -> str:
        return self.casedev.branches[(PROJECT, "main")].role

    def syncd(self, expect: int = 0) -> CliResult:
        """``syncd run --once``; its output must hold no credential."""
        env = {
            "CASEDEV_API_KEY": self.casedev.api.api_key,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": self.moto.region,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": self.moto.endpoint_url,
            "AWS_CONFIG_FILE": str(self.scratch / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.scratch / "none"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        result = run_syncd("run", "--once", "--config", str(self.path), env=env)
        self.clients.outputs.check(result.output)
        assert "Traceback" not in result.output
        assert result.code == expect, result.output
        return result

    def env(self, name: str) -> dict[str, str]:
        return load_env_file(self.out / name, self.scratch)

    def secret(self, name: str) -> dict[str, Any]:
        """A JSON secret's keys, read from Secrets Manager (or as read right after the run)."""
        if name in self.secrets:
            return self.secrets[name]
        import boto3

        client = boto3.client("secretsmanager", **self.moto.client_kwargs())
        try:
            value: dict[str, Any] = json.loads(client.get_secret_value(SecretId=name)["SecretString"])
        finally:
            client.close()
        return value


@contextmanager
def make_world(
    tmp: Path, postgres: PostgresServer, pgbouncer: PgBouncer, moto: MotoServer
) -> Iterator[World]:
    api = FakeCaseDev(api_key=f"cdk_{secrets.token_urlsafe(24)}")
    with api.serve() as server:
        casedev = CaseDevWorld(api, server, postgres, pgbouncer, {})
        creds = casedev.add_branch(PROJECT, "main")
        ca_bundle = tmp / "test-ca.pem"
        ca_bundle.write_text(postgres.tls.cert.read_text() + pgbouncer.tls.cert.read_text())
        home = tmp / "home"
        home.mkdir()
        clients = Clients(home, ca_bundle, Outputs([api.api_key, creds.password]))
        path = config(tmp, casedev.base_url, targets_for(PROJECT))
        yield World(casedev, moto, path, tmp / "out", tmp / "scratch", clients)


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
    postgres: PostgresServer,
    pgbouncer: PgBouncer,
    moto_server: MotoServer,
) -> Iterator[World]:
    """One ``run --once`` of every binding; its AWS secrets read at once (other tests reset moto)."""
    moto_server.reset()
    with make_world(tmp_path_factory.mktemp("clients"), postgres, pgbouncer, moto_server) as w:
        w.syncd()
        for name in ("clients/direct", "clients/pooled", "clients/prisma", "clients/ecs"):
            w.secrets[name] = w.secret(name)
        yield w


@pytest.fixture
def fresh(tmp_path: Path, postgres: PostgresServer, pgbouncer: PgBouncer, aws: MotoServer) -> Iterator[World]:
    """A world of its own, for tests that change the password."""
    with make_world(tmp_path, postgres, pgbouncer, aws) as w:
        yield w


KINDS = ["direct", "pooled"]


def port_of(world: World, kind: str) -> int:
    return world.casedev.pgbouncer.port if kind == "pooled" else world.casedev.postgres.port


# -- what was written --------------------------------------------------------------


def test_the_documents_point_each_client_at_the_right_server(world: World) -> None:
    """Prisma's DATABASE_URL is pooled and DIRECT_URL direct; presets carry the target's own host and port."""
    prisma = world.env("prisma.env")
    assert list(prisma) == ["DATABASE_URL", "DIRECT_URL"]
    assert f":{world.casedev.pgbouncer.port}/" in prisma["DATABASE_URL"]
    assert f":{world.casedev.postgres.port}/" in prisma["DIRECT_URL"]
    for kind in KINDS:
        libpq = world.env(f"libpq-{kind}.env")
        assert list(libpq) == ["PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "PGSSLMODE"]
        assert (libpq["PGPORT"], libpq["PGSSLMODE"]) == (str(port_of(world, kind)), "require")
        spring = world.env(f"spring-{kind}.env")
        database = world.casedev.branches[(PROJECT, "main")].database
        assert spring["SPRING_DATASOURCE_URL"] == (
            f"jdbc:postgresql://127.0.0.1:{port_of(world, kind)}/{database}?sslmode=require"
        )
        assert world.secret(f"clients/{kind}")["sslmode"] == "require"
    assert world.secret("clients/prisma") == prisma


# -- Python -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_psycopg2_connects_with_database_url(world: World, kind: str) -> None:
    """psycopg2.connect(os.environ["DATABASE_URL"]) with the env file."""
    import psycopg2

    env = world.env(f"{kind}.env")
    conn = psycopg2.connect(env["DATABASE_URL"])
    try:
        with conn.cursor() as cursor:
            cursor.execute("select current_user")
            assert cursor.fetchone() == (world.role,)
        assert conn.info.port == port_of(world, kind) and conn.info.ssl_in_use
    finally:
        conn.close()


@pytest.mark.parametrize("kind", KINDS)
def test_psycopg2_builds_its_connection_from_the_rds_json_fields(world: World, kind: str) -> None:
    """The RDS-style secret's fields, sslmode included, make a TLS connection."""
    import psycopg2

    doc = world.secret(f"clients/{kind}")
    conn = psycopg2.connect(
        host=doc["host"],
        port=doc["port"],
        user=doc["username"],
        password=doc["password"],
        dbname=doc["dbname"],
        sslmode=doc["sslmode"],
    )
    try:
        assert conn.info.user == world.role and conn.info.ssl_in_use
    finally:
        conn.close()


@pytest.mark.parametrize("kind", KINDS)
def test_sqlalchemy_connects_with_database_url(world: World, kind: str) -> None:
    """create_engine(DATABASE_URL) picks psycopg 3 (SQLAlchemy 2.1) and connects, pooled without prepares."""
    from sqlalchemy import create_engine, text

    env = world.env(f"{kind}.env")
    engine = create_engine(env["DATABASE_URL"], connect_args={"prepare_threshold": None})
    try:
        assert engine.dialect.driver == "psycopg"
        with engine.connect() as connection:
            assert connection.execute(text("select current_user")).scalar_one() == world.role
    finally:
        engine.dispose()


# -- Node.js ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_node_postgres_with_a_connection_string(world: World, node_clients: Path, kind: str) -> None:
    """new Pool({connectionString: process.env.DATABASE_URL}), verifying the certificate."""
    env = world.env(f"{kind}.env")
    assert world.clients.node("node_postgres.mjs", "DATABASE_URL", env=env) == world.role


@pytest.mark.parametrize("kind", KINDS)
def test_node_postgres_pool_reads_the_libpq_preset(world: World, node_clients: Path, kind: str) -> None:
    """new Pool() with nothing but the libpq preset's variables."""
    env = world.env(f"libpq-{kind}.env")
    assert world.clients.node("node_postgres.mjs", "--libpq", env=env) == world.role


def test_node_postgres_verifies_the_certificate_for_sslmode_require(
    world: World, node_clients: Path
) -> None:
    """Without the test CA, node-postgres refuses sslmode=require: it verifies like verify-full."""
    env = world.env("direct.env")
    with pytest.raises(AssertionError, match="self-signed certificate"):
        world.clients.run(["node", "node_postgres.mjs", "DATABASE_URL"], env, ca=False)


@pytest.mark.parametrize("kind", KINDS)
def test_drizzle_over_postgres_js(world: World, node_clients: Path, kind: str) -> None:
    """drizzle(postgres(process.env.DATABASE_URL, {prepare: false}))."""
    env = world.env(f"{kind}.env")
    assert world.clients.node("drizzle_postgres_js.mjs", "DATABASE_URL", env=env) == world.role


@pytest.mark.parametrize("variable", ["DATABASE_URL", "DIRECT_URL"])
def test_prisma_with_adapter_pg_from_the_prisma_preset(
    world: World, node_clients: Path, variable: str
) -> None:
    """Prisma 7 through @prisma/adapter-pg with the preset's pooled and direct URLs."""
    assert world.clients.prisma(variable, world.env("prisma.env")) == world.role


@pytest.mark.parametrize("variable", ["DATABASE_URL", "DIRECT_URL"])
def test_prisma_from_json_keys_in_secrets_manager(
    world: World, node_clients: Path, variable: str
) -> None:
    """The prisma preset as a JSON secret, its keys injected as ECS does."""
    keys = world.secret("clients/prisma")
    assert world.clients.prisma(variable, {variable: keys[variable]}) == world.role


# -- libpq, PHP, Java ------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_psql_with_the_libpq_variables_only(world: World, kind: str) -> None:
    """psql with no connection argument: PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE."""
    need("psql")
    assert world.clients.psql(world.env(f"libpq-{kind}.env")) == world.role


def test_json_keys_picked_like_ecs_feed_psql_and_node_postgres(world: World, node_clients: Path) -> None:
    """Single keys of a JSON secret, each injected as its own variable, as ECS valueFrom does."""
    need("psql")
    keys = world.secret("clients/ecs")
    libpq = {name: keys[name] for name in keys if name.startswith("PG")}
    assert world.clients.psql(libpq) == world.role
    pooled = {"DATABASE_URL": keys["DATABASE_URL"]}
    assert f":{world.casedev.pgbouncer.port}/" in pooled["DATABASE_URL"]
    assert world.clients.node("node_postgres.mjs", "DATABASE_URL", env=pooled) == world.role


@pytest.mark.parametrize("kind", KINDS)
def test_php_pdo_with_the_libpq_preset(world: World, php_pdo: None, kind: str) -> None:
    """new PDO("pgsql:host=...;sslmode=...", PGUSER, PGPASSWORD) from the preset's variables."""
    assert world.clients.php(world.env(f"libpq-{kind}.env")) == world.role


@pytest.mark.parametrize("kind", KINDS)
def test_jdbc_with_the_spring_preset(world: World, java_classes: Path, kind: str) -> None:
    """DriverManager.getConnection(SPRING_DATASOURCE_URL, _USERNAME, _PASSWORD), as Spring Boot does."""
    assert world.clients.jdbc(java_classes, world.env(f"spring-{kind}.env")) == world.role


# -- a new password -----------------------------------------------------------------------


def written(world: World) -> dict[str, str]:
    texts = {p.name: p.read_text() for p in sorted(world.out.iterdir()) if not p.name.startswith(".")}
    for name in ("clients/direct", "clients/pooled", "clients/prisma", "clients/ecs"):
        texts[name] = json.dumps(world.secret(name), sort_keys=True)
    return texts


def test_a_new_password_reaches_every_preset_in_one_run_and_clients_connect(
    fresh: World, node_clients: Path, java_classes: Path, php_pdo: None
) -> None:
    """After the provider hands out a new password, one run --once rewrites everything and clients connect with it."""
    need("psql")
    fresh.syncd()
    before = written(fresh)
    new = fresh.casedev.rotate(PROJECT, "main").password
    fresh.clients.outputs.markers.append(new)
    fresh.syncd()
    after = written(fresh)
    assert sorted(after) == sorted(before)
    assert [name for name in after if after[name] == before[name]] == []
    for name in ("libpq-direct.env", "libpq-pooled.env"):
        assert fresh.env(name)["PGPASSWORD"] == new
    for name in ("spring-direct.env", "spring-pooled.env"):
        assert fresh.env(name)["SPRING_DATASOURCE_PASSWORD"] == new
    for variable in ("DATABASE_URL", "DIRECT_URL"):
        assert f":{new}@" in fresh.env("prisma.env")[variable]
        assert fresh.clients.prisma(variable, fresh.env("prisma.env")) == fresh.role
    role = fresh.role
    for kind in KINDS:
        assert fresh.clients.psql(fresh.env(f"libpq-{kind}.env")) == role
        assert fresh.clients.php(fresh.env(f"libpq-{kind}.env")) == role
        assert fresh.clients.jdbc(java_classes, fresh.env(f"spring-{kind}.env")) == role
        assert fresh.clients.node("node_postgres.mjs", "DATABASE_URL", env=fresh.env(f"{kind}.env")) == role
    assert fresh.clients.node("node_postgres.mjs", "--libpq", env=fresh.secret("clients/ecs")) == role


def test_a_password_env_files_cannot_hold_fails_libpq_and_spring_only(fresh: World) -> None:
    """A password with a space, '#', '$' and quotes: libpq and spring env files keep their old content, URI bindings are written, one line each, no traceback."""
    import psycopg2

    fresh.syncd()
    before = written(fresh)
    odd = f"CANARY{secrets.token_hex(8)} #$\"'x"
    fresh.clients.outputs.markers.append(odd)
    fresh.casedev.set_password(PROJECT, "main", odd)
    result = fresh.syncd(expect=1)
    after = written(fresh)
    failed = sorted(name for name in after if after[name] == before[name])
    assert failed == ["libpq-direct.env", "libpq-pooled.env", "spring-direct.env", "spring-pooled.env"]
    for name, key in (("libpq", "PGPASSWORD"), ("spring", "SPRING_DATASOURCE_PASSWORD")):
        for kind in KINDS:
            lines = [
                line
                for line in result.output.splitlines()
                if f"{name}-{kind}.env" in line and key in line and "cannot be an env line" in line
            ]
            assert lines, result.output
    for kind in KINDS:
        env = fresh.env(f"{kind}.env")
        conn = psycopg2.connect(env["DATABASE_URL"])
        conn.close()
        assert fresh.secret(f"clients/{kind}")["password"] == odd
    assert set(fresh.env("prisma.env")) == {"DATABASE_URL", "DIRECT_URL"}
