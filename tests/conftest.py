"""Shared fixtures: both anyio backends for async tests, and a fresh HDF5 path per test."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURES = SHARED / "fixtures"


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every async test runs once on asyncio and once on trio."""
    return str(request.param)


@pytest.fixture
def h5_path(tmp_path: Path) -> Path:
    """A path for a new HDF5 file in the test's own folder."""
    return tmp_path / "test.h5"
