"""The synchronous saver writes PyMoDAQ files to HSDS domains (``hsds://`` locations): the
reference scenario written to a domain and exported is the file written locally, and
pymodaq_data reads the export as it reads the local file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pymodaq_data.h5modules import saving as pm_saving

import aioh5saver as h5s
from aioh5saver.engine.hsds_copy import export_domain
from aioh5saver.errors import MissingFileError
from hsds_server import HsdsServer
from reference import REFERENCE_LOGS, canonical_dump, write_scenario


def _pymodaq_reads(path: Path) -> tuple[list[str], dict[str, str], list[str]]:
    """What pymodaq_data's loader reads: every node's path, each node's CLASS, the log."""
    saver = pm_saving.H5SaverLowLevel(backend="h5py")
    saver.init_file(path, new_file=False, mode="r")
    try:
        nodes = list(saver.walk_nodes("/"))
        classes = {node.path: str(saver.get_attr(node, "CLASS")) for node in nodes}
        return [node.path for node in nodes], classes, saver.get_set_logger().read()
    finally:
        saver.close_file()


def test_the_reference_scenario_on_a_domain_exports_to_the_local_file(
    hsds_location: str, tmp_path: Path
) -> None:
    """The reference scenario written to a domain and exported is, in the canonical dump,
    the same file as the scenario written locally (tree, attributes with their HDF5 types,
    data, Logger rows); pymodaq_data reads both alike."""
    local = tmp_path / "local.h5"
    exported = tmp_path / "exported.h5"
    write_scenario("aioh5saver", local)
    write_scenario("aioh5saver", hsds_location)
    summary = export_domain(hsds_location, exported)
    assert summary.arrays > 0
    assert canonical_dump(exported) == canonical_dump(local)
    paths, classes, logs = _pymodaq_reads(exported)
    assert (paths, classes, logs) == _pymodaq_reads(local)
    assert logs == REFERENCE_LOGS


def test_appends_reach_a_second_client_after_flush(
    hsds_location: str, hsds_server: HsdsServer
) -> None:
    """Rows appended through the saver and flushed are read by another saver opened on the
    domain meanwhile, with the ``shape`` attribute PyMoDAQ reads."""
    writer = h5s.H5SaverLowLevel(save_type="scan")
    writer.init_file(hsds_location, new_file=True)
    try:
        scan = writer.add_scan_group(writer.raw_group, title="scan")
        det = writer.add_det_group(scan, title="det")
        array = writer.add_array(
            det, "data", "data_enlargeable", data_shape=(3,), array_type="float64",
            enlargeable=True, data_dimension="Data1D",
        )  # fmt: skip
        array.append(np.arange(6.0).reshape(2, 3))
        array.append(np.arange(3.0))
        writer.flush()
        reader = h5s.H5SaverLowLevel.from_file(hsds_location, mode="r")
        try:
            node = reader.get_node(array.path)
            assert node.read().tolist() == [[0, 1, 2], [3, 4, 5], [0, 1, 2]]
            assert node.attrs["shape"] == (3, 3)
        finally:
            reader.close_file()
    finally:
        writer.close_file()


def test_swmr_is_a_no_op_on_a_domain(hsds_location: str) -> None:
    """``swmr_mode=True`` and ``enable_swmr`` do nothing on HSDS (a domain is readable while
    it is written): SWMR is never active, and appends need no SWMR step."""
    saver = h5s.H5SaverLowLevel(save_type="scan")
    saver.init_file(hsds_location, new_file=True, swmr_mode=True)
    try:
        saver.enable_swmr()
        assert not saver.is_swmr_active
        assert not saver.is_swmr_capable
        saver.add_log("written without SWMR")
    finally:
        saver.close_file()


def test_a_domain_in_a_missing_folder_is_refused(hsds_server: HsdsServer) -> None:
    """A domain whose folder does not exist on the service raises MissingFileError."""
    location = hsds_server.location("no_such_folder/run.h5")
    with pytest.raises(MissingFileError, match="folder does not exist"):
        h5s.H5SaverLowLevel().init_file(location, new_file=True)


def test_save_file_of_a_domain_points_to_export(hsds_location: str, tmp_path: Path) -> None:
    """``save_file`` copies local files only: on a domain it raises UnsupportedBackendError
    naming ``aioh5saver export``, and writes nothing."""
    saver = h5s.H5SaverLowLevel(save_type="scan")
    saver.init_file(hsds_location, new_file=True)
    try:
        with pytest.raises(h5s.UnsupportedBackendError, match="aioh5saver export"):
            saver.save_file(tmp_path / "copy.h5")
        assert not (tmp_path / "copy.h5").exists()
    finally:
        saver.close_file()
