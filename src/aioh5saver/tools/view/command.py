"""``aioh5saver view FILE``: start the live view, say where to reach it, serve until Ctrl-C."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from aioh5saver.tools.view.server import ViewServer

__all__ = ["run_view"]


def run_view(
    path: Path,
    *,
    host: str,
    port: int,
    refresh_seconds: float,
    say: Callable[[str], None],
    stop: threading.Event | None = None,
) -> None:
    """Serve the live view of ``path`` until interrupted (Ctrl-C raises KeyboardInterrupt
    here, after the server is closed), or until ``stop`` is set. Requests are answered in a
    background thread, so that Ctrl-C is handled at once even while HDF5 reads."""
    server = ViewServer(path, host=host, port=port, refresh_seconds=refresh_seconds)
    try:
        server.start()
        say(f"aioh5saver view: serving {path} at {server.url} (Ctrl-C to stop)")
        if not server.loopback:
            say(
                "aioh5saver view: note: listening beyond this machine's loopback; anyone who "
                "reaches this address can read the file"
            )
        stopping = threading.Event() if stop is None else stop
        while not stopping.wait(0.5):
            pass
    finally:
        server.close()
