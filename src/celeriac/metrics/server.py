"""``GET /metrics`` on a port of its own, with the standard library only (a daemon thread)."""

from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from celeriac.metrics.exposition import CONTENT_TYPE, Registry

__all__ = ["MetricsServer"]

logger = logging.getLogger(__name__)


class _MetricsHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], registry: Registry) -> None:
        if ":" in address[0]:  # an IPv6 address ("::1", "::")
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.registry = registry


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        server = self.server
        if not isinstance(server, _MetricsHTTPServer):  # pragma: no cover - wiring error
            raise TypeError("the metrics handler needs a _MetricsHTTPServer")
        if self.path.split("?", 1)[0] not in ("/metrics", "/metrics/"):
            self.send_error(404, "only /metrics is served here")
            return
        body = server.registry.render().encode()
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("metrics: " + format, *args)


class MetricsServer:
    """Serves ``GET /metrics`` from ``registry`` on ``address:port`` (0 picks a free port).

    Args:
        registry: What to serve.
        port: The TCP port.
        address: The interface (``""`` for all).
    """

    def __init__(self, registry: Registry, *, port: int, address: str = "") -> None:
        self.registry = registry
        self.address = address
        self._port = port
        self._server: _MetricsHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (once started)."""
        return self._server.server_address[1] if self._server is not None else self._port

    def open(self) -> None:
        """Bind the port (once), without serving yet.

        Raises:
            OSError: the port is taken, or the address is not one of this host's.
        """
        if self._server is None:
            self._server = _MetricsHTTPServer((self.address, self._port), self.registry)

    def start(self) -> None:
        """Bind (unless :meth:`open` did) and serve in a daemon thread."""
        self.open()
        assert self._server is not None
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="celeriac-metrics", daemon=True
        )
        self._thread.start()
        logger.info("Metrics on %s", self.url)

    @property
    def url(self) -> str:
        """Where the metrics are served (the port is the bound one once opened)."""
        host = self.address or "0.0.0.0"
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}/metrics"

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            if self._thread is not None:  # shutdown() waits for a loop that never ran
                self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None
