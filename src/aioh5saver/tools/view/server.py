"""The live view's HTTP server: the front end at ``/``, h5grove's API under ``/api/``, on
127.0.0.1 unless asked otherwise.

Built on the standard library's threading HTTP server: static files are sent from memory by
several threads, HDF5 is read by one at a time (:class:`~.source.ServedFile` holds a lock).
A request whose ``Host`` is not the server's own is refused while it listens on loopback, so
that a web page elsewhere cannot read the file by rebinding a name of its own to 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from aioh5saver.tools.view.api import Reply, answer
from aioh5saver.tools.view.source import DEFAULT_MAX_AGE, DEFAULT_WAIT_FOR_SWMR, ServedFile
from aioh5saver.tools.view.static import STATIC_DIR, StaticFile, load_static

__all__ = ["DEFAULT_HOST", "DEFAULT_REFRESH_SECONDS", "ViewServer"]

DEFAULT_HOST = "127.0.0.1"
# How often the page reloads the tree and the values it shows, by default.
DEFAULT_REFRESH_SECONDS = 2.0

_COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _HTTPServer(ThreadingHTTPServer):
    """The standard threading server, with the view it serves."""

    daemon_threads = True  # a browser's idle keep-alive connection must not delay the exit
    view: ViewServer


class _HTTPServer6(_HTTPServer):
    """The same, listening on an IPv6 address."""

    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    """One connection: GET and HEAD only; every answer carries its length."""

    server: _HTTPServer
    server_version = "aioh5saver-view"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._send(self.server.view.reply(self.path, self.headers.get("Host")), body=True)

    def do_HEAD(self) -> None:
        self._send(self.server.view.reply(self.path, self.headers.get("Host")), body=False)

    def _send(self, reply: Reply, *, body: bool) -> None:
        self.send_response(reply.status)
        headers = {**_COMMON_HEADERS, **reply.headers, "Content-Type": reply.content_type}
        headers["Content-Length"] = str(len(reply.body))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if body:
            self.wfile.write(reply.body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # a line per request would bury the URL the user needs to see


class ViewServer:
    """The live view of ``path``, listening on ``host``:``port`` (0: a free port) once made;
    :meth:`serve_forever` (or :meth:`start`) answers requests, :meth:`close` stops."""

    def __init__(
        self,
        path: Path,
        *,
        host: str = DEFAULT_HOST,
        port: int = 0,
        refresh_seconds: float = DEFAULT_REFRESH_SECONDS,
        max_age: float = DEFAULT_MAX_AGE,
        wait_for_swmr: float = DEFAULT_WAIT_FOR_SWMR,
        clock: Callable[[], float] = time.monotonic,
        static_dir: Path = STATIC_DIR,
    ) -> None:
        self.served = ServedFile(path, max_age=max_age, wait_for_swmr=wait_for_swmr, clock=clock)
        self._static = load_static(static_dir)
        self._refresh_seconds = refresh_seconds
        server_class = _HTTPServer6 if ":" in host else _HTTPServer
        self._http = server_class((host, port), _Handler)
        self._http.view = self
        self.host = host
        self.port = int(self._http.server_address[1])
        self.file_name = path.name
        self.loopback = _is_loopback(host)
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}/"
        self._thread: threading.Thread | None = None

    def reply(self, target: str, host_header: str | None) -> Reply:
        """The answer to ``GET target``, sent with the ``Host`` header ``host_header``."""
        if self.loopback and not self._own_host(host_header):
            return Reply(403, b"unexpected Host header\n", "text/plain; charset=utf-8")
        parts = urlsplit(target)
        if parts.path.startswith("/api/"):
            query = parse_qs(parts.query, keep_blank_values=True)
            endpoint = parts.path.removeprefix("/api/").strip("/")
            try:
                reply = answer(self.served, endpoint, query, self._refresh_seconds)
            except Exception as exc:  # a bug: say what it was rather than drop the connection
                message = {"message": f"{type(exc).__name__}: {exc}"}
                reply = Reply(500, json.dumps(message).encode())
            reply.headers["Cache-Control"] = "no-store"
            return reply
        found: StaticFile | None = self._static.get(parts.path)
        if found is None:
            return Reply(404, b"not found\n", "text/plain; charset=utf-8")
        return Reply(200, found.body, found.content_type, {"Cache-Control": "no-cache"})

    def _own_host(self, host_header: str | None) -> bool:
        names = {"localhost", "127.0.0.1", "[::1]", self.host, f"[{self.host}]"}
        return host_header in {f"{name}:{self.port}" for name in names}

    def serve_forever(self) -> None:
        """Answer requests until :meth:`close` is called (from another thread)."""
        self._http.serve_forever(poll_interval=0.2)

    def start(self) -> None:
        """Answer requests in a background thread."""
        self._thread = threading.Thread(target=self.serve_forever, name="aioh5saver-view")
        self._thread.daemon = True
        self._thread.start()

    def close(self) -> None:
        """Stop answering, close the socket and the file."""
        if self._thread is not None:
            self._http.shutdown()
            self._thread.join()
            self._thread = None
        self._http.server_close()
        self.served.close()

    def __enter__(self) -> ViewServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
