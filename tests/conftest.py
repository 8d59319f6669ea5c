"""Shared fixtures: both anyio backends for async tests, and a fresh HDF5 path per test."""

from __future__ import annotations

import itertools
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hsds_server import HsdsServer, skip_or_fail_without_hsds
from reference import write_scenario

# A run started as a shell's background job (nohup, '&', a CI runner's) ignores SIGINT, and
# every child it starts inherits that: Python then installs no KeyboardInterrupt handler, and
# the commands that tests stop with Ctrl-C (view, demo) would never stop. A handler here
# makes the children start with the default disposition.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def pymodaq_reference_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference scenario (:mod:`reference`) written by pymodaq_data 5.3.0 itself, made
    once per run; tests that change a file copy it first."""
    path = tmp_path_factory.mktemp("reference") / "reference_pymodaq_h5py.h5"
    write_scenario("pymodaq_data.h5modules.saving", path)
    return path


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every async test runs once on asyncio and once on trio."""
    return str(request.param)


@pytest.fixture
def h5_path(tmp_path: Path) -> Path:
    """A path for a new HDF5 file in the test's own folder."""
    return tmp_path / "test.h5"


#: ``AIOH5SAVER_STRESS=full`` runs the stress tests (kills, soak, model) at their full size;
#: CI and a plain ``pytest`` run them small.
FULL_STRESS = os.environ.get("AIOH5SAVER_STRESS", "") == "full"


@pytest.fixture
def stress_size() -> Callable[[int, int], int]:
    """``stress_size(small, full)``: the size a stress test runs at in this run."""

    def size(small: int, full: int) -> int:
        return full if FULL_STRESS else small

    return size


@pytest.fixture(scope="session")
def hsds_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HsdsServer]:
    """One real HSDS service on loopback for the whole run (its data-node ports are fixed, so
    one at a time), with a home folder; h5pyd finds its credentials in the environment, as a
    user's configuration gives them. Skipped without hsds, except with CI=true (fails)."""
    skip_or_fail_without_hsds()
    server = HsdsServer(tmp_path_factory.mktemp("hsds"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HS_USERNAME", server.username)
        patch.setenv("HS_PASSWORD", server.password)
        server.start()
        try:
            server.make_home()
            yield server
        finally:
            server.stop()


@pytest.fixture
def hsds_location(hsds_server: HsdsServer, request: pytest.FixtureRequest) -> str:
    """The ``hsds://`` location of a new domain, named after the test, in the home folder."""
    name = "".join(c if c.isalnum() else "_" for c in request.node.name)[-80:]
    return hsds_server.location(f"{name}_{next(_DOMAIN_NUMBERS)}.h5")


_DOMAIN_NUMBERS = itertools.count()
