"""What the built-in HTTP providers (case.dev, Neon) share: config keys, constructor, API key.

Both speak to a vendor's JSON API with a bearer key, so both take the same
``providers.<name>`` keys (:class:`HttpProviderConfig`), resolve the key the
same way (a file, an environment variable or a systemd credential, through
:mod:`syncd.config.credentials`), refuse the same unsafe base URLs, and build
one :class:`~syncd.providers.api.ApiClient`. :class:`HttpProvider` writes that
once; a vendor's class sets the names (:attr:`~HttpProvider.vendor`,
:attr:`~HttpProvider.key_env`, ...) and keeps its endpoints and answers to itself.

This base is for the built-ins only: a third-party provider implements the
small :class:`~syncd.providers.base.Provider` Protocol and may use
:mod:`syncd.providers.api`'s helpers without inheriting anything.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Self, TypedDict

import httpx
from pydantic import Field, HttpUrl, SecretStr

from syncd import redaction
from syncd.config import credentials
from syncd.config.strict import PluginConfig
from syncd.core import timebox
from syncd.net.observe import RequestObserver
from syncd.net.ratelimit import TokenBucket
from syncd.net.retry import Backoff
from syncd.providers import api


class HttpProviderConfig(PluginConfig):
    """The ``providers.<name>`` keys every built-in HTTP provider takes."""

    base_url: HttpUrl | None = None
    api_key_file: Path | None = None
    timeout: float = Field(default=10.0, gt=0, le=300)
    max_attempts: int = Field(default=4, ge=1, le=10)
    rate_limit: float | None = Field(default=None, gt=0)
    burst: float | None = Field(default=None, ge=1)
    allow_insecure_http: bool = Field(
        default=False, description="allow http:// to a host that is not loopback"
    )


class HttpOptions(TypedDict, total=False):
    """The keyword arguments of :class:`HttpProvider` a subclass passes through unchanged."""

    base_url: str
    timeout: float
    backoff: Backoff | None
    rate_limit: float | None
    burst: float | None
    allow_insecure_http: bool
    transport: httpx.BaseTransport | None
    sleep: Callable[[float], None]
    clock: Callable[[], float]


class HttpProvider:
    """A provider whose answers come from one vendor's JSON API; thread-safe.

    ``transport``, ``sleep`` and ``clock`` are injected by tests; ``rate_limit``
    (requests per second, None: adapt to the API's throttling only) and
    ``burst`` set the client-side limiter.
    """

    #: The vendor's name in messages ("case.dev", "Neon").
    vendor: ClassVar[str]
    #: The environment variable holding the API key, and the systemd credential's name.
    key_env: ClassVar[str]
    credential: ClassVar[str]
    default_base_url: ClassVar[str]
    #: An environment variable that may set the base URL (None: only the config does).
    base_url_env: ClassVar[str | None] = None
    config_model: ClassVar[type[HttpProviderConfig]]

    def __init__(
        self,
        name: str,
        *,
        api_key: SecretStr,
        base_url: str | None = None,
        timeout: float = 10.0,
        backoff: Backoff | None = None,
        rate_limit: float | None = None,
        burst: float | None = None,
        allow_insecure_http: bool = False,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = timebox.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        base_url = base_url or self.default_base_url
        api.check_base_url(
            name,
            base_url,
            allow_insecure_http=allow_insecure_http,
            key_hint=f"{self.key_env} or api_key_file",
        )
        self.name = name
        # Whoever built the key (a test, a plugin) may not have registered it.
        redaction.register(api_key.get_secret_value(), pinned=True)
        self._sleep = sleep
        self._clock = clock
        self._api = api.ApiClient(
            self.vendor,
            name,
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            backoff=backoff,
            bucket=self._bucket(rate_limit, burst),
            transport=transport,
            sleep=sleep,
            clock=clock,
        )

    @classmethod
    def from_config(cls, name: str, config: HttpProviderConfig) -> Self:
        """Build the provider, resolving the API key from config, env or systemd credentials."""
        api_key = credentials.require_api_key(
            f"{cls.vendor} API key",
            name,
            file=config.api_key_file,
            env_var=cls.key_env,
            credential=cls.credential,
        )
        from_env = os.environ.get(cls.base_url_env) if cls.base_url_env else None
        return cls(
            name,
            api_key=api_key,
            base_url=str(config.base_url or from_env or cls.default_base_url),
            timeout=config.timeout,
            backoff=Backoff(attempts=config.max_attempts),
            rate_limit=config.rate_limit,
            burst=config.burst,
            allow_insecure_http=config.allow_insecure_http,
        )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._api.close()

    def observe(self, observer: RequestObserver) -> None:
        """Report every HTTP attempt, retries included, to ``observer`` (see syncd.net.observe)."""
        self._api.observe(observer)

    def _bucket(self, rate_limit: float | None, burst: float | None) -> TokenBucket:
        """The limiter; without a rate it only slows down on 429s and x-ratelimit-* headers."""
        return TokenBucket(rate_limit, burst, name=f"{self.vendor} provider {self.name}")

