"""Tests for syncd.config.credentials: a file, then an environment variable, then a systemd credential."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd import redaction
from syncd.config.credentials import read_secret_file, require_api_key, resolve
from syncd.errors import ConfigError

FROM_FILE = "key-from-file-4f1c9a7e"
FROM_ENV = "key-from-env-8b2d6e0f"
FROM_CREDS = "key-from-creds-3a9e5c1d"


@pytest.fixture
def places(tmp_path: Path) -> dict[str, Path]:
    """A configured key file and a credentials directory, each holding a different key."""
    key_file = tmp_path / "api_key"
    key_file.write_text(FROM_FILE + "\n")
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "casedev_api_key").write_text(FROM_CREDS + "\n")
    return {"file": key_file, "creds": creds}


def _resolve(places: dict[str, Path], *, file: bool, env: bool, creds: bool) -> str | None:
    environ = {}
    if env:
        environ["CASEDEV_API_KEY"] = FROM_ENV
    if creds:
        environ["CREDENTIALS_DIRECTORY"] = str(places["creds"])
    found = resolve(
        "case.dev API key",
        file=places["file"] if file else None,
        env_var="CASEDEV_API_KEY",
        credential="casedev_api_key",
        environ=environ,
    )
    return None if found is None else found.get_secret_value()


def test_a_configured_file_comes_first_then_the_environment_then_systemd(
    places: dict[str, Path],
) -> None:
    """The explicit file beats the variable, which beats $CREDENTIALS_DIRECTORY/<credential>."""
    assert _resolve(places, file=True, env=True, creds=True) == FROM_FILE
    assert _resolve(places, file=False, env=True, creds=True) == FROM_ENV
    assert _resolve(places, file=False, env=False, creds=True) == FROM_CREDS
    assert _resolve(places, file=False, env=False, creds=False) is None


def test_a_blank_variable_counts_as_unset_and_values_are_stripped(places: dict[str, Path]) -> None:
    """Whitespace around a key is dropped, and a variable of only whitespace falls through."""
    environ = {"CASEDEV_API_KEY": "  \n", "CREDENTIALS_DIRECTORY": str(places["creds"])}
    found = resolve("key", env_var="CASEDEV_API_KEY", credential="casedev_api_key", environ=environ)
    assert found is not None and found.get_secret_value() == FROM_CREDS
    found = resolve("key", env_var="K", environ={"K": f"  {FROM_ENV}\t"})
    assert found is not None and found.get_secret_value() == FROM_ENV


def test_a_credential_that_is_not_a_file_is_skipped(tmp_path: Path) -> None:
    """A directory named like the credential is not read: nothing is found."""
    (tmp_path / "casedev_api_key").mkdir()
    environ = {"CREDENTIALS_DIRECTORY": str(tmp_path)}
    assert resolve("key", credential="casedev_api_key", environ=environ) is None


def test_whatever_is_found_is_registered_for_redaction(places: dict[str, Path]) -> None:
    """Keys from a file, the environment and systemd are masked in logs from then on."""
    _resolve(places, file=True, env=False, creds=False)
    _resolve(places, file=False, env=True, creds=False)
    _resolve(places, file=False, env=False, creds=True)
    text = redaction.scrub(f"{FROM_FILE} {FROM_ENV} {FROM_CREDS}")
    assert FROM_FILE not in text and FROM_ENV not in text and FROM_CREDS not in text


def test_an_unreadable_file_is_a_config_error_naming_the_path(tmp_path: Path) -> None:
    """A configured file that cannot be read fails with what and where, never silently None."""
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError, match=r"cannot read vault token from .*nope: No such file"):
        read_secret_file(missing, "vault token")


def test_an_empty_file_is_a_config_error(tmp_path: Path) -> None:
    """A file with only a newline is refused rather than used as an empty key."""
    empty = tmp_path / "key"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match=r"vault token file .*key is empty"):
        read_secret_file(empty, "vault token")


def test_a_missing_api_key_names_all_three_places(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no key anywhere the error tells the operator the variable, the config key and the credential."""
    monkeypatch.delenv("CASEDEV_API_KEY", raising=False)
    with pytest.raises(ConfigError) as info:
        require_api_key(
            "API key",
            "cd",
            file=None,
            env_var="CASEDEV_API_KEY",
            credential="casedev_api_key",
        )
    assert str(info.value) == (
        "providers.cd: no API key; set CASEDEV_API_KEY, "
        "providers.cd.api_key_file, or a 'casedev_api_key' systemd credential"
    )


def test_a_present_api_key_is_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    """require_api_key finds the key in the process environment like resolve() does."""
    monkeypatch.setenv("CASEDEV_API_KEY", FROM_ENV)
    key = require_api_key(
        "API key", "cd", file=None, env_var="CASEDEV_API_KEY", credential="casedev_api_key"
    )
    assert key.get_secret_value() == FROM_ENV
