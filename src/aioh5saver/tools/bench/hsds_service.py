"""A loopback HSDS service for the benchmark (and the tests): started in its own process group
on a free port with POSIX storage in a given folder, waited for until it says READY (bounded),
given a home folder, and stopped whole.

HSDS's launcher puts its data nodes on ports 6101 and up, hard-coded: one service at a time per
machine. The service and its client (``hsds`` and ``h5pyd``) are an optional extra, imported
only when a service starts.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

from aioh5saver.errors import ServiceError

__all__ = [
    "DATA_NODE_PORT",
    "INSTALL_HINT",
    "HsdsService",
    "hsds_missing",
    "port_taken",
    "taken_data_node_ports",
]

#: The first data node's port (hard-coded in hsds 1.0.2's launcher).
DATA_NODE_PORT = 6101
#: How to install what a loopback service needs.
INSTALL_HINT = "pip install 'aioh5saver[bench-hsds]'"
# A cold start on a loaded 2-core machine: READY comes after ~2-3 s idle.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
USERNAME = "aioh5saver_bench"


def _launcher() -> str | None:
    """The ``hsds`` launcher script: beside this interpreter (a venv not activated), else on
    the PATH."""
    if importlib.util.find_spec("hsds") is None:
        return None
    beside = Path(sys.executable).with_name("hsds")
    return str(beside) if beside.exists() else shutil.which("hsds")


def hsds_missing() -> str | None:
    """What a loopback service lacks here (``None``: nothing): the ``hsds`` service with its
    launcher, and the ``h5pyd`` client."""
    missing = []
    if _launcher() is None:
        missing.append("the hsds service (its package and its 'hsds' launcher)")
    if importlib.util.find_spec("h5pyd") is None:
        missing.append("the h5pyd client")
    if not missing:
        return None
    return (
        f"expected the hsds service and the h5pyd client installed ({INSTALL_HINT}), got no "
        + " and no ".join(item.removeprefix("the ") for item in missing)
    )


def taken_data_node_ports(data_nodes: int) -> list[int]:
    """The data nodes' ports (6101 and up) something listens on now."""
    ports = range(DATA_NODE_PORT, DATA_NODE_PORT + data_nodes)
    return [port for port in ports if port_taken(port)]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_taken(port: int) -> bool:
    """True if something listens on ``port`` of 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


class HsdsService:
    """One HSDS service (a service node and ``data_nodes`` data nodes) on 127.0.0.1, storing in
    ``root/storage``. The password is new for each service unless given: it is on the command
    line of the service node, which other users of the machine can read."""

    def __init__(
        self,
        root: Path,
        data_nodes: int = 1,
        *,
        username: str = USERNAME,
        password: str | None = None,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        self.root = root.resolve()  # the launcher runs in it: relative paths would double
        self.storage = self.root / "storage"
        self.storage.mkdir(parents=True, exist_ok=True)
        self.data_nodes = data_nodes
        self.port = free_port()
        self.host = "127.0.0.1"
        self.endpoint = f"http://{self.host}:{self.port}"
        self.username = username
        # Hex: a token that began with "-" would read as an option on the launcher's command line.
        self.password = password or secrets.token_hex(16)
        self.home = f"/home/{self.username}/"
        self.process: subprocess.Popen[bytes] | None = None
        self._log = self.root / "hsds.out"
        self._home_made = False
        # HSDS reads each of its configuration keys from an environment variable of the same
        # name in upper case: settings other than its defaults go to its processes that way.
        self.settings = dict(settings or {})

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

    @property
    def data_node_ports(self) -> range:
        """The data nodes' ports (fixed by the launcher)."""
        return range(DATA_NODE_PORT, DATA_NODE_PORT + self.data_nodes)

    def start(self) -> None:
        """Start the service and wait (bounded) until it says READY; :class:`ServiceError` with
        its output if it does not, or if the data nodes' ports are taken."""
        taken = taken_data_node_ports(self.data_nodes)
        if taken:
            raise ServiceError(
                f"expected HSDS's data-node ports {list(self.data_node_ports)} free, got "
                f"{taken} taken (another HSDS runs on this machine: one at a time)"
            )
        launcher = _launcher()
        if launcher is None:
            raise ServiceError(f"start HSDS: {hsds_missing()}")
        # fmt: off
        command = [
            launcher, "--root_dir", str(self.storage), "--host", self.host,
            "-p", str(self.port), "--hs_username", self.username,
            "--hs_password", self.password, "--count", str(self.data_nodes),
            "--logfile", str(self.root / "hs.log"), "--loglevel", "ERROR",
        ]
        # fmt: on
        with self._log.open("ab") as out:
            # The launcher found above, with arguments built here.
            self.process = subprocess.Popen(  # noqa: S603
                command,
                cwd=self.root,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.settings},
                start_new_session=True,  # its own process group, stopped whole
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise ServiceError(
                    f"start HSDS: expected READY, got an exit with status "
                    f"{self.process.returncode}: {self.output()}"
                )
            with contextlib.suppress(OSError, ValueError):
                # READY says the service node is up; after a restart its data node serves
                # the home folder a moment later (HTTP 500 until then).
                if self.about().get("state") == "READY" and self._home_served():
                    return
            time.sleep(0.1)  # polling a child process: no event to wait on
        raise ServiceError(
            f"start HSDS: expected READY within {START_TIMEOUT:g} s, got none: {self.output()}"
        )

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
        the service stored it: a kill of the service loses what it has not stored yet (a
        folder has no flush request of its own)."""
        import h5pyd

        for folder in ("/home/", self.home):
            try:
                h5pyd.Folder(folder, mode="x", **self.credentials)
            except OSError as exc:
                if "409" not in str(exc) and "exists" not in str(exc).lower():
                    raise
        deadline = time.monotonic() + START_TIMEOUT
        while not any(self.storage.glob(f"*{self.home}.domain.json")):
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"make {self.home}: expected the service to store it within "
                    f"{START_TIMEOUT:g} s, got no folder: {self.output()}"
                )
            time.sleep(0.1)  # the service stores on its own cadence: nothing to wait on
        self._home_made = True

    @contextlib.contextmanager
    def client_environment(self) -> Iterator[None]:
        """h5pyd's credentials for this service in the environment (as a user's configuration
        gives them), for the code that opens ``hsds://`` locations; restored on exit. h5pyd
        reads them once per process, at its first use: enter this before any h5pyd call."""
        saved = {name: os.environ.get(name) for name in ("HS_USERNAME", "HS_PASSWORD")}
        os.environ["HS_USERNAME"] = self.username
        os.environ["HS_PASSWORD"] = self.password
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def stop(self) -> None:
        """Stop the service: SIGTERM to its process group, SIGKILL after a bounded wait."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(STOP_TIMEOUT)
        # The nodes may outlive the launcher: the group is killed whole either way.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(STOP_TIMEOUT)
        self.process = None
        self.wait_ports_free()

    def wait_ports_free(self) -> None:
        """Wait (bounded) until the service's ports are closed."""
        ports = [self.port, *self.data_node_ports]
        deadline = time.monotonic() + STOP_TIMEOUT
        while any(port_taken(port) for port in ports) and time.monotonic() < deadline:
            time.sleep(0.05)  # the stopped nodes' sockets close asynchronously

    def __enter__(self) -> HsdsService:
        """Start the service and make its home folder."""
        self.start()
        try:
            self.make_home()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop the service."""
        self.stop()
