"""The file format aioh5saver writes: never newer than HDF5 1.10, so that HDF5 1.10 and later
read every file (the readers themselves are in ``test_real_readers.py``).

- every open for writing uses h5py libver bounds ``('v110', 'v110')`` with SWMR (SWMR needs the
  1.10 format) and ``('earliest', 'v110')`` without, through SWMR starts, pauses, reopens and
  continuations;
- files with SWMR have superblock version 3, files without version 0 (no consistency flags, so
  a killed writer's file opens without ``recover``);
- a SWMR file pymodaq_data wrote in the latest format continues under SWMR;
- continuing a file in a format older than 1.10 under SWMR is refused at open (the tests are
  in the bad-input files, ``test_bad_input.py`` and ``test_bad_input_async.py``).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from pymodaq_data.h5modules import saving as pm_saving

from aioh5saver import AsyncH5Saver, H5Backend, H5SaverLowLevel
from aioh5saver.engine.h5py_engine import LIBVER_PLAIN, LIBVER_SWMR
from aioh5saver.engine.superblock import read_superblock
from helpers import pymodaq_read

SWMR_BOUNDS = ("v110", "v110")
PLAIN_BOUNDS = ("earliest", "v110")


def test_the_bounds_are_the_1_10_format() -> None:
    """The bounds the file layer uses are the 1.10 format with SWMR, the earliest format
    capped at 1.10 without."""
    assert (LIBVER_SWMR, LIBVER_PLAIN) == (SWMR_BOUNDS, PLAIN_BOUNDS)


@pytest.mark.parametrize("swmr_mode", [False, True], ids=["plain", "swmr"])
@pytest.mark.parametrize("mode", ["w", "a-new", "a-existing", "r+", "w-", "x"])
def test_every_open_for_writing_caps_the_format_at_1_10(
    h5_path: Path, mode: str, swmr_mode: bool
) -> None:
    """Whatever the writing mode, a file opened by the file layer writes the 1.10 format with
    swmr_mode and the earliest format capped at 1.10 without, never 'latest'."""
    if mode in ("a-existing", "r+"):
        with h5py.File(h5_path, "w", libver=SWMR_BOUNDS if swmr_mode else PLAIN_BOUNDS):
            pass
    backend = H5Backend()
    file = backend.open_file(
        h5_path, mode.removesuffix("-new").removesuffix("-existing"), swmr_mode=swmr_mode
    )
    try:
        assert file.libver == (SWMR_BOUNDS if swmr_mode else PLAIN_BOUNDS)
    finally:
        backend.close_file()


def test_read_only_opens_leave_the_bounds_to_hdf5(h5_path: Path) -> None:
    """Reading writes nothing, so read-only opens pass no bounds (and read any format)."""
    with h5py.File(h5_path, "w", libver="latest"):
        pass
    with h5py.File(h5_path, "r") as plain:
        default = plain.libver
    backend = H5Backend()
    file = backend.open_file(h5_path, "r")
    try:
        assert file.libver == default
    finally:
        backend.close_file()


def test_sync_files_keep_the_1_10_format_through_swmr_reopen_and_continuation(
    h5_path: Path,
) -> None:
    """A SWMR file stays in the 1.10 format when SWMR starts, when finalize_swmr reopens it,
    and when it is continued with or without SWMR; a plain file is capped at 1.10 when it is
    created and continued. Superblock versions: 3 with SWMR, 0 without."""
    saver = H5SaverLowLevel.from_file(h5_path, new_file=True, swmr_mode=True)
    array = saver.add_array(
        saver.raw_group,
        "e",
        "data_enlargeable",
        data_shape=(2,),
        enlargeable=True,
        data_dimension="Data1D",
    )
    saver.enable_swmr()
    array.append(np.ones(2))
    assert saver.h5file is not None
    assert saver.h5file.libver == SWMR_BOUNDS
    saver.finalize_swmr(keep_open=True)
    assert saver.h5file is not None
    assert saver.h5file.libver == SWMR_BOUNDS
    saver.close_file()
    for swmr_mode in (True, False):
        continued = H5SaverLowLevel.from_file(h5_path, swmr_mode=swmr_mode)
        assert continued.h5file is not None
        assert continued.h5file.libver == (SWMR_BOUNDS if swmr_mode else PLAIN_BOUNDS)
        continued.add_log(f"continued, swmr_mode={swmr_mode}")
        continued.close_file()
    assert read_superblock(h5_path).version == 3

    plain = h5_path.with_name("plain.h5")
    for new_file in (True, False):
        saver = H5SaverLowLevel.from_file(plain, new_file=new_file)
        assert saver.h5file is not None
        assert saver.h5file.libver == PLAIN_BOUNDS
        saver.add_log("line")
        saver.close_file()
    assert read_superblock(plain).version == 0


@pytest.mark.anyio
@pytest.mark.parametrize("swmr", [False, True], ids=["plain", "swmr"])
async def test_async_files_have_the_superblock_of_their_format(
    h5_path: Path, anyio_backend: str, swmr: bool
) -> None:
    """AsyncH5Saver files have superblock version 3 with SWMR (the 1.10 format, kept through a
    structure change that pauses SWMR and a continuation) and 0 without."""
    async with AsyncH5Saver.open(h5_path, swmr=swmr) as saver:
        array = await saver.add_array(
            saver.raw_group,
            "e",
            "data_enlargeable",
            data_shape=(2,),
            enlargeable=True,
            data_dimension="Data1D",
        )
        await saver.append(array, np.ones(2))
        await saver.add_det_group(saver.raw_group, title="late")
        await saver.append(array, np.ones(2))
    async with AsyncH5Saver.open(h5_path, swmr=swmr, new_file=False) as saver:
        await saver.append(array.path, np.ones(2))  # a NodeRef belongs to its saver
    assert read_superblock(h5_path).version == (3 if swmr else 0)


@pytest.mark.anyio
async def test_a_pymodaq_data_swmr_file_in_the_latest_format_continues_under_swmr(
    h5_path: Path, anyio_backend: str
) -> None:
    """A SWMR file pymodaq_data wrote (libver 'latest', superblock 3) continues under SWMR in
    the 1.10 format: rows appended after the old ones, a log line, and pymodaq_data reads
    them all."""
    pm_saver = pm_saving.H5SaverLowLevel(backend="h5py")
    pm_saver.init_file(h5_path, new_file=True, swmr_mode=True)
    det = pm_saver.add_det_group(pm_saver.add_scan_group(), title="pymodaq")
    array = pm_saver.add_array(
        det,
        "data",
        "data_enlargeable",
        data_shape=(2,),
        array_type="float64",
        enlargeable=True,
        data_dimension="Data1D",
    )
    path = array.path
    pm_saver.add_log("written by pymodaq_data")
    pm_saver.enable_swmr()
    array.append(np.array([1.0, 2.0]))
    pm_saver.close_file()
    assert read_superblock(h5_path).version == 3

    async with AsyncH5Saver.open(h5_path, new_file=False, swmr=True) as saver:
        await saver.append(path, np.array([3.0, 4.0]))
        await saver.add_log("continued by aioh5saver")
        assert saver.statistics().swmr_active
    data, logs = pymodaq_read(h5_path, [path])
    np.testing.assert_array_equal(data[path], [[1.0, 2.0], [3.0, 4.0]])
    assert logs == ["written by pymodaq_data", "continued by aioh5saver"]
