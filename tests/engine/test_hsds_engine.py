"""The HSDS engine keeps the engine contract (:mod:`engine_contract`) on a real HSDS service,
and reaches domains by their ``hsds://`` locations."""

from __future__ import annotations

import pytest
from engine_contract import EngineContract

from aioh5saver.engine.base import StorageEngine
from aioh5saver.engine.hsds_engine import HsdsEngine, HsdsLocation, is_hsds_location
from aioh5saver.errors import InvalidArgumentError
from hsds_server import HsdsServer


class TestHsdsEngine(EngineContract):
    """Every test of the contract that HSDS's capabilities allow, on domains of the test
    service."""

    @pytest.fixture
    def engine(self, hsds_server: HsdsServer) -> StorageEngine:
        """The HSDS engine, with no local-file capability."""
        return HsdsEngine()

    @pytest.fixture
    def path(self, hsds_location: str) -> str:
        """A new domain's location (pytest fixtures are overridden by name)."""
        return hsds_location


def test_has_none_of_the_local_file_capabilities() -> None:
    """HSDS has no SWMR, direct chunk write, file size, lock or journal: the saver uses none."""
    capabilities = HsdsEngine.capabilities
    assert not any(
        (
            capabilities.swmr,
            capabilities.direct_chunk_write,
            capabilities.file_size,
            capabilities.file_lock,
            capabilities.journal,
        )
    )


def test_a_location_names_the_endpoint_and_the_domain() -> None:
    """``hsds://host:port/folder/name`` is the endpoint and the domain; a name without an h5
    suffix gets ``.h5``; anything else is refused, without echoing credentials."""
    location = HsdsLocation.parse("hsds://127.0.0.1:5101/home/alice/run")
    assert location.endpoint == "http://127.0.0.1:5101"
    assert location.domain == "/home/alice/run.h5"
    assert location.folder == "/home/alice/"
    assert str(location) == "hsds://127.0.0.1:5101/home/alice/run.h5"
    assert is_hsds_location("hsds://h:1/a/b.h5")
    assert not is_hsds_location("/tmp/b.h5")
    with pytest.raises(InvalidArgumentError, match="hsds://host:port") as caught:
        HsdsLocation.parse("hsds://alice:secret@127.0.0.1:5101/home/alice/run.h5")
    assert "secret" not in str(caught.value)
    with pytest.raises(InvalidArgumentError):
        HsdsLocation.parse("hsds://127.0.0.1:5101/run.h5")
