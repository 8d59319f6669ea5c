"""The h5py engine keeps the engine contract (:mod:`engine_contract`)."""

from __future__ import annotations

import pytest
from engine_contract import EngineContract

from aioh5saver.engine.base import StorageEngine
from aioh5saver.engine.h5py_engine import H5pyEngine


class TestH5pyEngine(EngineContract):
    """Every test of the contract, on local files through h5py."""

    @pytest.fixture
    def engine(self) -> StorageEngine:
        """The h5py engine, with every capability."""
        return H5pyEngine()
