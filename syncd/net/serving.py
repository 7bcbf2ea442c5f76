"""An ``http.server`` server answering from a daemon thread until it is closed.

The daemon's health listener and the test stand-ins both bind first (so a
taken port fails in the caller's thread, with the caller's message) and then
serve in the background; this is the serving half they share.
"""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer


class ServingThread:
    """Runs ``httpd.serve_forever`` on a daemon thread called ``name``.

    Request threads are daemon threads too, so a client that never finishes
    its request cannot hold the process open at exit.
    """

    def __init__(
        self, httpd: ThreadingHTTPServer, *, name: str, poll_interval: float = 0.5
    ) -> None:
        self.httpd = httpd
        httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": poll_interval},
            name=name,
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving and release the port."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join()
