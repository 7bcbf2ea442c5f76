"""Finding credentials in the places deployments put them.

Credentials never come from the command line. They are looked up, in order,
in an explicitly configured file, an environment variable, and a file named
after the credential in systemd's ``$CREDENTIALS_DIRECTORY`` (``LoadCredential=``).
Whatever is found is registered for redaction before it is returned, never to
age out however many database credentials rotate after it: a file's content
under a slot named after the file (a rotated file, such as a Kubernetes
service account token, replaces its old content after a grace generation),
an environment variable's value pinned for the life of the process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import SecretStr

from syncd import redaction
from syncd.errors import ConfigError


def read_secret_file(path: Path, what: str) -> SecretStr:
    """Read a secret from a file (trailing newline stripped)."""
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} from {path}: {exc.strerror}") from None
    if not value:
        raise ConfigError(f"{what} file {path} is empty")
    redaction.register(value, slot=f"file:{path}")
    return SecretStr(value)


def resolve(
    what: str,
    *,
    file: Path | None = None,
    env_var: str | None = None,
    credential: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> SecretStr | None:
    """Return the credential from ``file``, ``$env_var`` or ``$CREDENTIALS_DIRECTORY/credential``.

    Returns None when none of them is set; a configured but unreadable file is
    a :class:`ConfigError`.
    """
    env = os.environ if environ is None else environ
    if file is not None:
        return read_secret_file(file, what)
    if env_var and env.get(env_var, "").strip():
        value = env[env_var].strip()
        redaction.register(value, pinned=True)
        return SecretStr(value)
    directory = env.get("CREDENTIALS_DIRECTORY")
    if credential and directory:
        candidate = Path(directory) / credential
        if candidate.is_file():
            return read_secret_file(candidate, what)
    return None


def require_api_key(
    what: str, provider: str, *, file: Path | None, env_var: str, credential: str
) -> SecretStr:
    """:func:`resolve` for a provider's API key; none found is a :class:`ConfigError`.

    The message names the three places the key may come from, so an operator
    knows where to put one.
    """
    key = resolve(what, file=file, env_var=env_var, credential=credential)
    if key is None:
        raise ConfigError(
            f"providers.{provider}: no {what}; set {env_var}, "
            f"providers.{provider}.api_key_file, or a '{credential}' systemd credential"
        )
    return key
