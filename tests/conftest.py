"""Shared fixtures: both anyio backends for async tests, and a fresh HDF5 path per test."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from reference import write_scenario


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
