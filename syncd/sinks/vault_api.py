"""The Vault sink's calls: a checked mount, a fresh token, bounded retries, our errors.

Every call of :class:`~syncd.sinks.vault.VaultSink` goes through
:meth:`VaultApi.call`. The first one checks that the mount is KV v2 (through
``sys/internal/ui/mounts``, which least-privilege tokens may read, unlike
``sys/mounts``). Each makes sure the token is valid first
(:class:`~syncd.sinks.vault_auth.VaultAuth`), logs in once more after a
refusal that turns out to be an invalidated token, and retries a call that a
rate-limit quota refused with 429 a few times: a quota refuses a request
before Vault acts on it, so a retry cannot apply a write twice. hvac's and
``requests``' exceptions become syncd's errors here, with a message that says
which capability on which path the token's policy must grant.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import structlog

from syncd import errors
from syncd.net.observe import RequestObserver
from syncd.net.untrusted import one_line
from syncd.redaction import scrub
from syncd.sinks.vault_auth import VaultAuth

#: Calls are logged under the sink's module, the name operators know from its log lines.
log = structlog.get_logger("syncd.sinks.vault")


class VaultApi:
    """The calls of one Vault sink to its KV v2 ``mount`` through an hvac client."""

    def __init__(
        self, name: str, client: Any, *, mount: str, auth: VaultAuth | None, attempts: int
    ) -> None:
        """``attempts``: of one call that Vault answers with 429 (the first included)."""
        self.name = name
        self.mount = mount
        self.observer: RequestObserver | None = None
        self._client = client
        self._auth = auth  # None: the injected client's token is used as it is
        self._attempts = attempts
        self._lock = threading.Lock()
        self._kv2 = False

    def call(self, capability: str, path: str, fn: Callable[[], Any], *, check: bool = True) -> Any:
        """One API call: checked mount, fresh token, bounded retries.

        One re-login after an invalidated token, and up to ``attempts`` attempts
        while a quota answers 429: each retry waits in the sink's bucket
        (:mod:`syncd.sinks.vault_pacing`), which the 429 slowed down and paused
        for ``Retry-After``. ``check=False`` skips the mount check (the check's own call).
        Raises :class:`Denied` (a :class:`~syncd.errors.SinkAuthError`) and the
        other :class:`~syncd.errors.SinkError` subclasses of the translation.
        """
        if check:
            self._check_mount()
        api_path = path if path.startswith("sys/") else f"{self.mount}/{path}"
        relogged = False
        throttled = 0
        while True:
            token = self._client.token
            try:
                with self._translated(capability, api_path):
                    if self._auth is not None:
                        self._auth.ensure(self._client)
                        token = self._client.token
                    result = fn()
                    log.debug("vault_call", sink=self.name, path=api_path)
                    return result
            except Throttled:
                throttled += 1
                if throttled >= self._attempts:
                    raise
                log.debug("vault_throttled", sink=self.name, path=api_path, attempt=throttled)
            except Denied as denied:
                if relogged or self._auth is None:
                    raise
                relogged = True
                with self._translated(capability, api_path):
                    retry = self._auth.recover(self._client, token, str(denied))
                if not retry:
                    raise

    def _check_mount(self) -> None:
        """Once: is the mount KV v2? (works for least-privilege tokens, unlike sys/mounts)."""
        with self._lock:
            if self._kv2:
                return
            where = f"vault sink {self.name}: mount {self.mount}/"
            try:
                mount = self.call(
                    "read",
                    f"sys/internal/ui/mounts/{self.mount}",
                    lambda: self._client.adapter.get(f"/v1/sys/internal/ui/mounts/{self.mount}"),
                    check=False,
                )["data"]
            except (Denied, errors.SecretNotFound) as exc:
                raise errors.SinkError(
                    f"{where} does not exist, or the token's policies allow nothing under it"
                ) from exc
            if mount.get("path") != f"{self.mount}/":
                inside = one_line(str(mount.get("path")), 128)
                raise errors.SinkError(
                    f"{where} is not a mount but a path inside {inside}; set "
                    f"mount: {inside.rstrip('/')} and move the rest into the secret"
                )
            if mount.get("type") not in ("kv", "generic"):
                kind = one_line(str(mount.get("type")), 64)
                raise errors.SinkError(f"{where} is a {kind} secrets engine, not KV v2")
            if (mount.get("options") or {}).get("version") != "2":
                # 'vault secrets enable -version=2' fails here: the mount exists already.
                raise errors.SinkError(
                    f"{where} is KV version 1; syncd needs KV v2: upgrade it in place with "
                    f"'vault kv enable-versioning {self.mount}/'"
                )
            self._kv2 = True

    @contextlib.contextmanager
    def _translated(self, capability: str, api_path: str) -> Iterator[None]:
        import hvac.exceptions  # noqa: PLC0415 - imported by VaultSink.from_config
        import requests  # noqa: PLC0415 - hvac's transport

        where = f"vault sink {self.name}: {api_path}"
        url = self._client.adapter.base_uri
        try:
            yield
        except (hvac.exceptions.Forbidden, hvac.exceptions.Unauthorized) as exc:
            raise Denied(
                f"{where}: permission denied; the token's policy must grant "
                f"{capability} on {api_path}"
            ) from exc
        except hvac.exceptions.InvalidPath as exc:
            raise self._missing(where, exc.errors) from exc
        except hvac.exceptions.InvalidRequest as exc:
            text = one_line(scrub(" ".join(exc.errors or [])), 300)
            if "check-and-set" in text:
                raise errors.SinkConflict(
                    f"{where}: written by someone else since it was inspected"
                ) from exc
            raise errors.SinkError(f"{where}: Vault rejected the request: {text}") from exc
        except hvac.exceptions.RateLimitExceeded as exc:
            raise Throttled(
                f"vault sink {self.name}: Vault at {url} refused {api_path} with 429: a "
                f"rate-limit quota; lower sinks.{self.name}.rate_limit under it"
            ) from exc
        except (
            hvac.exceptions.VaultDown,
            hvac.exceptions.InternalServerError,
            hvac.exceptions.BadGateway,
            hvac.exceptions.VaultNotInitialized,
            hvac.exceptions.PreconditionFailed,
        ) as exc:
            state = "sealed or down" if isinstance(exc, hvac.exceptions.VaultDown) else "busy"
            raise errors.SinkUnavailable(
                f"vault sink {self.name}: Vault at {url} is {state} ({type(exc).__name__})"
            ) from exc
        except hvac.exceptions.VaultError as exc:
            text = one_line(scrub(" ".join(exc.errors or []) or type(exc).__name__), 300)
            raise errors.SinkError(f"{where} failed: {text}") from exc
        except requests.exceptions.RequestException as exc:
            tls = isinstance(exc, requests.exceptions.SSLError)
            if self.observer is not None:  # no response: the session hook never saw it
                self.observer.request("sink", self.name, "error" if tls else "unavailable")
            if tls:
                raise errors.SinkError(
                    f"vault sink {self.name}: TLS verification of {url} failed; set "
                    f"sinks.{self.name}.ca_cert (or VAULT_CACERT) to the CA of Vault's certificate"
                ) from exc
            raise errors.SinkUnreachable(
                f"vault sink {self.name}: cannot reach Vault at {url} ({type(exc).__name__})"
            ) from exc

    def _missing(self, where: str, reasons: list[str] | None) -> errors.SinkError:
        """What Vault's 404 means: no such namespace, no such mount, or no such secret."""
        text = " ".join(reasons or [])
        if "namespace not found" in text:
            missing = f"Vault namespace {self._client.adapter.namespace}"
        elif "no handler for route" in text:
            missing = f"mount {self.mount}/"
        else:
            return errors.SecretNotFound(f"{where}: not found")
        return errors.SinkError(f"vault sink {self.name}: {missing} does not exist")


class Denied(errors.SinkAuthError):
    """Permission denied; :meth:`VaultApi.call` logs in again and retries once."""


class Throttled(errors.SinkUnavailable):
    """A rate-limit quota answered 429; :meth:`VaultApi.call` retries a few times."""
