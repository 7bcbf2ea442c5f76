"""Importing an optional vendor SDK, or saying which extra of syncd installs it.

The built-in sinks import botocore or hvac only when one is configured (a
Vault-only deployment never imports botocore), and :mod:`syncd.plugins`
reports the same extras when it lists plugins. This module sits below both,
so a sink never imports the discovery module to load its SDK.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from syncd.errors import ConfigError


def require(module: str, *, extra: str, plugin: str) -> ModuleType:
    """Import a plugin's optional dependency, or explain which extra installs it.

    A missing SDK is a configuration problem (:class:`ConfigError` naming
    ``plugin`` and the ``pip install 'syncd[extra]'`` that fixes it), not a crash.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = module.split(".", maxsplit=1)[0]
        raise ConfigError(
            f"{plugin} needs the Python package {package}, which is not installed; "
            f"install syncd with it: pip install 'syncd[{extra}]'"
        ) from exc
