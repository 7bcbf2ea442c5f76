"""A case.dev-compatible database API, for tests and the demo.

It speaks the documented endpoint
``GET /database/v1/projects/{id}/connection?branch=&pooled=`` with bearer
authentication and answers ``{connectionUri, branch, pooled}``. What each
project and branch returns is set by the test (:meth:`FakeCaseDev.set_branch`),
so a test can point it at a real database and rotate credentials. Faults are
injected with :meth:`FakeCaseDev.fail_next`, including hostile ones: a body
sent as given (say, gzip with ``Content-Encoding: gzip``), and over HTTP a body
that trickles out one byte at a time (:attr:`Fault.trickle`).

Use :meth:`FakeCaseDev.handle` with ``httpx.MockTransport`` for unit tests, or
:meth:`FakeCaseDev.serve` for a real HTTP server on loopback::

    with FakeCaseDev(api_key="k").serve() as server:
        server.base_url  # http://127.0.0.1:PORT

To try a configuration without an account, run it on its own (:func:`main`)::

    python -m syncd.testing.casedev [--port N] [--secrets-dir DIR]
"""

from __future__ import annotations

import argparse
import re
import secrets
import sys
import tempfile
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TextIO
from urllib.parse import unquote

import httpx

# Fault, SeenRequest, RunningServer and respond were first defined here, and tests
# and plugins import them from here.
from syncd.testing.standin import (
    Answering,
    Fault,
    Faults,
    RunningServer,
    SeenRequest,
    json_response,
    respond,
    serving,
)

__all__ = [
    "Answering",
    "FakeCaseDev",
    "Fault",
    "RunningServer",
    "SeenRequest",
    "main",
    "respond",
]

_PATH = re.compile(r"^/database/v1/projects/([^/]+)/connection$")


class FakeCaseDev:
    """The API's behaviour, independent of how requests reach it. Thread-safe."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self._branches: dict[tuple[str, str], tuple[str, str]] = {}
        self._faults = Faults()
        self._lock = threading.Lock()
        self.requests: list[SeenRequest] = []

    def set_branch(self, project: str, branch: str, *, direct: str, pooled: str) -> None:
        """Make ``project``/``branch`` answer with these direct and pooled URIs."""
        with self._lock:
            self._branches[(project, branch)] = (direct, pooled)

    def remove_branch(self, project: str, branch: str) -> None:
        """Forget a branch (it then answers 404)."""
        with self._lock:
            self._branches.pop((project, branch), None)

    def fail_next(self, fault: Fault, times: int = 1) -> None:
        """Answer the next ``times`` authorised requests with ``fault``."""
        self._faults.add(fault, times)

    def clear_faults(self) -> None:
        """Drop faults not yet served."""
        self._faults.clear()

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request (the ``httpx.MockTransport`` handler)."""
        return respond(self._answer(request))

    def _answer(self, request: httpx.Request) -> httpx.Response | Fault:
        seen = SeenRequest.of(request, request.url.path, api_key=self.api_key)
        params = seen.params
        with self._lock:
            self.requests.append(seen)
        match = _PATH.match(request.url.raw_path.decode("ascii").split("?")[0])
        if request.method != "GET" or match is None:
            return json_response(404, {"error": "Not Found"})
        if not seen.authorized:
            return json_response(401, {"error": "Unauthorized", "message": "Invalid API key"})
        fault = self._faults.next()
        if fault is not None:
            return fault
        project = unquote(match.group(1))
        branch = params.get("branch", "main")
        pooled_param = params.get("pooled", "false")
        if pooled_param not in ("true", "false"):
            return json_response(400, {"error": "pooled must be true or false"})
        pooled = pooled_param == "true"
        with self._lock:
            uris = self._branches.get((project, branch))
            known_project = any(p == project for p, _ in self._branches)
        if uris is None:
            what = "Branch not found" if known_project else "Project not found"
            return json_response(404, {"error": what})
        return json_response(
            200,
            {"connectionUri": uris[1] if pooled else uris[0], "branch": branch, "pooled": pooled},
        )

    def serve(
        self, host: str = "127.0.0.1", port: int = 0
    ) -> AbstractContextManager[RunningServer]:
        """Serve this API over real HTTP on loopback until the block exits."""
        return serving(self, host, port, "fake-casedev")


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    """``python -m syncd.testing.casedev``: this API on its own, to try syncd without an account.

    Serves the sample project of :mod:`syncd.testing.sample` on 127.0.0.1
    (``--port``, default a free port) under a freshly generated API key,
    prints the base URL, the ``export CASEDEV_API_KEY=...`` line and a syncd
    config between ``---`` and ``...`` whose file sink writes into
    ``--secrets-dir`` (default: a new temporary directory, kept at exit), then
    serves until SIGINT or SIGTERM and returns 0. The key is a throwaway that
    only this process accepts, so printing it is fine.
    """
    # Only the command needs these; the fake itself is imported by every test.
    import yaml  # noqa: PLC0415

    from syncd.daemon.signals import STOP_SIGNALS, Inbox  # noqa: PLC0415
    from syncd.testing.sample import BRANCHES, PROJECT, SampleProject, sample_config  # noqa: PLC0415

    parser = argparse.ArgumentParser(
        prog="python -m syncd.testing.casedev",
        description="Serve a case.dev-compatible API with a sample project, to try syncd.",
    )
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    parser.add_argument(
        "--secrets-dir",
        type=Path,
        help="directory for the sample config's file sink (default: a new temporary one)",
    )
    args = parser.parse_args(argv)
    directory = args.secrets_dir or Path(tempfile.mkdtemp(prefix="syncd-standin-"))
    api = FakeCaseDev("standin_" + secrets.token_urlsafe(24))
    SampleProject(api)
    inbox = Inbox()
    # Signals are routed before the first line is printed: a caller that
    # reacts to it with SIGTERM must not kill the process unhandled.
    inbox.install(STOP_SIGNALS)
    try:
        with api.serve(port=args.port) as server:
            config = yaml.safe_dump(
                sample_config(server.base_url, directory.resolve()), sort_keys=False
            )
            out.write(
                f"case.dev stand-in at {server.base_url}: project {PROJECT}, "
                f"branches {', '.join(BRANCHES)}\n\n"
                f"export CASEDEV_API_KEY={api.api_key}\n\n"
                "# A syncd config for it; save it as syncd.yaml, export the key above and run\n"
                "#   syncd run --once --config syncd.yaml\n"
                f"---\n{config}...\n\n"
                "Serving until Ctrl-C or SIGTERM.\n"
            )
            out.flush()
            while not any(s in STOP_SIGNALS for s in inbox.wait(None)):
                pass
    finally:
        inbox.uninstall()
        inbox.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
