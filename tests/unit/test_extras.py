"""Tests for importing a plugin's optional SDK, or naming the extra that installs it."""

from __future__ import annotations

import json
import sys

import pytest

from syncd.errors import ConfigError
from syncd.extras import require


def test_an_installed_module_is_returned() -> None:
    """require() returns the imported module when it is installed."""
    assert require("json", extra="none", plugin="test plugin") is json


def test_a_missing_module_names_the_plugin_and_the_extra() -> None:
    """A missing SDK is a ConfigError naming the plugin, its top-level package and the pip command."""
    with pytest.raises(ConfigError) as info:
        require("no_such_sdk_pkg.client", extra="nosuch", plugin="sink 'x'")
    assert str(info.value) == (
        "sink 'x' needs the Python package no_such_sdk_pkg, which is not installed; "
        "install syncd with it: pip install 'syncd[nosuch]'"
    )


def test_a_blocked_module_is_missing_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """A module that fails to import (as if uninstalled) is reported the same way, with its cause kept."""
    monkeypatch.setitem(sys.modules, "botocore", None)
    with pytest.raises(ConfigError, match=r"pip install 'syncd\[aws\]'") as info:
        require("botocore", extra="aws", plugin="aws-secrets-manager")
    assert isinstance(info.value.__cause__, ImportError)
