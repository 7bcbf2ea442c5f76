"""HashiCorp Vault / OpenBao KV v2 sink.

Each document's ``fields`` are the KV data of one secret (``json``: the
RDS-style keys; ``uri``: ``{uri: ...}``; ``env``: ``{DATABASE_URL: ...}``).
Change detection reads only ``<mount>/metadata/<path>``, never the data: syncd
needs no ``read`` on ``<mount>/data/``. The secret's ``custom_metadata`` holds
``managed-by: syncd``, ``syncd-target``, ``syncd-owner``
(``<instance>/<target>``), ``syncd-fingerprint`` and ``syncd-version``, the
KV version syncd wrote, and after a rotation ``syncd-rotated-at`` and
``syncd-role`` (kept by writes that carry no new mark). The fingerprint counts only
while ``syncd-version`` is still the current, undeleted version; anything else
is drift (someone else wrote). The keys are encoded by
:class:`~syncd.sinks.metadata.MetadataCodec`, like every sink's.

A write is, in this order:

1. only when creating, adopting, changing the owner or recording a rotation:
   claim ``managed-by``, ``syncd-target``, ``syncd-owner`` (and the rotation
   mark) in the metadata, so a crash later on still reads as this owner's
   secret, rotated;
2. the data, with check-and-set ``cas`` = the version seen by ``inspect``
   (0 when creating): a concurrent writer makes it fail (:class:`SinkConflict`,
   retried next cycle) instead of being overwritten;
3. the metadata again, with the fingerprint and the version step 2 created.

Metadata writes replace the whole ``custom_metadata`` map, so the keys of
others are read and sent back. A crash between 2 and 3 leaves the new data
with a stale ``syncd-version``: the next cycle sees drift and writes one more
(harmless) version. Earlier versions stay in Vault's history.

Every HTTP attempt, logins, renewals and redirects included, takes a slot
from one :class:`~syncd.net.ratelimit.TokenBucket` shared by all workers
(``rate_limit``, default 80 requests/s; :mod:`syncd.sinks.vault_pacing`).
One bucket, not one for reads and one for writes as for AWS: Vault's
rate-limit quotas (``sys/quotas/rate-limit``) count every request to a path
alike, whatever its verb, and Vault publishes no separate read and write
limits to stay under. A quota's 429 halves the rate and honours
``Retry-After``; the refused call is retried (at most
:data:`THROTTLED_ATTEMPTS` attempts), which is safe because a quota refuses a
request before Vault acts on it, and a data write carries check-and-set anyway.
A ``Retry-After`` of :data:`~syncd.net.retry.MAX_SERVER_PAUSE` or more is not
waited out: the call fails with :class:`~syncd.errors.RateLimited`. Those
retries, the token's upkeep and the translation of hvac's errors live in
:mod:`syncd.sinks.vault_api`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import ipaddress
import os
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from syncd.config.strict import PluginConfig
from syncd.core.lease import Lease, Record
from syncd.core.models import SecretState
from syncd.errors import ConfigError, SecretNotFound, SinkConflict
from syncd.extras import require
from syncd.net.observe import RequestObserver, http_outcome
from syncd.net.ratelimit import TokenBucket
from syncd.sinks.base import PreflightResult, SinkFactory, WriteRequest
from syncd.sinks.metadata import MetadataCodec
from syncd.sinks.vault_api import Denied, VaultApi
from syncd.sinks.vault_auth import AuthConfig, Mount, TokenAuth, VaultAuth

TARGET = "syncd-target"
OWNER = "syncd-owner"
FINGERPRINT = "syncd-fingerprint"
VERSION = "syncd-version"
ROTATED_AT = "syncd-rotated-at"
ROLE = "syncd-role"
#: The custom metadata of syncd's facts, under the names Vault secrets carry.
_CODEC = MetadataCodec(
    owner=OWNER,
    fingerprint=FINGERPRINT,
    rotated_at=ROTATED_AT,
    role=ROLE,
    target=TARGET,
    written=VERSION,
)
#: The rotation lease of ``<secret>`` is the KV secret ``syncd-leases/<secret>`` in the same
#: mount: a prefix of its own, so a policy can grant ``read`` on leases and not on secrets.
LEASE_PREFIX = "syncd-leases"
_MAX_NAME = 512
#: Requests per second. Vault publishes no global quota, but operators cap clients
#: with rate-limit quotas, per client IP and node; HashiCorp's and the Terraform
#: provider's examples use 100/s, and 80 keeps the same margin as the AWS sink's
#: 40 under 50. Raise it for a Vault without quotas, lower it under a tighter one.
DEFAULT_RATE = 80.0
#: Attempts of one call that Vault answers with 429 (the first included).
THROTTLED_ATTEMPTS = 4
_SEGMENT = re.compile(r"[A-Za-z0-9_.@+=,:-]+")


class VaultSinkConfig(PluginConfig):
    """The ``sinks.<name>`` section for ``type: vault``."""

    type: Literal["vault"] = "vault"
    url: str | None = Field(default=None, pattern=r"^https?://", description="default: VAULT_ADDR")
    namespace: str | None = Field(default=None, description="default: $VAULT_NAMESPACE")
    mount: Mount = "secret"
    ca_cert: Path | None = Field(default=None, description="default: $VAULT_CACERT")
    timeout: float = Field(default=10.0, gt=0, le=300)
    auth: AuthConfig = TokenAuth()
    allow_insecure_http: bool = Field(
        default=False, description="allow http:// to a non-loopback Vault (token sent in clear)"
    )
    rate_limit: float = Field(
        default=DEFAULT_RATE,
        gt=0,
        description="requests per second, logins included (no published quota; under the "
        "100/s of a typical rate-limit quota)",
    )
    burst: float | None = Field(default=None, ge=1, description="default: rate_limit")


class VaultSink:
    """Writes each document as a KV v2 secret ``<mount>/<secret>``."""

    config_model: ClassVar[type[VaultSinkConfig]] = VaultSinkConfig

    def __init__(
        self,
        name: str,
        client: Any,
        *,
        mount: str = "secret",
        auth: VaultAuth | None = None,
        bucket: TokenBucket | None = None,
    ) -> None:
        from syncd.sinks.vault_pacing import pace  # noqa: PLC0415 - imports requests (hvac's)

        self.name = name
        self.mount = mount
        self._client = client
        self.bucket = (
            bucket if bucket is not None else TokenBucket(DEFAULT_RATE, name=f"vault sink {name}")
        )
        pace(client.adapter.session, self.bucket)
        self._auth = auth  # None: the injected client's token is used as it is
        self._api = VaultApi(name, client, mount=mount, auth=auth, attempts=THROTTLED_ATTEMPTS)

    @classmethod
    def from_config(
        cls, name: str, config: VaultSinkConfig, *, environ: Mapping[str, str] | None = None
    ) -> VaultSink:
        """Build an hvac client (TLS always verified); nothing is sent before the first call."""
        env = os.environ if environ is None else environ
        url = config.url or env.get("VAULT_ADDR")
        if not url:
            raise ConfigError(
                f"vault sink {name}: no Vault address; set sinks.{name}.url or VAULT_ADDR"
            )
        if not config.allow_insecure_http and not _secure(url):
            raise ConfigError(
                f"vault sink {name}: {url} is plain http:// to a non-loopback host, so the "
                f"token would travel in clear; use https://, or set sinks.{name}."
                "allow_insecure_http: true if the network path is trusted"
            )
        ca_cert = config.ca_cert or (Path(env["VAULT_CACERT"]) if env.get("VAULT_CACERT") else None)
        if ca_cert is not None and not ca_cert.is_file():
            raise ConfigError(f"vault sink {name}: CA certificate {ca_cert} not found")
        auth = VaultAuth(name, config.auth, environ=env)
        auth.check()
        # Imported here: only deployments that use Vault pay for importing hvac.
        hvac = require("hvac", extra="vault", plugin=f"vault sink {name}")

        client = hvac.Client(
            url=url,
            token="",  # not None: hvac would read VAULT_TOKEN behind our back
            verify=str(ca_cert) if ca_cert else True,
            timeout=config.timeout,
            namespace=config.namespace or env.get("VAULT_NAMESPACE") or None,
        )
        return cls(
            name,
            client,
            mount=config.mount,
            auth=auth,
            bucket=TokenBucket(config.rate_limit, config.burst, name=f"vault sink {name}"),
        )

    @classmethod
    def validate_secret_name(cls, secret: str) -> None:
        """A relative KV path: segments of ``A-Z a-z 0-9 _ . @ + = , : -`` joined by '/'."""
        segments = secret.split("/")
        if len(secret) > _MAX_NAME or not all(
            _SEGMENT.fullmatch(s) and s not in (".", "..") for s in segments
        ):
            raise ValueError(
                "Vault secret names are relative KV paths like 'apps/db': no leading or "
                "trailing '/', no empty, '.' or '..' segments, at most 512 characters of "
                "A-Z a-z 0-9 _ . @ + = , : -"
            )

    def inspect(self, secret: str) -> SecretState:
        """Read ``<mount>/metadata/<secret>`` only: ownership, current version, fingerprint."""
        meta = self._metadata(secret)
        current = int(meta.get("current_version") or 0) if meta else 0
        if not current:  # no metadata, or metadata without any version (an interrupted create)
            return SecretState.missing()
        custom = meta.get("custom_metadata") or {}
        state = _CODEC.decode(custom, version=str(current))
        info = (meta.get("versions") or {}).get(str(current)) or {}
        if custom.get(VERSION) == str(current) and _gone(info):
            # Deleted or destroyed since syncd wrote it: whatever is read now is drift.
            return dataclasses.replace(state, fingerprint=None)
        return state

    def write(self, request: WriteRequest) -> str | None:
        """Check-and-set the data, then record ownership, fingerprint and version.

        The metadata is read again first: a stale request fails before anything
        is written, and the custom metadata keys of others are carried over.
        """
        secret = request.secret
        expected = int(request.observed.version or 0) if request.observed.exists else 0
        meta = self._metadata(secret)
        if int(meta.get("current_version") or 0) != expected:
            raise SinkConflict(f"vault sink {self.name}: {secret} changed since it was inspected")
        existing = meta.get("custom_metadata") or {}
        custom = {**existing, **_CODEC.claim(request)}
        recorded = _CODEC.decode(existing)
        claim = not recorded.managed or recorded.owner != request.owner
        if claim or request.rotation is not None:
            self._put_metadata(secret, custom)  # claim first: a crash from here on reads as ours
        written = self._api.call(
            "create/update",
            f"data/{secret}",
            lambda: self._client.secrets.kv.v2.create_or_update_secret(
                path=secret, secret=request.document.fields, cas=expected, mount_point=self.mount
            ),
        )
        version = str(written["data"]["version"])
        self._put_metadata(secret, {**custom, **_CODEC.encode(request, version=version)})
        return version

    # -- the rotation lease (syncd.sinks.base.Leaser) ------------------------

    def read_lease(self, secret: str) -> Record | None:
        """The lease secret ``syncd-leases/<secret>``: its current version and data.

        Metadata writes have no check-and-set in KV v2, data writes do, so the
        lease is the data of a secret of its own (no credential in it) and its
        version number is the compare-and-set token. A released, deleted or
        unreadable version is a record with no live lease.
        """
        path = _lease_path(secret)
        meta = self._metadata(path)
        current = int(meta.get("current_version") or 0) if meta else 0
        if not current:
            return None
        try:
            answer = self._api.call(
                "read",
                f"data/{path}",
                lambda: self._client.secrets.kv.v2.read_secret_version(
                    path=path,
                    version=current,
                    mount_point=self.mount,
                    raise_on_deleted_version=True,
                ),
            )
        except SecretNotFound:
            return Record(str(current), None)
        data = (answer.get("data") or {}).get("data") or {}
        text = data.get("lease") if isinstance(data, dict) else None
        return Record(str(current), Lease.decode(text if isinstance(text, str) else None))

    def take_lease(self, secret: str, lease: Lease, replacing: Record | None) -> Record:
        """Write the lease with check-and-set on ``replacing``'s version (0: none yet)."""
        return self._write_lease(secret, {"lease": lease.encode()}, replacing, lease)

    def release_lease(self, secret: str, held: Record) -> None:
        """Write a released record over ``held``; a no-op once someone else wrote one."""
        holder = held.lease.holder if held.lease is not None else ""
        with contextlib.suppress(SinkConflict):
            self._write_lease(secret, {"released": holder}, held, None)

    def _write_lease(
        self, secret: str, data: dict[str, str], replacing: Record | None, lease: Lease | None
    ) -> Record:
        path = _lease_path(secret)
        cas = int(replacing.token) if replacing is not None else 0
        written = self._api.call(
            "create/update",
            f"data/{path}",
            lambda: self._client.secrets.kv.v2.create_or_update_secret(
                path=path, secret=data, cas=cas, mount_point=self.mount
            ),
        )
        return Record(str(written["data"]["version"]), lease)

    def observe(self, observer: RequestObserver) -> None:
        """Report every HTTP request to Vault, logins and renewals included, to ``observer``."""
        self._api.observer = observer

        def received(response: Any, *args: Any, **kwargs: Any) -> None:
            observer.request("sink", self.name, http_outcome(response.status_code))

        self._client.adapter.session.hooks["response"].append(received)

    def close(self) -> None:
        """Revoke a token syncd logged in for, and close the HTTP session."""
        if self._auth is not None:
            self._auth.revoke(self._client)
        self._client.adapter.close()

    def _metadata(self, secret: str) -> dict[str, Any]:
        try:
            result = self._api.call(
                "read",
                f"metadata/{secret}",
                lambda: self._client.secrets.kv.v2.read_secret_metadata(
                    path=secret, mount_point=self.mount
                ),
            )
        except SecretNotFound:
            return {}
        data: dict[str, Any] = result["data"]
        return data

    def _put_metadata(self, secret: str, custom: dict[str, str]) -> None:
        # Not hvac's update_metadata: it would also reset delete_version_after.
        self._api.call(
            "create/update",
            f"metadata/{secret}",
            lambda: self._client.adapter.post(
                f"/v1/{self.mount}/metadata/{secret}", json={"custom_metadata": custom}
            ),
        )

    def preflight(self, secret: str, state: SecretState) -> PreflightResult:
        """Ask ``sys/capabilities-self`` whether the token may do every step of a write.

        A write needs ``update`` on the data path (syncd claims the metadata
        first, after which KV v2 treats the secret as existing, so ``create``
        alone is not enough), ``read`` and ``update`` on the metadata path, and
        ``create`` there too while the secret does not exist.
        """
        data = f"{self.mount}/data/{secret}"
        meta = f"{self.mount}/metadata/{secret}"
        needed = {
            data: ("update",),
            meta: ("read", "update") if state.exists else ("create", "read", "update"),
        }
        try:
            answer = self._api.call(
                "update",
                "sys/capabilities-self",
                lambda: self._client.adapter.post(
                    "/v1/sys/capabilities-self", json={"paths": [data, meta]}
                ),
            )
        except Denied:
            return PreflightResult(
                notes=(
                    "permissions not verified: the token may not use sys/capabilities-self "
                    "(grant update on it, as Vault's default policy does)",
                )
            )
        granted = answer.get("data") or answer
        problems = []
        for path, capabilities in needed.items():
            have = set(granted.get(path) or ())
            missing = [c for c in capabilities if c not in have and "root" not in have]
            if missing:
                problems.append(f"the token's policy lacks {', '.join(missing)} on {path}")
        return PreflightResult(problems=tuple(problems))


def _lease_path(secret: str) -> str:
    return f"{LEASE_PREFIX}/{secret}"


def _secure(url: str) -> bool:
    """Whether ``url`` keeps the token off the network in clear: https, or http to loopback."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != "http":
        return True
    host = (parts.hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _gone(version: Mapping[str, Any]) -> bool:
    """Whether a version's data was destroyed or (soft-)deleted by now."""
    if version.get("destroyed"):
        return True
    deleted = version.get("deletion_time") or ""
    # With delete_version_after every version carries its *future* deletion time.
    return bool(deleted) and dt.datetime.fromisoformat(deleted) <= dt.datetime.now(dt.UTC)


#: mypy checks the plugin's shape here, as a third-party plugin author would.
_FACTORY: SinkFactory[VaultSinkConfig] = VaultSink
