"""Tests for what the built-in HTTP providers share: the API key's sources and the safe base URLs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pydantic import SecretStr

from syncd import redaction
from syncd.errors import ConfigError
from syncd.providers.casedev import CaseDevConfig, CaseDevProvider
from syncd.providers.neon import NeonConfig, NeonProvider
from tests.support.casedevapi import KEY


@pytest.mark.parametrize(
    "base_url",
    [
        "https://cdk_live_secretkey@api.case.dev",
        "https://user:cdk_live_secretkey@api.case.dev",
        "http://cdk_live_secretkey@127.0.0.1:8080",
    ],
)
def test_credentials_in_base_url_are_a_config_error(base_url: str) -> None:
    """A key in the base URL's userinfo is refused as config, and never echoed."""
    with pytest.raises(ConfigError, match="credentials in the URL") as info:
        CaseDevProvider("casedev", api_key=SecretStr(KEY), base_url=base_url)
    assert "cdk_live_secretkey" not in str(info.value)


def test_credentials_in_casedev_base_url_env_are_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CASEDEV_BASE_URL with userinfo is refused like the config key."""
    monkeypatch.setenv("CASEDEV_API_KEY", KEY)
    monkeypatch.setenv("CASEDEV_BASE_URL", "https://k:cdk_live_secretkey@api.case.dev")
    with pytest.raises(ConfigError, match=r"providers\.casedev\.base_url") as info:
        CaseDevProvider.from_config("casedev", CaseDevConfig())
    assert "cdk_live_secretkey" not in str(info.value)


@pytest.mark.parametrize(
    ("base_url", "allowed"),
    [
        ("http://api.case.dev", False),
        ("http://10.0.0.8:8080", False),
        ("http://127.0.0.1:8080", True),
        ("http://127.8.9.10", True),
        ("http://localhost:8080", True),
        ("http://[::1]:8080", True),
        ("https://api.case.dev", True),
    ],
)
def test_plain_http_is_only_for_loopback(base_url: str, allowed: bool) -> None:
    """http:// beyond loopback is refused (the key would travel in clear) unless allowed."""
    if allowed:
        CaseDevProvider("casedev", api_key=SecretStr(KEY), base_url=base_url).close()
    else:
        with pytest.raises(ConfigError, match="allow_insecure_http: true"):
            CaseDevProvider("casedev", api_key=SecretStr(KEY), base_url=base_url)
    config = CaseDevConfig(base_url=base_url, allow_insecure_http=True)  # type: ignore[arg-type]
    with monkeypatch_env({"CASEDEV_API_KEY": KEY}):
        CaseDevProvider.from_config("casedev", config).close()


@contextmanager
def monkeypatch_env(values: dict[str, str]) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in values.items():
            mp.setenv(key, value)
        yield


def test_missing_api_key_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without api_key_file, $NEON_API_KEY or a systemd credential, from_config names all three."""
    monkeypatch.delenv("NEON_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="NEON_API_KEY"):
        NeonProvider.from_config("neon", NeonConfig())


def test_api_key_from_credentials_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key is found in $CREDENTIALS_DIRECTORY/neon_api_key and pinned for redaction."""
    monkeypatch.delenv("NEON_API_KEY", raising=False)
    (tmp_path / "neon_api_key").write_text("napi_from_systemd_cred\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    p = NeonProvider.from_config("neon", NeonConfig())
    p.close()
    assert "napi_from_systemd_cred" not in redaction.scrub("key napi_from_systemd_cred")


def test_a_key_given_directly_is_pinned_for_redaction() -> None:
    """A provider built with a key nobody registered (a test, a plugin) still masks it in logs."""
    CaseDevProvider("casedev", api_key=SecretStr("cdk_live_unregistered_1")).close()
    assert redaction.scrub("key cdk_live_unregistered_1") == "key ***"


@pytest.mark.parametrize(
    "keys",
    [{"timeout": 0}, {"timeout": 301}, {"max_attempts": 0}, {"max_attempts": 11}, {"burst": 0.5}],
)
def test_the_shared_keys_are_bounded(keys: dict[str, float]) -> None:
    """A zero or huge timeout, attempts outside 1-10, or a burst below one are refused."""
    with pytest.raises(ValueError, match=next(iter(keys))):
        CaseDevConfig(**keys)  # type: ignore[arg-type]


def test_from_config_reads_the_key_from_its_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each vendor's class names its own variable: NEON_API_KEY for Neon, pinned for redaction."""
    monkeypatch.setenv("NEON_API_KEY", "napi_from_the_environment")
    NeonProvider.from_config("neon", NeonConfig()).close()
    assert redaction.scrub("napi_from_the_environment") == "***"
