"""Liveness, readiness and the daemon's HTTP listener (``/healthz``, ``/readyz``, ``/metrics``).

Liveness (``/healthz``) answers "should this process be restarted?": it is
200 while the scheduler runs and its heartbeat (a tiny job the scheduler runs
in its own thread) is recent, so a wedged scheduler thread fails the probe
even though the HTTP thread still answers.

Readiness (``/readyz``) answers "are the secrets fresh?": 200 only when every
configured target has succeeded within ``2 x`` its interval; before a target's
first success it is 503. The body is a small JSON object that says what is
wrong, so a failing probe explains itself::

    {"ready": false, "targets": 4, "stale": {"app": "no successful sync yet"},
     "stale_by_provider": {"casedev": 1}, "stale_by_sink": {"vault": 1},
     "open_breakers": [{"kind": "provider", "name": "casedev",
                        "since": "2026-01-02T03:04:05Z"}]}

A stale target counts once for its provider and once for each of its sinks.
``open_breakers`` lists the providers and sinks whose circuit breaker
(:mod:`syncd.core.breaker`) is open; it is there whether or not the targets are
stale yet, and does not decide readiness by itself. A target retried with
backoff stays ready as long as one attempt succeeds within the bound.

The listener is a stdlib :class:`~http.server.ThreadingHTTPServer` so that no
web framework is needed; routes are plain callables, which keeps Prometheus
out of this module. Only state is kept here, bounded by the number of
configured targets.
"""

from __future__ import annotations

import errno
import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from syncd.core.breaker import OpenCircuit
from syncd.errors import ListenError
from syncd.net.serving import ServingThread

STALENESS_FACTOR = 2.0
#: The listener's ``Server`` header, by which a second daemon recognises the first.
SERVER_NAME = "syncd"
#: A heartbeat older than this many beat periods means the scheduler is stuck.
_MISSED_BEATS = 3.0

#: A route answers ``(status, content type, body)`` for the request's Accept header.
Answer = tuple[int, str, bytes]
Route = Callable[[str], Answer]
#: What a target depends on: its provider and its sinks.
Uses = tuple[str, tuple[str, ...]]


@dataclass
class _TargetState:
    interval: float
    last_success: float | None = None
    last_ok: bool | None = None


class Health:
    """What the probes and the status line report, fed by the scheduler. Thread-safe.

    ``clock`` (monotonic seconds) decides staleness and heartbeat age; tests
    inject a fake one. ``wall`` only labels the status line.
    """

    def __init__(
        self,
        *,
        beat_period: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.beat_period = beat_period
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._targets: dict[str, _TargetState] = {}
        self._running = False
        self._last_beat = clock()
        self._last_sync: float | None = None
        self._uses: dict[str, Uses] = {}
        self._open: Callable[[], Iterable[OpenCircuit]] = tuple

    def set_targets(
        self, intervals: Mapping[str, float], *, uses: Mapping[str, Uses] | None = None
    ) -> None:
        """Track exactly these targets; keep the history of ones already known.

        ``uses`` names each target's provider and sinks, by which readiness
        counts the stale targets.
        """
        with self._lock:
            self._targets = {
                name: _TargetState(interval, *self._history(name))
                for name, interval in intervals.items()
            }
            self._uses = dict(uses or {})

    def watch_breakers(self, open_breakers: Callable[[], Iterable[OpenCircuit]]) -> None:
        """Name in readiness the breakers ``open_breakers()`` returns when asked."""
        self._open = open_breakers

    def _history(self, name: str) -> tuple[float | None, bool | None]:
        old = self._targets.get(name)
        return (old.last_success, old.last_ok) if old else (None, None)

    def record(self, target: str, *, ok: bool) -> None:
        """Note the result of one sync of ``target`` (ignored if it is no longer configured)."""
        with self._lock:
            state = self._targets.get(target)
            if state is None:
                return
            state.last_ok = ok
            if ok:
                state.last_success = self._clock()
            self._last_sync = self._wall()

    def set_running(self, running: bool) -> None:
        """Note that the scheduler started or stopped."""
        with self._lock:
            self._running = running
            self._last_beat = self._clock()

    def beat(self) -> None:
        """Heartbeat from the scheduler thread."""
        self._last_beat = self._clock()

    def alive(self) -> tuple[bool, str]:
        """Whether the scheduler runs and beats, and why not."""
        with self._lock:
            if not self._running:
                return False, "scheduler not running"
            age = self._clock() - self._last_beat
        if age > _MISSED_BEATS * self.beat_period:
            return False, f"scheduler stalled: last heartbeat {age:.0f}s ago"
        return True, "ok"

    def ready(self) -> tuple[bool, str]:
        """Whether every target succeeded within its staleness bound, and which did not."""
        stale, total = self._stale()
        if stale:
            head = f"not ready: {len(stale)} of {total} target(s) stale"
            return False, "\n".join([head, *(f"{name}: {why}" for name, why in stale.items())])
        return True, f"ready: {total} target(s) fresh"

    def readiness(self) -> tuple[bool, dict[str, object]]:
        """Whether every target is fresh, and the ``/readyz`` body that says what is wrong."""
        stale, total = self._stale()
        with self._lock:
            uses = dict(self._uses)
        by_provider: dict[str, int] = {}
        by_sink: dict[str, int] = {}
        for name in stale:
            provider, sinks = uses.get(name, ("", ()))
            if provider:
                by_provider[provider] = by_provider.get(provider, 0) + 1
            for sink in sorted(set(sinks)):
                by_sink[sink] = by_sink.get(sink, 0) + 1
        body: dict[str, object] = {
            "ready": not stale,
            "targets": total,
            "stale": stale,
            "stale_by_provider": dict(sorted(by_provider.items())),
            "stale_by_sink": dict(sorted(by_sink.items())),
            "open_breakers": [
                {"kind": c.kind, "name": c.name, "since": f"{c.since:%Y-%m-%dT%H:%M:%SZ}"}
                for c in self._open()
            ],
        }
        return not stale, body

    def _stale(self) -> tuple[dict[str, str], int]:
        """Each stale target (sorted) with why, and how many targets there are."""
        now = self._clock()
        stale: dict[str, str] = {}
        with self._lock:
            targets = dict(self._targets)
        for name, state in sorted(targets.items()):
            bound = STALENESS_FACTOR * state.interval
            if state.last_success is None:
                stale[name] = "no successful sync yet"
            elif now - state.last_success > bound:
                age = now - state.last_success
                stale[name] = f"last success {age:.0f}s ago (bound {bound:.0f}s)"
        return stale, len(targets)

    def status_line(self) -> str:
        """One line for systemd's STATUS=, e.g. ``3 targets ok, 0 failed; last sync 12:00:01Z``."""
        with self._lock:
            results = [s.last_ok for s in self._targets.values()]
            last = self._last_sync
        ok, failed = results.count(True), results.count(False)
        pending = len(results) - ok - failed
        text = f"{ok} targets ok, {failed} failed"
        if pending:
            text += f", {pending} pending"
        if last is not None:
            text += f"; last sync {datetime.fromtimestamp(last, UTC):%H:%M:%S}Z"
        return text


def text_answer(ok: bool, text: str) -> Answer:
    """A plain-text 200 or 503 answer."""
    return (200 if ok else 503), "text/plain; charset=utf-8", (text + "\n").encode()


def json_answer(ok: bool, body: object) -> Answer:
    """A JSON 200 or 503 answer."""
    text = json.dumps(body, separators=(",", ":")) + "\n"
    return (200 if ok else 503), "application/json", text.encode()


def parse_listen(listen: str) -> tuple[str, int]:
    """``"host:port"`` or ``"[v6]:port"`` as ``(host, port)``."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


class HttpListener:
    """Serves ``routes`` (path -> callable) on ``listen`` from a background thread.

    Binding happens in the constructor, so a port in use raises
    :class:`ListenError` before anything else starts. :meth:`close` stops
    serving and frees the port.
    """

    def __init__(self, listen: str, routes: Mapping[str, Route]) -> None:
        host, port = parse_listen(listen)
        server_class = _V6Server if ":" in host else ThreadingHTTPServer
        try:
            httpd = server_class((host, port), _handler_for(dict(routes)))
        except OSError as exc:
            raise ListenError(_cannot_listen(listen, host, port, exc)) from exc
        self.port: int = httpd.server_address[1]
        self._serving = ServingThread(httpd, name="syncd-http")

    def close(self) -> None:
        """Stop serving and release the port."""
        self._serving.close()


def _cannot_listen(listen: str, host: str, port: int, exc: OSError) -> str:
    """Why the listener cannot bind, and what to do, without inviting a second writer.

    The usual reason for a taken port is syncd itself, already running with
    this configuration; moving this one to another port would start a second
    daemon writing the same secrets, so the message says so rather than only
    suggesting another port.
    """
    where = f"cannot listen on {listen} for metrics and health checks"
    if exc.errno != errno.EADDRINUSE:
        return f"{where}: {exc.strerror or exc}; change metrics.listen"
    if _syncd_answers(host, port):
        return (
            f"{where}: another syncd daemon is serving there; stop it first, since two daemons"
            " of one configuration write the same secrets (for a different configuration,"
            " give this one its own metrics.listen and instance)"
        )
    return (
        f"{where}: {exc.strerror}; if it is another syncd daemon with this configuration,"
        " stop it first, since two write the same secrets; otherwise stop the other process,"
        " or change metrics.listen (and instance, for a different configuration)"
    )


def _syncd_answers(host: str, port: int) -> bool:
    """Whether a syncd listener answers on ``host:port`` (one GET of /healthz, 1s at most)."""
    # A wildcard address is reached through loopback.
    loopback = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104 - a key, not bound
    connection = http.client.HTTPConnection(loopback.get(host, host), port, timeout=1.0)
    try:
        connection.request("GET", "/healthz")
        server = connection.getresponse().getheader("Server") or ""
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()
    return server.split()[:1] == [SERVER_NAME]


class _V6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def _handler_for(routes: dict[str, Route]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # A slow or stuck client must not hold a thread forever.
        timeout = 10
        server_version = SERVER_NAME
        sys_version = ""

        def do_GET(self) -> None:
            route = routes.get(self.path.split("?", 1)[0])
            if route is None:
                status, ctype, body = 404, "text/plain; charset=utf-8", b"not found\n"
            else:
                status, ctype, body = route(self.headers.get("Accept", ""))
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
            """Silence the per-request access log: probes would flood the journal."""

    return Handler


def probe_listener(
    listen: str, health: Health, metrics: Callable[[str], tuple[str, bytes]]
) -> HttpListener:
    """Daemon mode's ``/metrics``, ``/healthz`` and ``/readyz`` on ``listen``.

    ``metrics(accept)`` renders the exposition as ``(content_type, body)``.
    Raises :class:`ListenError` when the address cannot be bound.
    """

    def metrics_route(accept: str) -> tuple[int, str, bytes]:
        content_type, body = metrics(accept)
        return 200, content_type, body

    return HttpListener(
        listen,
        {
            "/metrics": metrics_route,
            "/healthz": lambda _accept: text_answer(*health.alive()),
            "/readyz": lambda _accept: json_answer(*health.readiness()),
        },
    )
