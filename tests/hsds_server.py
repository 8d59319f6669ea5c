"""A real HSDS service on loopback for the tests: the benchmark's launcher
(:class:`~aioh5saver.tools.bench.hsds_service.HsdsService`), plus what the fault tests need (a
kill of the whole service, a restart on the same storage and port, its nodes' process ids).

HSDS's launcher puts its data nodes on ports 6101 and up, hard-coded: one service at a time
per machine, so the tests share one per session.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from aioh5saver.tools.bench.hsds_service import (
    DATA_NODE_PORT,
    INSTALL_HINT,
    STOP_TIMEOUT,
    HsdsService,
    hsds_missing,
)

__all__ = ["DATA_NODE_PORT", "HsdsServer", "hsds_available", "skip_or_fail_without_hsds"]


def hsds_available() -> bool:
    """True if the ``hsds`` launcher and the ``h5pyd`` client are installed."""
    return hsds_missing() is None


def skip_or_fail_without_hsds() -> None:
    """Skip the calling test when HSDS is not installed, except in CI (``CI=true``): there its
    absence is a broken setup, and fails."""
    missing = hsds_missing()
    if missing is None:
        return
    message = f"{missing}; for the tests: pip install -e '.[test]' (or {INSTALL_HINT})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true: {message}")
    pytest.skip(message)


class HsdsServer(HsdsService):
    """The tests' service: one data node unless asked, and a kill, a restart and a pause."""

    def __init__(self, root: Path, data_nodes: int = 1) -> None:
        # HSDS writes a changed object out once it has been left alone for s3_age_time (1 s by
        # default): 0 makes each server flush, which waits for that, about half as long (the
        # HSDS tests' time halves). What a flush guarantees is the same; the benchmark keeps
        # the service's defaults.
        super().__init__(
            root, data_nodes, username="aioh5saver_test", settings={"S3_AGE_TIME": "0"}
        )

    def node_pids(self, node_type: str) -> list[int]:
        """The process ids of this service's nodes of ``node_type`` (``sn`` or ``dn``)."""
        assert self.process is not None
        group = os.getpgid(self.process.pid)
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
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(STOP_TIMEOUT)
        self.process = None
        self.wait_ports_free()

    def restart(self) -> None:
        """Kill the service and start it again on the same storage and port."""
        self.kill()
        self.start()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """The service stopped (its ports free, for another service on this machine) and
        started again on the same storage and port after."""
        self.stop()
        try:
            yield
        finally:
            self.start()
