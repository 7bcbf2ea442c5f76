"""Logging the Vault sink in, and keeping its token alive.

Three methods, chosen by ``auth.method``:

``token``
    A token from ``token_file``, ``$VAULT_TOKEN``, ``$CREDENTIALS_DIRECTORY/vault_token``
    or ``~/.vault-token``, in that order. "Logging in again" re-reads that source,
    so a token rotated by Vault Agent or an orchestrator is picked up.
``approle``
    ``role_id`` (or ``role_id_file``, ``$VAULT_ROLE_ID``, ``$CREDENTIALS_DIRECTORY/vault_role_id``)
    and a secret id (``secret_id_file``, ``$VAULT_SECRET_ID``,
    ``$CREDENTIALS_DIRECTORY/vault_secret_id``), posted to ``auth/<mount>/login``.
``kubernetes``
    The pod's service-account JWT (re-read at each login: projected tokens rotate)
    posted with ``role`` to ``auth/<mount>/login``.

A token is renewed (``renew-self``) once less than half of its TTL is left,
checked before each call. When a call is refused and ``lookup-self`` shows the
token itself is no longer valid (expired, revoked), :meth:`VaultAuth.recover`
logs in once more so the caller can retry. Every credential is registered
with :mod:`syncd.redaction` as soon as it is read, and none is ever logged.
"""

from __future__ import annotations

import contextvars
import os
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import structlog
from pydantic import BeforeValidator, Field, model_validator

from syncd import redaction
from syncd.config import credentials
from syncd.config.strict import Strict
from syncd.errors import ConfigError, SinkAuthError
from syncd.net.untrusted import one_line

log = structlog.get_logger(__name__)

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
MOUNT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9_.-]+)*$"
_MOUNT = re.compile(MOUNT_PATTERN)


def mount_path(value: object) -> object:
    """A mount path as ``vault secrets list`` prints it (``secret/``) or without the '/'.

    One trailing '/' is dropped; anything else that is not a mount path is
    refused in words, not with the regular expression.
    """
    if not isinstance(value, str):
        return value  # pydantic's own "Input should be a valid string"
    path = value.removesuffix("/")
    if not _MOUNT.fullmatch(path):
        raise ValueError(
            f"{value!r} is not a mount path: names of letters, digits, '_', '.' and '-' "
            "joined by single '/', without a leading '/', like secret or team/kv"
        )
    return path


#: A secrets engine or auth method mount: ``secret``, ``team/kv`` (``secret/`` too).
Mount = Annotated[str, BeforeValidator(mount_path)]


class TokenAuth(Strict):
    """``auth: {method: token}``."""

    method: Literal["token"] = "token"
    token_file: Path | None = None


class AppRoleAuth(Strict):
    """``auth: {method: approle}``."""

    method: Literal["approle"]
    role_id: str | None = Field(default=None, min_length=1)
    role_id_file: Path | None = None
    secret_id_file: Path | None = None
    mount: Mount = "approle"

    @model_validator(mode="after")
    def _one_role_id(self) -> AppRoleAuth:
        if self.role_id is not None and self.role_id_file is not None:
            raise ValueError("set role_id or role_id_file, not both")
        return self


class KubernetesAuth(Strict):
    """``auth: {method: kubernetes}``."""

    method: Literal["kubernetes"]
    role: str = Field(min_length=1)
    jwt_file: Path = SERVICE_ACCOUNT_TOKEN
    mount: Mount = "kubernetes"


AuthConfig = Annotated[TokenAuth | AppRoleAuth | KubernetesAuth, Field(discriminator="method")]


class VaultAuth:
    """Gives an hvac client a valid token: logs in, renews, logs in again after a revocation."""

    def __init__(
        self, sink: str, config: AuthConfig, *, environ: Mapping[str, str] | None = None
    ) -> None:
        self.sink = sink
        self.config = config
        self._env = dict(os.environ if environ is None else environ)
        self._lock = threading.Lock()
        self._ttl = 0.0  # seconds granted by the last login or renewal; 0: never expires
        self._renewable = False
        self._expires = 0.0  # time.monotonic() deadline when _ttl > 0
        self._logged_in = False

    @property
    def method(self) -> str:
        """``token``, ``approle`` or ``kubernetes``."""
        return self.config.method

    def check(self) -> None:
        """Raise :class:`ConfigError` now if the configured credentials cannot be found."""
        self._credentials()

    def ensure(self, client: Any) -> None:
        """Log in if not yet done; renew the token once less than half its TTL is left."""
        with self._lock:
            if not self._logged_in:
                self._login(client)
            elif self._ttl and time.monotonic() > self._expires - self._ttl / 2:
                self._renew(client)

    def recover(self, client: Any, failed_token: str | None, denied: str) -> bool:
        """Tell whether a call refused with ``failed_token`` may be retried.

        True when another thread already replaced the token or a fresh login
        got a new one; False when the token is valid (the policy denied the call).
        Raises :class:`SinkAuthError` saying Vault rejected the token when it
        cannot even look itself up and no new one is to be had: that is an
        expired, revoked or mistyped token, not a policy to fix.
        """
        import hvac.exceptions  # noqa: PLC0415 - see VaultSink.from_config

        with self._lock:
            if client.token != failed_token:
                return True
            try:
                client.auth.token.lookup_self()
            except (hvac.exceptions.Forbidden, hvac.exceptions.Unauthorized) as exc:
                if not _token_rejected(exc):
                    return False  # valid, only not allowed to look itself up
            else:
                return False
            _sink_event(log.warning, "vault_token_invalid", sink=self.sink, method=self.method)
            self._login(client)
            if client.token == failed_token:
                raise SinkAuthError(self._rejected())
            return True

    def _rejected(self) -> str:
        where = f"vault sink {self.sink}: Vault rejected the token"
        if isinstance(self.config, TokenAuth):
            fix = (
                f"put a valid token in sinks.{self.sink}.auth.token_file, VAULT_TOKEN, "
                "$CREDENTIALS_DIRECTORY/vault_token or ~/.vault-token"
            )
        else:
            where += f" of the {self.method} login"
            fix = f"check the {self.method} role's token TTLs"
        return (
            f"{where}: it is expired, revoked or not a token (permission denied even on "
            f"auth/token/lookup-self); {fix}"
        )

    def revoke(self, client: Any) -> None:
        """Revoke a token this object logged in for (best effort, at shutdown)."""
        with self._lock:
            if self._logged_in and self.method != "token":
                try:
                    client.auth.token.revoke_self()
                except Exception as exc:  # noqa: BLE001 - shutdown must go on; the TTL ends it anyway
                    log.debug("vault_revoke_failed", sink=self.sink, error_type=type(exc).__name__)
            self._logged_in = False

    def _login(self, client: Any) -> None:
        import hvac.exceptions  # noqa: PLC0415

        creds = self._credentials(runtime=True)
        cfg = self.config
        where = "token lookup" if isinstance(cfg, TokenAuth) else f"login at auth/{cfg.mount}"
        try:
            if isinstance(cfg, TokenAuth):
                client.token = creds[0]
                try:
                    data = client.auth.token.lookup_self()["data"]
                except (hvac.exceptions.Forbidden, hvac.exceptions.Unauthorized) as exc:
                    if _token_rejected(exc):
                        # Not "logged in": the first real call reports the rejected token.
                        redaction.register(client.token)
                        self._logged_in = True
                        self._grant({})
                        log.debug("vault_token_unverified", sink=self.sink, method=self.method)
                        return
                    data = {}  # valid, but its policy does not grant lookup-self
                grant = {"lease_duration": data.get("ttl", 0), "renewable": data.get("renewable")}
            elif isinstance(cfg, AppRoleAuth):
                grant = client.auth.approle.login(*creds, mount_point=cfg.mount)["auth"]
            else:
                response = client.auth.kubernetes.login(cfg.role, creds[0], mount_point=cfg.mount)
                grant = response["auth"]
        except (
            hvac.exceptions.InvalidRequest,
            hvac.exceptions.Forbidden,
            hvac.exceptions.Unauthorized,
            hvac.exceptions.InvalidPath,
        ) as exc:
            reason = one_line(redaction.scrub(", ".join(exc.errors or []) or type(exc).__name__))
            if "namespace not found" in reason:
                raise  # not a login problem: the sink reports the namespace
            raise SinkAuthError(
                f"vault sink {self.sink}: {self.method} {where} was refused ({reason}); "
                "check the role and its credentials"
            ) from exc
        redaction.register(client.token, slot=f"vault:{self.sink}")
        self._logged_in = True
        self._grant(grant)
        _sink_event(log.info, "vault_logged_in", sink=self.sink, method=self.method, ttl=self._ttl)

    def _renew(self, client: Any) -> None:
        import hvac.exceptions  # noqa: PLC0415

        if self._renewable:
            previous = self._ttl
            try:
                self._grant(client.auth.token.renew_self()["auth"])
            except hvac.exceptions.VaultError as exc:
                # Revoked, not renewable after all, or "past the max TTL, cannot renew",
                # which Vault and OpenBao answer with a 500: a fresh login is the cure.
                self._renewable = False
                log.debug("vault_renew_refused", sink=self.sink, error_type=type(exc).__name__)
            else:
                _sink_event(log.debug, "vault_token_renewed", sink=self.sink, ttl=self._ttl)
                if self._ttl > previous / 2:
                    return
        if self.method != "token":
            # Not renewable, refused, or capped by its max TTL: log in afresh rather
            # than renew ever shorter. A static token is left to be reported by the call.
            self._login(client)

    def _grant(self, auth: Mapping[str, Any]) -> None:
        self._ttl = float(auth.get("lease_duration") or 0)
        self._renewable = bool(auth.get("renewable"))
        self._expires = time.monotonic() + self._ttl

    def _credentials(self, *, runtime: bool = False) -> tuple[str, ...]:
        """The credentials: missing ones raise ConfigError, at runtime SinkAuthError."""
        try:
            return self._read_credentials()
        except ConfigError as exc:
            if not runtime:
                raise
            raise SinkAuthError(f"vault sink {self.sink}: {exc}") from exc

    def _read_credentials(self) -> tuple[str, ...]:
        cfg = self.config
        if isinstance(cfg, KubernetesAuth):
            jwt = credentials.read_secret_file(cfg.jwt_file, "Kubernetes service account token")
            return (jwt.get_secret_value(),)
        if isinstance(cfg, TokenAuth):
            return (self._find("Vault token", "token_file", cfg.token_file, "VAULT_TOKEN"),)
        redaction.register(cfg.role_id, pinned=True)
        role_id = cfg.role_id or self._find(
            "AppRole role_id", "role_id_file", cfg.role_id_file, "VAULT_ROLE_ID"
        )
        secret_id = self._find(
            "AppRole secret_id", "secret_id_file", cfg.secret_id_file, "VAULT_SECRET_ID"
        )
        return role_id, secret_id

    def _find(self, what: str, key: str, file: Path | None, env_var: str) -> str:
        credential = env_var.lower()
        found = credentials.resolve(
            what, file=file, env_var=env_var, credential=credential, environ=self._env
        )
        # Like the Vault CLI, fall back to the token file `vault login` writes.
        home = Path(self._env.get("HOME") or Path.home()) / ".vault-token"
        if found is None and env_var == "VAULT_TOKEN" and home.is_file():
            found = credentials.read_secret_file(home, what)
        if found is None:
            raise ConfigError(
                f"no {what}: set sinks.{self.sink}.auth.{key}, {env_var} or "
                f"$CREDENTIALS_DIRECTORY/{credential}"
                + (" (or log in with the Vault CLI)" if env_var == "VAULT_TOKEN" else "")
            )
        return found.get_secret_value()


def _sink_event(emit: Any, event: str, **fields: Any) -> None:
    """Log an event of the sink's token, without the target bound for the call at hand.

    The token is the sink's, shared by every target: the target whose call
    happened to log in (or renew) is no part of the event. The engine binds
    ``target`` in structlog's context variables; ``emit`` runs in a copy of the
    context with it unbound, so the caller's context is left as it was.
    """

    def unbound() -> None:
        structlog.contextvars.unbind_contextvars("target")
        emit(event, **fields)

    contextvars.copy_context().run(unbound)


def _token_rejected(exc: Any) -> bool:
    """Whether Vault's refusal of ``lookup-self`` means the token itself is not valid.

    Vault and OpenBao refuse an unknown, expired or revoked token before any
    policy is consulted, with the bare error ``permission denied`` (some
    versions: ``invalid token``). A valid token whose policy lacks
    ``auth/token/lookup-self`` is refused by the ACL check, whose error comes
    wrapped (``1 error occurred: * permission denied``): a policy matter.
    """
    errors = [str(error).strip() for error in (exc.errors or [])]
    return not errors or errors == ["permission denied"] or any(
        "invalid token" in error for error in errors
    )
