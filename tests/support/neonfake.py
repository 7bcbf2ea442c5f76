"""The Neon stand-in on MockTransport, for the Neon provider's tests and the stand-in's own.

A project with branches ``main`` (id ``MAIN_ID``, roles ``app`` and ``app_b``)
and ``dev``; the fixtures over it live in ``tests/unit/conftest.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import SecretStr

from syncd.core.models import Target
from syncd.net.retry import Backoff
from syncd.providers.neon import NeonProvider, NeonTarget
from syncd.testing.neon import FakeNeon
from tests.support.clock import Clock

KEY = "napi_test_0123456789abcdef"
PROJECT = "shiny-wind-123456"
MAIN_ID = "br-shiny-wind-a1b2c3d4"


class Passwords:
    """A fake cluster: records the passwords a finished reset sets."""

    def __init__(self) -> None:
        self.set: dict[str, str] = {}

    def __call__(self, role: str, password: str) -> None:
        self.set[role] = password


def provider(
    api: FakeNeon,
    *,
    sleeps: list[float] | None = None,
    attempts: int = 3,
    clock: Callable[[], float] = time.monotonic,
    handler: Callable[[httpx.Request], httpx.Response] | None = None,
    fake_time: Clock | None = None,
) -> NeonProvider:
    """A provider on the fake; with ``fake_time`` it sleeps and tells time only on that clock."""

    def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)
        time.sleep(min(seconds, 0.05))

    return NeonProvider(
        "neon",
        api_key=SecretStr(KEY),
        base_url="https://console.neon.tech/api/v2",
        transport=httpx.MockTransport(handler or api.handle),
        backoff=Backoff(attempts=attempts, base=0.01),
        sleep=fake_time.sleep if fake_time else sleep,
        clock=fake_time or clock,
        rate_limit=None,
    )


def target(**kw: Any) -> Target:
    """A Neon target named billing in PROJECT (database neondb, role app unless given)."""
    keys = {"database": kw.pop("database", "neondb"), "role": kw.pop("role", "app")}
    values: dict[str, Any] = {"name": "billing", "provider": "neon", "project": PROJECT, **kw}
    return Target(**values, options=NeonTarget(**keys))
