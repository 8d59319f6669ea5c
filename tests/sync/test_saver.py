"""The synchronous H5SaverLowLevel: PyMoDAQ's tree, arrays, strings, logger, SWMR and copies."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from pymodaq_data.h5modules import saving as pmd_saving

import aioh5saver
from aioh5saver import EARRAY, GROUP, H5SaverLowLevel, StringARRAY


@pytest.fixture
def saver(h5_path: Path) -> H5SaverLowLevel:
    """A saver with a new file open."""
    s = H5SaverLowLevel()
    s.init_file(h5_path, new_file=True)
    yield s
    s.close_file()


def test_init_file_reports_whether_it_created_the_file(h5_path: Path) -> None:
    """init_file returns True when it creates the file and False when it opens an existing one,
    and an existing file keeps its data."""
    first = H5SaverLowLevel()
    assert first.init_file(h5_path, new_file=True) is True
    first.add_log("kept")
    first.close_file()
    second = H5SaverLowLevel()
    assert second.init_file(h5_path, new_file=False) is False
    assert second.get_set_logger().read() == ["kept"]
    second.close_file()


@pytest.mark.parametrize("new_file", [True, False])
def test_init_file_exclusive_creates_and_never_replaces_nor_continues(
    h5_path: Path, new_file: bool
) -> None:
    """``exclusive=True`` creates a missing file, and refuses an existing one with
    ExistingFileError (also a FileExistsError) whatever ``new_file`` says, leaving it as
    it was."""
    first = H5SaverLowLevel()
    assert first.init_file(h5_path, new_file=new_file, exclusive=True) is True
    first.add_log("kept")
    first.close_file()
    second = H5SaverLowLevel()
    with pytest.raises(aioh5saver.ExistingFileError, match="which exists") as caught:
        second.init_file(h5_path, new_file=new_file, exclusive=True)
    assert isinstance(caught.value, FileExistsError)
    assert str(h5_path) in str(caught.value)
    assert not second.isopen()
    third = H5SaverLowLevel()
    third.init_file(h5_path, new_file=False, mode="r")
    assert third.get_set_logger().read() == ["kept"]
    third.close_file()


def test_init_file_gives_a_non_h5_suffix_the_h5_suffix(tmp_path: Path) -> None:
    """A file name whose suffix has no 'h5' is written as <stem>.h5, as in PyMoDAQ."""
    s = H5SaverLowLevel()
    s.init_file(tmp_path / "scan.dat", new_file=True)
    s.close_file()
    assert (tmp_path / "scan.h5").is_file()
    assert not (tmp_path / "scan.dat").exists()


def test_new_file_has_raw_group_logger_and_metadata(h5_path: Path) -> None:
    """A new file has /RawData typed by save_type, the metadata as its attributes, a Logger
    string array, and root attributes file/date/time."""
    s = H5SaverLowLevel.from_file(
        h5_path, save_type="detector", new_file=True, metadata={"sample": "Si", "n": 3}
    )
    raw = s.get_node("/RawData")
    assert raw.attrs["type"] == "detector"
    assert raw.attrs["sample"] == "Si"
    assert raw.attrs["n"] == 3
    assert isinstance(s.get_node("/RawData/Logger"), StringARRAY)
    assert s.root().attrs["file"] == "test.h5"
    assert {"date", "time", "pymodaq_data_version"} <= set(s.root().attrs.attrs_name)
    s.close_file()


def test_incremental_groups_number_from_the_highest_existing(saver: H5SaverLowLevel) -> None:
    """Incremental groups are named Type000, Type001... continuing after the highest index, also
    after a gap; channel groups have an empty type."""
    scan = saver.add_scan_group(saver.raw_group, title="s")
    assert saver.add_det_group(scan).name == "Detector000"
    saver.get_set_group(scan, "Detector007")
    assert saver.add_det_group(scan).name == "Detector008"
    assert saver.add_act_group(scan).name == "Actuator000"
    assert saver.add_move_group(scan).name == "Actuator001"
    channel = saver.add_ch_group(scan)
    assert (channel.name, channel.attrs["type"]) == ("Ch000", "")
    assert saver.add_scan_group(saver.raw_group).path == "/RawData/Scan001"


def test_data_group_is_reused_when_it_exists(saver: H5SaverLowLevel) -> None:
    """add_data_group returns the existing Data1D group instead of making another."""
    det = saver.add_det_group(saver.raw_group)
    first = saver.add_data_group(det, "Data1D", title="t")
    again = saver.add_data_group(det, aioh5saver.DataDim.Data1D)
    assert first == again
    assert saver.add_data_group(det, "data2d").name == "Data2D"


def test_add_data_group_does_not_modify_the_callers_metadata(saver: H5SaverLowLevel) -> None:
    """The metadata dict passed in is left as it was (pymodaq_data adds 'settings' to it)."""
    metadata = {"k": 1}
    saver.add_data_group(saver.raw_group, "Data0D", metadata=metadata)
    saver.add_scan_group(saver.raw_group, metadata=metadata)
    assert metadata == {"k": 1}


def test_carray_stores_the_given_data_with_its_attributes(saver: H5SaverLowLevel) -> None:
    """A CARRAY holds the data, with shape/dtype/data_type/data_dimension/metadata attributes."""
    data = np.arange(6, dtype=np.int16).reshape(2, 3)
    array = saver.add_array(
        saver.raw_group,
        "data",
        "data",
        array_to_save=data,
        data_dimension="Data1D",
        metadata={"units": "V"},
    )
    assert array.path == "/RawData/Data"
    np.testing.assert_array_equal(array.read(), data)
    expected = {
        "shape": (2, 3),
        "dtype": "int16",
        "data_type": "data",
        "data_dimension": "Data1D",
        "units": "V",
        "TITLE": "",
        "CLASS": "CARRAY",
    }
    attributes = array.attrs.to_dict()
    assert {key: attributes[key] for key in expected} == expected


@pytest.mark.parametrize(
    ("dtype", "fill_value", "expected"),
    [("float64", None, np.nan), ("int32", None, 0), ("uint16", 7, 7), ("float32", -1.5, -1.5)],
)
def test_scan_shaped_array_is_prefilled(
    saver: H5SaverLowLevel, dtype: str, fill_value: float | None, expected: float
) -> None:
    """A scan-shaped array has shape scan_shape + data_shape and is filled with fill_value: NaN
    for floats and 0 for integers by default."""
    array = saver.add_array(
        saver.raw_group,
        "scan",
        "data",
        data_shape=(2,),
        array_type=dtype,
        scan_shape=(4, 3),
        add_scan_dim=True,
        fill_value=fill_value,
        data_dimension="Data1D",
    )
    values = array.read()
    assert values.shape == (4, 3, 2)
    assert values.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(values, np.full((4, 3, 2), expected, dtype=dtype))


def test_scan_shaped_array_of_scalars_adds_no_data_axis(saver: H5SaverLowLevel) -> None:
    """data_shape (1,) means scalar data: the array has the scan shape only."""
    array = saver.add_array(
        saver.raw_group,
        "s",
        "data",
        data_shape=(1,),
        array_type=float,
        scan_shape=(5,),
        add_scan_dim=True,
        data_dimension="Data0D",
    )
    assert array.read().shape == (5,)


def test_earray_appends_single_rows_and_batches(saver: H5SaverLowLevel) -> None:
    """An EARRAY grows by one row for data of the row shape and by n rows for (n, *row) data,
    and its shape attribute follows."""
    array = saver.add_array(
        saver.raw_group,
        "frames",
        "data_enlargeable",
        data_shape=(2, 3),
        array_type=np.uint16,
        enlargeable=True,
        data_dimension="Data2D",
    )
    assert isinstance(array, EARRAY)
    array.append(np.ones((2, 3), dtype=np.uint16))
    array.append(np.arange(12, dtype=np.uint8).reshape(2, 2, 3))
    stored = array.read()
    assert stored.shape == (3, 2, 3)
    np.testing.assert_array_equal(stored[1:], np.arange(12).reshape(2, 2, 3))
    assert array.attrs["shape"] == (3, 2, 3)
    assert array.node.maxshape == (None, 2, 3)
    assert array.node.attrs["EXTDIM"] == 0


def test_earray_of_scalars_reads_a_vector_as_that_many_rows(saver: H5SaverLowLevel) -> None:
    """For single-value rows (data_shape (1,)), a 1-D array of n values appends n rows."""
    array = saver.add_array(
        saver.raw_group,
        "v",
        "data_enlargeable",
        data_shape=(1,),
        array_type=float,
        enlargeable=True,
        data_dimension="Data0D",
    )
    array.append(np.array([1.0]))
    array.append(np.array([2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(array.read()[:, 0], [1, 2, 3, 4])


def test_earray_chunks_hold_whole_rows_of_about_a_mebibyte(saver: H5SaverLowLevel) -> None:
    """Chunks of an enlargeable array hold whole rows: many small rows, or one large frame."""
    frames = saver.add_array(
        saver.raw_group,
        "f",
        "data_enlargeable",
        data_shape=(1024, 1024),
        array_type=np.uint16,
        enlargeable=True,
        data_dimension="Data2D",
    )
    spectra = saver.add_array(
        saver.raw_group,
        "s",
        "data_enlargeable",
        data_shape=(2048,),
        array_type=np.float64,
        enlargeable=True,
        data_dimension="Data1D",
    )
    assert frames.node.chunks == (1, 1024, 1024)
    assert spectra.node.chunks == (64, 2048)


def test_string_array_keeps_strings_in_order(saver: H5SaverLowLevel) -> None:
    """A string array returns the appended strings, unicode included, in order."""
    strings = saver.add_string_array(saver.raw_group, "notes", title="n", metadata={"k": 1})
    for text in ["a", "wörld", "", "x" * 70000]:
        strings.append(text)
    assert strings.read() == ["a", "wörld", "", "x" * 70000]
    assert strings[1] == "wörld"
    assert strings.attrs["shape"] == (4,)
    assert strings.name == "notes"


def test_logger_lines_survive_reopening(h5_path: Path) -> None:
    """Log lines are appended to /RawData/Logger and read back after the file is reopened."""
    s = H5SaverLowLevel.from_file(h5_path, new_file=True)
    s.add_log("one")
    s.add_log("two ✓")
    s.close_file()
    reopened = H5SaverLowLevel.from_file(h5_path, mode="r")
    assert reopened.get_set_logger().read() == ["one", "two ✓"]
    reopened.close_file()


def test_group_queries_find_groups_by_type_title_and_attribute(saver: H5SaverLowLevel) -> None:
    """get_groups, get_last_group, get_node_from_title, get_node_from_attribute_match and
    get_group_by_title find the nodes they describe, and None when there is none."""
    scan = saver.add_scan_group(saver.raw_group, title="scan")
    saver.add_det_group(scan, title="cam")
    last = saver.add_det_group(scan, title="spec", metadata={"serial": 42})
    assert [g.name for g in saver.get_groups(scan, "detector")] == ["Detector000", "Detector001"]
    assert saver.get_last_group(scan, aioh5saver.GroupType.detector) == last
    assert saver.get_last_group(scan, "actuator") is None
    assert saver.get_node_from_title("/", "spec") == last
    assert saver.get_node_from_attribute_match("/", "serial", 42) == last
    assert saver.get_node_from_title("/", "nothing") is None
    assert saver.get_group_by_title(scan, "cam").name == "Detector000"
    assert saver.is_node_in_group(scan, "detector001")


@pytest.mark.parametrize(
    ("depth", "only_groups"), [(None, False), (1, False), (2, True), (0, False)]
)
def test_walk_order_is_pymodaq_datas(
    pymodaq_reference_file: Path, depth: int | None, only_groups: bool
) -> None:
    """walk_nodes visits the reference file's nodes in the same order as pymodaq_data, for
    every depth and with only_groups (the first match of a search depends on it)."""
    path = pymodaq_reference_file
    ours = H5SaverLowLevel.from_file(path, mode="r")
    theirs = pmd_saving.H5SaverLowLevel(backend="h5py")
    theirs.open_file(path, "r")
    try:
        expected = [n.path for n in theirs.walk_nodes("/", depth=depth, only_groups=only_groups)]
        got = [n.path for n in ours.walk_nodes("/", depth=depth, only_groups=only_groups)]
        assert got == expected
        assert [g.path for g in ours.walk_groups("/")] == [g.path for g in theirs.walk_groups("/")]
    finally:
        ours.close_file()
        theirs.close_file()


def test_node_navigation(saver: H5SaverLowLevel) -> None:
    """Nodes know their name, path, title and parent; the saver finds them by path or node."""
    det = saver.add_det_group(saver.raw_group, title="cam")
    assert isinstance(det, GROUP)
    assert (det.name, det.path, det.title) == ("Detector000", "/RawData/Detector000", "cam")
    assert det.parent_node == saver.get_node("/RawData")
    assert saver.get_parent_node(det).path == "/RawData"
    assert saver.get_node("/RawData", "Detector000") == det
    assert saver.get_node_name(det) == "Detector000"
    assert saver.get_node_path("/RawData/Detector000") == det.path
    assert sorted(saver.get_children("/RawData")) == ["Detector000", "Logger"]
    assert saver.root().parent_node is None
    assert saver.get_attr(det, "TITLE") == "cam"
    saver.set_attr(det, "gain", 2.5)
    assert saver.has_attr(det, "gain")
    assert saver.get_attr(det)["gain"] == 2.5


def test_save_file_writes_a_complete_copy(saver: H5SaverLowLevel, tmp_path: Path) -> None:
    """save_file writes a flushed copy that holds everything written so far, while the saver
    keeps writing to the original."""
    array = saver.add_array(
        saver.raw_group,
        "e",
        "data_enlargeable",
        data_shape=(1,),
        array_type=float,
        enlargeable=True,
        data_dimension="Data0D",
    )
    array.append(np.array([1.0, 2.0]))
    saver.add_log("before copy")
    copy = tmp_path / "copy.h5"
    saver.save_file(copy)
    saver.add_log("after copy")
    with h5py.File(copy, "r") as f:
        assert f["RawData/E"].shape == (2, 1)
        assert f["RawData/Logger"].shape == (1,)
    assert saver.get_set_logger().read() == ["before copy", "after copy"]


def test_save_file_refuses_to_overwrite_the_open_file(saver: H5SaverLowLevel) -> None:
    """Copying the file onto itself is refused, not done."""
    with pytest.raises(aioh5saver.InvalidArgumentError, match="other than the open file"):
        saver.save_file(saver.filename)


def test_swmr_file_is_latest_format_and_readable_while_written(h5_path: Path) -> None:
    """A SWMR saver writes rows that a SWMR reader sees after a flush; finalize_swmr records the
    real shapes in the shape attributes and clears swmr_active."""
    s = H5SaverLowLevel.from_file(h5_path, new_file=True, swmr_mode=True)
    array = s.add_array(
        s.raw_group,
        "e",
        "data_enlargeable",
        data_shape=(3,),
        array_type=float,
        enlargeable=True,
        data_dimension="Data1D",
    )
    assert s.is_swmr_compatible
    assert not s.is_swmr_active
    s.enable_swmr()
    assert s.is_swmr_active
    assert s.h5_file.swmr_mode
    array.append(np.ones((4, 3)))
    s.flush()
    with h5py.File(h5_path, "r", swmr=True) as reader:
        assert reader["RawData/E"].shape == (4, 3)
        assert bool(reader.attrs["swmr_active"]) is True
    s.finalize_swmr()
    assert not s.isopen()
    with h5py.File(h5_path, "r") as f:
        assert f["RawData/E"].attrs["shape"] == aioh5saver.encode_attr((4, 3))
        assert bool(f.attrs["swmr_active"]) is False


def test_tick_flush_flushes_every_interval_writes_under_swmr(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With SWMR on and an interval of 3, tick_flush flushes on the 3rd, 6th... call only."""
    s = H5SaverLowLevel.from_file(h5_path, new_file=True, swmr_mode=True)
    flushes: list[int] = []
    s.tick_flush()  # SWMR not active yet: no flush
    s.enable_swmr()
    s.set_swmr_flush_interval(3)
    monkeypatch.setattr(s, "flush", lambda: flushes.append(s._write_count))
    for _ in range(7):
        s.tick_flush()
    assert flushes == [3, 6]
    monkeypatch.undo()
    s.close_file()


def test_swmr_mode_refuses_an_existing_file_not_made_for_it(h5_path: Path) -> None:
    """Opening an existing non-SWMR file with swmr_mode raises, and leaves the file intact
    (pymodaq_data silently replaces it with a new file)."""
    s = H5SaverLowLevel.from_file(h5_path, new_file=True)
    s.add_log("precious")
    s.close_file()
    with pytest.raises(aioh5saver.InvalidArgumentError, match="SWMR-capable"):
        H5SaverLowLevel.from_file(h5_path, swmr_mode=True)
    reopened = H5SaverLowLevel.from_file(h5_path, mode="r")
    assert reopened.get_set_logger().read() == ["precious"]
    reopened.close_file()


def test_read_only_saver_changes_nothing(h5_path: Path) -> None:
    """Through a saver opened with mode='r', every write raises ReadOnlyError and the file's
    bytes stay the same."""
    s = H5SaverLowLevel.from_file(h5_path, new_file=True)
    array = s.add_array(
        s.raw_group,
        "e",
        "data_enlargeable",
        data_shape=(1,),
        array_type=float,
        enlargeable=True,
        data_dimension="Data0D",
    )
    array.append(np.array([1.0]))
    s.close_file()
    before = h5_path.read_bytes()
    ro = H5SaverLowLevel.from_file(h5_path, mode="r")
    writes = [
        lambda: ro.add_det_group(ro.raw_group),
        lambda: ro.add_array(
            ro.raw_group, "x", "data", array_to_save=np.ones(2), data_dimension="Data1D"
        ),
        lambda: ro.add_string_array(ro.raw_group, "s"),
        lambda: ro.set_attr(ro.raw_group, "a", 1),
        lambda: ro.get_node("/RawData/E").append(np.array([2.0])),
        lambda: ro.add_log("x"),
        lambda: ro.get_set_group(ro.raw_group, "New"),
        lambda: ro.get_node("/RawData").remove_children(),
    ]
    for write in writes:
        with pytest.raises(aioh5saver.ReadOnlyError, match="read-only"):
            write()
    ro.close_file()
    assert h5_path.read_bytes() == before


def test_closed_saver_raises_closed_file_error(saver: H5SaverLowLevel) -> None:
    """After close_file, operations on the saver and on nodes taken before raise
    ClosedFileError, and close_file again is a no-op."""
    det = saver.add_det_group(saver.raw_group)
    saver.close_file()
    saver.close_file()
    assert not saver.isopen()
    with pytest.raises(aioh5saver.ClosedFileError):
        saver.add_det_group("/RawData")
    with pytest.raises(aioh5saver.ClosedFileError):
        det.attrs["x"] = 1
    with pytest.raises(aioh5saver.ClosedFileError):
        saver.add_log("late")
