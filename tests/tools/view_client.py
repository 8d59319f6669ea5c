"""Helpers the live view's tests share: a server on a free port, in a background thread or in
a child process (``aioh5saver view``), and GET requests to it with any ``Host`` header."""

from __future__ import annotations

import http.client
import json
import re
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

from aioh5saver.tools.view.server import ViewServer

# How long a child ``aioh5saver view`` may take to say its URL (imports on a loaded machine).
START_TIMEOUT = 60.0


@contextmanager
def serving(path: Path, **options: Any) -> Iterator[ViewServer]:
    """A :class:`ViewServer` of ``path`` answering on 127.0.0.1 and a free port."""
    server = ViewServer(path, port=0, **options)
    server.start()
    try:
        yield server
    finally:
        server.close()


class Served(Protocol):
    """A running view: a :class:`ViewServer`, or :class:`ViewProcess`."""

    port: int
    file_name: str


@dataclass
class ViewProcess:
    """``aioh5saver view`` running in a child process."""

    process: subprocess.Popen[str]
    port: int
    file_name: str
    url: str


@contextmanager
def view_process(path: Path, *options: str) -> Iterator[ViewProcess]:
    """``aioh5saver view PATH --port 0`` in a child process, once it has said its URL; ended
    with Ctrl-C (SIGINT), which must end it with status 130."""
    process = subprocess.Popen(
        [sys.executable, "-m", "aioh5saver", "view", str(path), "--port", "0", *options],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], START_TIMEOUT)
        line = process.stdout.readline() if ready else ""
        found = re.search(r"at (http://127\.0\.0\.1:(\d+)/) ", line)
        assert found, f"no URL within {START_TIMEOUT} s: {line!r}"
        yield ViewProcess(process, int(found.group(2)), path.name, found.group(1))
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def get_raw(
    server: Served, target: str, host: str | None = None, timeout: float = 20
) -> tuple[int, bytes, dict[str, str]]:
    """``GET target``: the status, body and headers."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        headers = {"Host": host if host is not None else f"127.0.0.1:{server.port}"}
        connection.request("GET", target, headers=headers)
        response = connection.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        connection.close()


def api(server: Served, endpoint: str, **query: str) -> tuple[int, Any]:
    """``GET /api/<endpoint>`` for the served file (unless ``file`` is given): the status and
    the decoded JSON body."""
    query.setdefault("file", server.file_name)
    status, body, _ = get_raw(server, f"/api/{endpoint}?{urlencode(query)}")
    return status, json.loads(body)
