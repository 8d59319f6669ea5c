"""A real HSDS service on loopback for the tests: started in its own process group on a free
port with POSIX storage in a temporary folder, waited for until it says READY (bounded), given
a home folder, killed (also on failure), and restarted on the same storage for fault tests.

HSDS's launcher puts its data nodes on ports 6101 and up, hard-coded: one service at a time
per machine, so the tests share one per session.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

__all__ = ["DATA_NODE_PORT", "HsdsServer", "hsds_available", "skip_or_fail_without_hsds"]

#: The first data node's port (hard-coded in hsds 1.0.2's launcher).
DATA_NODE_PORT = 6101
# A cold start on a loaded 2-core machine: READY comes after ~2-3 s idle.
_START_TIMEOUT = 60.0
_STOP_TIMEOUT = 10.0
# The launcher writes its password to the command line of its service node: a throwaway one.
_USERNAME = "aioh5saver_test"
_PASSWORD = "aioh5saver-test-only"  # noqa: S105 - a loopback test service's own password


def hsds_available() -> bool:
    """True if the ``hsds`` launcher and the ``h5pyd`` client are installed."""
    try:
        import h5pyd  # noqa: F401
    except ImportError:
        return False
    return _launcher() is not None


def _launcher() -> str | None:
    beside = Path(sys.executable).with_name("hsds")
    return str(beside) if beside.exists() else shutil.which("hsds")


def skip_or_fail_without_hsds() -> None:
    """Skip the calling test when HSDS is not installed, except in CI (``CI=true``): there its
    absence is a broken setup, and fails."""
    if hsds_available():
        return
    message = "hsds and h5pyd are not installed (pip install -e '.[test]')"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true: {message}")
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


class HsdsServer:
    """One HSDS service (a service node and ``data_nodes`` data nodes) on 127.0.0.1."""

    def __init__(self, root: Path, data_nodes: int = 1) -> None:
        self.root = root
        self.storage = root / "storage"
        self.storage.mkdir(parents=True, exist_ok=True)
        self.data_nodes = data_nodes
        self.port = _free_port()
        self.host = "127.0.0.1"
        self.endpoint = f"http://{self.host}:{self.port}"
        self.username = _USERNAME
        self.password = _PASSWORD
        self.home = f"/home/{self.username}/"
        self._process: subprocess.Popen[bytes] | None = None
        self._log = root / "hsds.out"
        self._home_made = False

    def location(self, name: str) -> str:
        """The ``hsds://`` location of the domain ``name`` in the home folder."""
        return f"hsds://{self.host}:{self.port}{self.home}{name}"

    def domain(self, name: str) -> str:
        """The domain path of ``name`` in the home folder."""
        return f"{self.home}{name}"

    @property
    def credentials(self) -> dict[str, str]:
        """h5pyd's keyword arguments for this service."""
        return {"endpoint": self.endpoint, "username": self.username, "password": self.password}

    def start(self) -> None:
        """Start the service and wait (bounded) until it says READY; raise with its output
        if it does not."""
        ports = range(DATA_NODE_PORT, DATA_NODE_PORT + self.data_nodes)
        taken = [port for port in ports if _port_taken(port)]
        if taken:
            raise RuntimeError(
                f"expected HSDS's data-node ports {list(ports)} free, got {taken} taken "
                "(another HSDS runs on this machine)"
            )
        launcher = _launcher()
        assert launcher is not None
        command = [
            launcher,
            "--root_dir",
            str(self.storage),
            "--host",
            self.host,
            "-p",
            str(self.port),
            "--hs_username",
            self.username,
            "--hs_password",
            self.password,
            "--count",
            str(self.data_nodes),
            "--logfile",
            str(self.root / "hs.log"),
            "--loglevel",
            "ERROR",
        ]
        with self._log.open("ab") as out:
            self._process = subprocess.Popen(
                command,
                cwd=self.root,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group, killed whole
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"HSDS exited with {self._process.returncode} before READY: {self.output()}"
                )
            with contextlib.suppress(OSError, ValueError):
                # READY says the service node is up; after a restart its data node serves
                # the home folder a moment later (HTTP 500 until then).
                if self.about().get("state") == "READY" and self._home_served():
                    return
            time.sleep(0.1)  # polling a child process: no event to wait on
        raise RuntimeError(f"HSDS not READY after {_START_TIMEOUT} s: {self.output()}")

    def about(self) -> dict[str, object]:
        """The service's ``/about`` answer."""
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        request = urllib.request.Request(  # noqa: S310 - http on loopback
            f"{self.endpoint}/about", headers={"Authorization": f"Basic {token}"}
        )
        with urllib.request.urlopen(request, timeout=2) as answer:  # noqa: S310
            result: dict[str, object] = json.load(answer)
            return result

    def _home_served(self) -> bool:
        """True if the home folder is served (or not made yet)."""
        if not self._home_made:
            return True
        import h5pyd

        h5pyd.Folder(self.home, mode="r", **self.credentials, retries=1).close()
        return True

    def output(self) -> str:
        """The launcher's output so far (its tail), for failure messages."""
        try:
            return self._log.read_text(errors="replace")[-4000:]
        except OSError:
            return "(no output)"

    def make_home(self) -> None:
        """Create ``/home/`` and the user's home folder (idempotent), and wait (bounded) until
        the service stored it: the fault tests kill the service, which loses what it has not
        stored yet (a folder has no flush request of its own)."""
        import h5pyd

        for folder in ("/home/", self.home):
            try:
                h5pyd.Folder(folder, mode="x", **self.credentials)
            except OSError as exc:
                if "409" not in str(exc) and "exists" not in str(exc).lower():
                    raise
        deadline = time.monotonic() + _START_TIMEOUT
        while not any(self.storage.glob(f"*{self.home}.domain.json")):
            if time.monotonic() > deadline:
                raise RuntimeError(f"HSDS did not store {self.home}: {self.output()}")
            time.sleep(0.1)  # the service stores on its own cadence: nothing to wait on
        self._home_made = True

    def node_pids(self, node_type: str) -> list[int]:
        """The process ids of this service's nodes of ``node_type`` (``sn`` or ``dn``)."""
        assert self._process is not None
        group = os.getpgid(self._process.pid)
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if os.getpgid(int(entry.name)) != group:
                    continue
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except (OSError, ProcessLookupError):
                continue
            if f"--node_type={node_type}".encode() in command:
                pids.append(int(entry.name))
        return pids

    def kill(self) -> None:
        """Kill the whole service at once (SIGKILL to its process group): what it held in
        memory is lost, what it stored stays."""
        if self._process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait(_STOP_TIMEOUT)
        self._process = None
        self._wait_ports_free()

    def stop(self) -> None:
        """Stop the service: SIGTERM to its process group, SIGKILL after a bounded wait."""
        if self._process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(_STOP_TIMEOUT)
        # The nodes may outlive the launcher: the group is killed whole either way.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(_STOP_TIMEOUT)
        self._process = None
        self._wait_ports_free()

    def _wait_ports_free(self) -> None:
        ports = [self.port, *range(DATA_NODE_PORT, DATA_NODE_PORT + self.data_nodes)]
        deadline = time.monotonic() + _STOP_TIMEOUT
        while any(_port_taken(port) for port in ports) and time.monotonic() < deadline:
            time.sleep(0.05)  # the killed nodes' sockets close asynchronously

    def restart(self) -> None:
        """Kill the service and start it again on the same storage and port."""
        self.kill()
        self.start()
