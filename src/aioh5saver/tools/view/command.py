"""``aioh5saver view FILE``: its arguments, and the loop that starts the live view, says where
to reach it and serves until Ctrl-C. Light to import (the command line's parser imports it):
the server, which needs h5grove, is imported when the view starts."""

from __future__ import annotations

import argparse
import errno
import threading
from collections.abc import Callable
from pathlib import Path

from aioh5saver.tools.arguments import positive_seconds

__all__ = ["VIEW_DESCRIPTION", "VIEW_HELP", "add_view_arguments", "port_number", "run_view"]

VIEW_HELP = "look at a file in the browser while it is written (needs the 'view' extra)"
VIEW_DESCRIPTION = (
    "Serve h5web's viewer on a file, read as a SWMR reader so that it can be looked at while "
    "another process writes it: the tree, each array's newest rows, plots and images, and "
    "decoded attributes, reloaded every few seconds. Listens on 127.0.0.1 (this machine only) "
    "unless --host says otherwise; prints the URL to open. Needs the 'view' extra: "
    "pip install 'aioh5saver[view]'."
)
DEFAULT_PORT = 8765


def port_number(text: str) -> int:
    """A TCP port, 0 to 65535 (argparse type)."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {text!r}")
    return port


def add_view_arguments(view: argparse.ArgumentParser) -> None:
    """The ``view`` subcommand's arguments."""
    view.add_argument("path", type=Path, metavar="PATH", help="the HDF5 file")
    view.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to listen on (default: %(default)s; 0.0.0.0 lets other machines "
        "read the file)",
    )
    view.add_argument(
        "--port",
        type=port_number,
        default=DEFAULT_PORT,
        metavar="N",
        help="the port to listen on, 0 for any free one (default: %(default)s)",
    )
    view.add_argument(
        "--refresh",
        type=positive_seconds,
        default=2.0,
        metavar="S",
        help="how often the page reloads what it shows, in seconds (default: %(default)g)",
    )


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
    background thread, so that Ctrl-C is handled at once even while HDF5 reads. A port in
    use raises an OSError whose message says so and how to pick another."""
    from aioh5saver.tools.view.server import ViewServer

    try:
        server = ViewServer(path, host=host, port=port, refresh_seconds=refresh_seconds)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise OSError(
            errno.EADDRINUSE,
            f"--port {port}: already in use; choose another, or 0 for any free one",
        ) from None
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
