"""Low-CPU stand-ins for the case.dev API and AWS Secrets Manager, with added latency.

Why not syncd.testing.casedev and moto: a threaded ``http.server`` and moto spend
milliseconds of CPU per request, so on a small machine the servers, not syncd,
would set the pace of a benchmark. These stand-ins are one asyncio event loop
with a minimal HTTP/1.1 parser (keep-alive, ``Content-Length`` bodies only):
each request costs tens of microseconds, and the latency is an ``asyncio.sleep``
that costs nothing while it waits.

* case.dev: ``GET /database/v1/projects/{id}/connection?branch=&pooled=`` with
  ``Authorization: Bearer <key>``, answering ``{connectionUri, branch, pooled}``
  as syncd.testing.casedev does. Every project exists; its URI is derived from
  the project, the branch and a per-project generation (``POST /_rotate``).
* Secrets Manager over the AWS JSON 1.1 protocol (``X-Amz-Target``):
  DescribeSecret, CreateSecret, PutSecretValue, TagResource and GetSecretValue;
  ``ClientRequestToken`` becomes the ``VersionId``, ``VersionIdsToStages`` moves
  AWSCURRENT/AWSPREVIOUS, ``Tags`` are kept, unknown secrets answer
  ``ResourceNotFoundException``. Signatures are not checked.

Both listen on one port (the path and ``X-Amz-Target`` tell them apart), next
to control endpoints: ``GET /_stats`` (calls by API, writes), ``POST /_reset``
(counts only) and ``POST /_clear`` (counts and secrets), ``POST /_hang``
(``{"seconds": N}``: case.dev requests arriving in the next N seconds are
answered only once they are over, as a hung server's), ``POST /_rotate``
(``{"projects": [...]}``) and ``POST /_put`` (``{"name": "value", ...}``, no
counting); for rate tests ``GET /_times`` (arrival times by API), ``POST
/_throttle`` (``{"writes": N}``: the next N writes answer ThrottlingException)
and ``POST /_budget`` (``{"requests": N, "window": s}``: case.dev announces
that budget in ``x-ratelimit-*`` headers and answers 429 past it). Run it
alone with ``python -m benchmarks.standins --latency 0.025``; it prints
``listening on http://127.0.0.1:PORT`` and serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

API_KEY = "bench-casedev-key-0123456789"
WRITES = frozenset({"CreateSecret", "PutSecretValue", "TagResource"})
_CASEDEV_PREFIX = "/database/v1/projects/"
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}


def connection_uri(project: str, branch: str, pooled: bool, generation: int = 0) -> str:
    """The connection string the stand-in answers for one project and branch."""
    digest = hashlib.sha256(f"{project}/{branch}/{generation}".encode()).hexdigest()[:24]
    host = f"ep-{project.lower().replace('_', '-')}{'-pooler' if pooled else ''}.example.net"
    return f"postgresql://owner:{digest}@{host}/neondb?sslmode=require"


@dataclass
class _Secret:
    name: str
    arn: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)  # version id -> value
    stages: dict[str, list[str]] = field(default_factory=dict)  # version id -> stages
    created: float = field(default_factory=time.time)

    def current(self) -> str | None:
        return next((v for v, s in self.stages.items() if "AWSCURRENT" in s), None)

    def put(self, version: str, value: str) -> None:
        previous = self.current()
        for stages in self.stages.values():
            if "AWSPREVIOUS" in stages:
                stages.remove("AWSPREVIOUS")
        if previous is not None:
            self.stages[previous] = ["AWSPREVIOUS"]
        self.versions[version] = value
        self.stages[version] = ["AWSCURRENT"]
        self.stages = {v: s for v, s in self.stages.items() if s}


class _AwsError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class StandIns:
    """The state and request handling of both stand-ins (one event loop, no locks needed)."""

    def __init__(self, latency: float = 0.025, api_key: str = API_KEY) -> None:
        self.latency = latency
        self.api_key = api_key
        self.calls: Counter[str] = Counter()
        #: When each call arrived (time.monotonic()), by API: rate tests read these.
        self.times: dict[str, list[float]] = {}
        self.generations: dict[str, int] = {}
        self.secrets: dict[str, _Secret] = {}
        #: Write calls still to answer with ThrottlingException (set by /_throttle).
        self.throttle_writes = 0
        #: case.dev request budget per window, announced in x-ratelimit-* headers
        #: (set by /_budget); a request past it answers 429 with Retry-After.
        self.budget: int | None = None
        self.budget_window = 1.0
        #: Until when (time.monotonic()) case.dev requests hang (set by /_hang).
        self.hang_until = 0.0
        self._budget_left = 0
        self._budget_reset = 0.0

    # -- HTTP ---------------------------------------------------------------

    async def serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Answer requests on one keep-alive connection until the client closes it."""
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if line:
                        key, _, value = line.partition(":")
                        headers[key.strip().lower()] = value.strip()
                length = int(headers.get("content-length") or 0)
                body = await reader.readexactly(length) if length else b""
                hung = self.hang_until - time.monotonic()
                if hung > 0 and "x-amz-target" not in headers and not target.startswith("/_"):
                    self._count("casedev.hung")
                    await asyncio.sleep(hung)
                status, payload, content_type = self.answer(method, target, headers, body)
                extra = self._budget_headers(status) if "x-amz-target" not in headers else ""
                if self.latency and not target.startswith("/_"):
                    await asyncio.sleep(self.latency)
                writer.write(
                    f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
                    f"Content-Type: {content_type}\r\nContent-Length: {len(payload)}\r\n"
                    f"{extra}x-amzn-RequestId: {uuid.uuid4()}\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    def answer(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes, str]:
        """Status, body and content type for one request."""
        if "x-amz-target" in headers:
            operation = headers["x-amz-target"].rpartition(".")[2]
            self._count(f"sm.{operation}")
            if operation in WRITES and self.throttle_writes > 0:
                self.throttle_writes -= 1
                error = {"__type": "ThrottlingException", "message": "Rate exceeded"}
                return 400, json.dumps(error).encode(), "application/x-amz-json-1.1"
            try:
                result = self._aws(operation, json.loads(body or b"{}"))
            except _AwsError as exc:
                error = {"__type": exc.code, "message": str(exc)}
                return 400, json.dumps(error).encode(), "application/x-amz-json-1.1"
            return 200, json.dumps(result).encode(), "application/x-amz-json-1.1"
        url = urlsplit(target)
        if url.path.startswith("/_"):
            return 200, json.dumps(self._control(url.path, body)).encode(), "application/json"
        self._count("casedev.GetConnection")
        if self.budget is not None and not self._spend_budget():
            self._count("casedev.429")
            return 429, b'{"error": "Too Many Requests"}', "application/json"
        status, document = self._casedev(method, url.path, url.query, headers)
        return status, json.dumps(document).encode(), "application/json"

    def _count(self, api: str) -> None:
        self.calls[api] += 1
        self.times.setdefault(api, []).append(time.monotonic())

    def _spend_budget(self) -> bool:
        now = time.monotonic()
        if now >= self._budget_reset:
            self._budget_left = self.budget or 0
            self._budget_reset = now + self.budget_window
        if self._budget_left <= 0:
            return False
        self._budget_left -= 1
        return True

    def _budget_headers(self, status: int) -> str:
        if self.budget is None:
            return ""
        reset = max(0.0, self._budget_reset - time.monotonic())
        retry = f"Retry-After: {max(1, round(reset))}\r\n" if status == 429 else ""  # noqa: PLR2004
        return (
            f"x-ratelimit-limit-requests: {self.budget}\r\n"
            f"x-ratelimit-remaining-requests: {max(0, self._budget_left)}\r\n"
            f"x-ratelimit-reset-requests: {reset:.3f}s\r\n{retry}"
        )

    # -- case.dev -----------------------------------------------------------

    def _casedev(
        self, method: str, path: str, query: str, headers: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        if method != "GET" or not path.startswith(_CASEDEV_PREFIX):
            return 404, {"error": "Not Found"}
        project, _, rest = path[len(_CASEDEV_PREFIX) :].partition("/")
        if rest != "connection":
            return 404, {"error": "Not Found"}
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {"error": "Unauthorized", "message": "Invalid API key"}
        params = dict(parse_qsl(query))
        branch = params.get("branch", "main")
        pooled = params.get("pooled", "false") == "true"
        project = unquote(project)
        uri = connection_uri(project, branch, pooled, self.generations.get(project, 0))
        return 200, {"connectionUri": uri, "branch": branch, "pooled": pooled}

    # -- Secrets Manager ----------------------------------------------------

    def _aws(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        if operation == "CreateSecret":
            return self._create(params)
        if operation not in ("DescribeSecret", "PutSecretValue", "TagResource", "GetSecretValue"):
            raise _AwsError("InvalidAction", f"{operation} is not supported by this stand-in")
        secret = self.secrets.get(params.get("SecretId", ""))
        if secret is None:
            raise _AwsError("ResourceNotFoundException", "Secrets Manager can't find the secret.")
        if operation == "DescribeSecret":
            return {
                "ARN": secret.arn,
                "Name": secret.name,
                "Description": secret.description,
                "Tags": [{"Key": k, "Value": v} for k, v in secret.tags.items()],
                "VersionIdsToStages": secret.stages,
                "CreatedDate": secret.created,
            }
        if operation == "TagResource":
            secret.tags.update({t["Key"]: t["Value"] for t in params.get("Tags", [])})
            return {}
        if operation == "GetSecretValue":
            version = secret.current()
            if version is None:
                raise _AwsError("ResourceNotFoundException", "no current version")
            return {
                "ARN": secret.arn,
                "Name": secret.name,
                "VersionId": version,
                "SecretString": secret.versions[version],
                "VersionStages": secret.stages[version],
                "CreatedDate": secret.created,
            }
        version = params.get("ClientRequestToken") or str(uuid.uuid4())
        if version in secret.versions:
            if secret.versions[version] != params.get("SecretString"):
                raise _AwsError("ResourceExistsException", "token reused with another value")
        else:
            secret.put(version, str(params.get("SecretString", "")))
        return {
            "ARN": secret.arn,
            "Name": secret.name,
            "VersionId": version,
            "VersionStages": secret.stages.get(version, []),
        }

    def _create(self, params: dict[str, Any]) -> dict[str, Any]:
        name = str(params.get("Name", ""))
        if name in self.secrets:
            raise _AwsError("ResourceExistsException", f"the secret {name} already exists.")
        arn = f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-{uuid.uuid4().hex[:6]}"
        secret = _Secret(name, arn, str(params.get("Description", "")))
        secret.tags = {t["Key"]: t["Value"] for t in params.get("Tags", [])}
        version = params.get("ClientRequestToken") or str(uuid.uuid4())
        if "SecretString" in params:
            secret.put(version, str(params["SecretString"]))
        self.secrets[name] = secret
        return {"ARN": arn, "Name": name, "VersionId": version}

    # -- control ------------------------------------------------------------

    def _control(self, path: str, body: bytes) -> dict[str, Any]:  # noqa: PLR0911 - one per endpoint
        if path == "/_stats":
            return {
                "calls": dict(self.calls),
                "writes": sum(n for api, n in self.calls.items() if api[3:] in WRITES),
                "secrets": len(self.secrets),
            }
        if path == "/_times":
            return {"times": self.times}
        if path in ("/_reset", "/_clear"):
            self.calls.clear()
            self.times.clear()
            if path == "/_clear":
                self.secrets.clear()
                self.generations.clear()
            return {}
        data = json.loads(body or b"{}")
        if path == "/_rotate":
            for project in data.get("projects", []):
                self.generations[project] = self.generations.get(project, 0) + 1
            return {}
        if path == "/_hang":
            self.hang_until = time.monotonic() + float(data.get("seconds", 0))
            return {}
        if path == "/_throttle":
            self.throttle_writes = int(data.get("writes", 0))
            return {}
        if path == "/_budget":
            self.budget = data.get("requests")
            self.budget_window = float(data.get("window", 1.0))
            self._budget_reset = 0.0
            return {}
        if path == "/_put":
            for name, value in data.items():
                secret = self.secrets.get(name) or _Secret(name, f"arn:bench:{name}")
                secret.put(str(uuid.uuid4()), value)
                self.secrets[name] = secret
            return {}
        return {"error": "unknown control endpoint"}


class Running:
    """The stand-ins served from a background thread with its own event loop."""

    def __init__(self, standins: StandIns, host: str = "127.0.0.1") -> None:
        self.standins = standins
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self.port = 0
        self._thread = threading.Thread(target=self._run, args=(host,), daemon=True)
        self._thread.start()
        self._started.wait(10)
        self.url = f"http://{host}:{self.port}"

    def _run(self, host: str) -> None:
        try:
            self._loop.run_until_complete(self._main(host))
        finally:
            self._loop.close()

    async def _main(self, host: str) -> None:
        server = await asyncio.start_server(self.standins.serve_connection, host, 0, backlog=1024)
        self.port = server.sockets[0].getsockname()[1]
        self._stop = asyncio.Event()
        self._started.set()
        async with server:
            await self._stop.wait()
        # Close the clients' open keep-alive connections while the loop still runs.
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def close(self) -> None:
        """Stop serving and join the thread."""
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@contextmanager
def serve(latency: float = 0.025) -> Iterator[Running]:
    """Serve the stand-ins on a loopback port in this process until the block exits."""
    running = Running(StandIns(latency))
    try:
        yield running
    finally:
        running.close()


def main() -> None:
    """Serve the stand-ins in the foreground (the benchmark runs this as a subprocess)."""
    parser = argparse.ArgumentParser(description="case.dev and Secrets Manager stand-ins")
    parser.add_argument("--latency", type=float, default=0.025, help="seconds added per request")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    standins = StandIns(args.latency)

    async def run() -> None:
        server = await asyncio.start_server(
            standins.serve_connection, "127.0.0.1", args.port, backlog=1024
        )
        port = server.sockets[0].getsockname()[1]
        print(f"listening on http://127.0.0.1:{port}", flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(run())


if __name__ == "__main__":
    main()
