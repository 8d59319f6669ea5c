"""The reference scenario gives the same file as pymodaq_data 5.3.0 writes, and the canonical
dump that says so tells apart files that differ in any way it claims to compare."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from reference import REFERENCE_LOGS, canonical_dump, write_scenario


def test_reference_scenario_dump_matches_pymodaq_data_reference(
    tmp_path: Path, pymodaq_reference_file: Path
) -> None:
    """The reference scenario written with aioh5saver dumps exactly as the one pymodaq_data
    wrote (nodes, shapes, dtypes, attributes byte for byte, data)."""
    ours = tmp_path / "ours.h5"
    write_scenario("aioh5saver", ours)
    expected = canonical_dump(pymodaq_reference_file)
    assert "/RawData/Scan000/Detector000/Ch000/Enl_uint16 Dataset" in expected
    assert canonical_dump(ours) == expected


def _set_fixed_width_title(file: h5py.File) -> None:
    file["/RawData"].attrs.create("TITLE", np.bytes_(b"Data from PyMoDAQ modules"))


def _change_one_value(file: h5py.File) -> None:
    file["/RawData/Scan000/Detector000/Data1D/Data"][0, 0] = 99.0


def _change_a_log_line(file: h5py.File) -> None:
    logger = file["/RawData/Logger"]
    row = logger[0].copy()
    row[-3] ^= 1
    logger[0] = row


def _add_a_group(file: h5py.File) -> None:
    file.create_group("/RawData/Extra")


def _change_a_json_attribute(file: h5py.File) -> None:
    file["/RawData"].attrs["author"] = '{"module": "builtins", "type": "str", "data": "\'reF\'"}'


def _change_the_file_date(file: h5py.File) -> None:
    file.attrs["date"] = 5


@pytest.mark.parametrize(
    "change",
    [
        _set_fixed_width_title,
        _change_one_value,
        _change_a_log_line,
        _add_a_group,
        _change_a_json_attribute,
        _change_the_file_date,
    ],
)
def test_canonical_dump_tells_apart_files_that_differ(
    tmp_path: Path, pymodaq_reference_file: Path, change: Callable[[h5py.File], None]
) -> None:
    """A change of an attribute's HDF5 type or value, of one data value, of one log byte, of
    the tree, or of a volatile root attribute's type changes the dump."""
    changed = tmp_path / "changed.h5"
    shutil.copyfile(pymodaq_reference_file, changed)
    with h5py.File(changed, "a") as file:
        change(file)
    assert canonical_dump(changed) != canonical_dump(pymodaq_reference_file)


def test_reference_file_holds_the_scenarios_log_lines(pymodaq_reference_file: Path) -> None:
    """The reference file is pymodaq_data's own: it reads its log lines back."""
    from pymodaq_data.h5modules import saving as pm_saving

    saver = pm_saving.H5SaverLowLevel(backend="h5py")
    saver.init_file(pymodaq_reference_file, new_file=False, mode="r")
    try:
        assert list(saver.get_set_logger().read()) == REFERENCE_LOGS
    finally:
        saver.close_file()
