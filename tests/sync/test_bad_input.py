"""Bad input to the synchronous saver: a clear SaverError that is also the natural builtin,
naming the argument or node and what was expected."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import aioh5saver
from aioh5saver import CorruptJournalError, H5SaverLowLevel, UnfinishedWriteError
from aioh5saver.engine.journal import (
    _HEADER,
    _RECORD,
    JournaledFile,
    _record_crc,
    journal_path,
    roll_back,
)
from aioh5saver.engine.superblock import read_superblock
from cast_cases import CASES as CAST_CASES
from cast_cases import CastCase, by_target
from helpers import OLDER_THAN_1_10, ORIGINAL, journal_started, swmr_capable_in_an_older_format
from reference import canonical_dump


@pytest.fixture
def saver(h5_path: Path) -> H5SaverLowLevel:
    """A saver with a new file holding /RawData/Det (a group), E (1-D rows of 3 float32),
    S (strings), U (single uint32 values, a 0D array) and V (a VLARRAY of int8)."""
    s = H5SaverLowLevel()
    s.init_file(h5_path, new_file=True)
    s.get_set_group(s.raw_group, "Det")
    s.add_array(
        s.raw_group,
        "e",
        "data_enlargeable",
        data_shape=(3,),
        array_type=np.float32,
        enlargeable=True,
        data_dimension="Data1D",
    )
    s.add_string_array(s.raw_group, "S")
    s.add_array(
        s.raw_group,
        "u",
        "data_enlargeable",
        data_shape=(1,),
        array_type=np.uint32,
        enlargeable=True,
        data_dimension="Data0D",
    )
    s.create_vlarray(s.raw_group, "V", np.int8)
    yield s
    s.close_file()


def _append(path: str, data: Any) -> Callable[[H5SaverLowLevel], Any]:
    return lambda s: s.get_node(path).append(data)


# (case, call, error class, builtin, words the message must contain)
CASES: list[
    tuple[str, Callable[[H5SaverLowLevel], Any], type[Exception], type[Exception], tuple[str, ...]]
] = [
    (
        "unknown node path",
        lambda s: s.get_node("/RawData/Nope"),
        aioh5saver.NodeNotFoundError,
        KeyError,
        ("/RawData/Nope",),
    ),
    (
        "unknown child name",
        lambda s: s.get_node("/RawData", "Nope"),
        aioh5saver.NodeNotFoundError,
        KeyError,
        ("Nope",),
    ),
    (
        "unknown where for a group",
        lambda s: s.add_det_group("/Missing"),
        aioh5saver.NodeNotFoundError,
        KeyError,
        ("/Missing",),
    ),
    (
        "where of a wrong type",
        lambda s: s.add_det_group(42),
        aioh5saver.NodeKindError,
        TypeError,
        ("where", "int 42"),
    ),
    (
        "group under an array",
        lambda s: s.add_det_group("/RawData/E"),
        aioh5saver.NodeKindError,
        TypeError,
        ("/RawData/E", "group"),
    ),
    (
        "name with a slash in add_array",
        lambda s: s.add_array(
            "/RawData", "a/b", "data", array_to_save=np.ones(2), data_dimension="Data1D"
        ),
        aioh5saver.InvalidNameError,
        ValueError,
        ("'a/b'", "'/'"),
    ),
    (
        "name with a slash in get_set_group",
        lambda s: s.get_set_group("/RawData", "x/y"),
        aioh5saver.InvalidNameError,
        ValueError,
        ("'x/y'",),
    ),
    (
        "empty name",
        lambda s: s.add_string_array("/RawData", ""),
        aioh5saver.InvalidNameError,
        ValueError,
        ("''",),
    ),
    (
        "name already used",
        lambda s: s.add_string_array("/RawData", "S"),
        aioh5saver.InvalidNameError,
        ValueError,
        ("'S'", "exists"),
    ),
    (
        "unknown DataType",
        lambda s: s.add_array(
            "/RawData", "x", "picture", array_to_save=np.ones(2), data_dimension="Data1D"
        ),
        aioh5saver.InvalidEnumError,
        ValueError,
        ("data_type", "'picture'", "DataType"),
    ),
    (
        "unknown DataDim",
        lambda s: s.add_array(
            "/RawData", "x", "data", array_to_save=np.ones(2), data_dimension="Data5D"
        ),
        aioh5saver.InvalidEnumError,
        ValueError,
        ("data_dimension", "'Data5D'", "Data0D"),
    ),
    (
        "unknown DataDim for a data group",
        lambda s: s.add_data_group("/RawData", "Data3D"),
        aioh5saver.InvalidEnumError,
        ValueError,
        ("data_dim", "'Data3D'"),
    ),
    (
        "unknown save type",
        lambda s: H5SaverLowLevel(save_type="movie"),
        aioh5saver.InvalidEnumError,
        ValueError,
        ("save_type", "'movie'"),
    ),
    (
        "group type of a wrong type",
        lambda s: s.add_incremental_group(3, "/RawData"),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("group_type", "int 3"),
    ),
    (
        "add_array with neither data nor shape",
        lambda s: s.add_array("/RawData", "x", "data", data_dimension="Data1D"),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("array_to_save", "data_shape", "'x'"),
    ),
    (
        "unknown array_type",
        lambda s: s.add_array(
            "/RawData",
            "x",
            "data",
            data_shape=(2,),
            array_type="flaot",
            enlargeable=True,
            data_dimension="Data1D",
        ),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("array_type", "'flaot'"),
    ),
    (
        "negative row shape",
        lambda s: s.add_array(
            "/RawData", "x", "data", data_shape=(-2,), enlargeable=True, data_dimension="Data1D"
        ),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("data_shape", "(-2,)"),
    ),
    *[
        (
            f"zero-sized row shape {shape} for an enlargeable array",
            lambda s, shape=shape: s.add_array(
                "/RawData", "x", "data", data_shape=shape, enlargeable=True, data_dimension="Data1D"
            ),
            aioh5saver.InvalidArgumentError,
            ValueError,
            ("data_shape", "no dimension of size 0", str(shape)),
        )
        for shape in [(0,), (2, 0)]
    ],
    (
        "zero-sized row shape for create_earray",
        lambda s: s.create_earray("/RawData", "y", "f8", (3, 0)),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("data_shape", "(3, 0)"),
    ),
    (
        "fill value not representable",
        lambda s: s.add_array(
            "/RawData",
            "x",
            "data",
            data_shape=(2,),
            array_type="int8",
            scan_shape=(2,),
            add_scan_dim=True,
            fill_value=np.nan,
            data_dimension="Data1D",
        ),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("fill_value", "int8", "nan"),
    ),
    (
        "row of the wrong shape",
        _append("/RawData/E", np.ones(4, dtype=np.float32)),
        aioh5saver.ShapeMismatchError,
        ValueError,
        ("/RawData/E", "(3,)", "(4,)"),
    ),
    (
        "batch of the wrong row shape",
        _append("/RawData/E", np.ones((2, 2), dtype=np.float32)),
        aioh5saver.ShapeMismatchError,
        ValueError,
        ("(3,)", "(2, 2)"),
    ),
    (
        "text into a float array",
        _append("/RawData/E", np.array(["a", "b", "c"])),
        aioh5saver.UncastableDTypeError,
        TypeError,
        ("/RawData/E", "float32", "<U1"),
    ),
    (
        "negative values into an unsigned array",
        _append("/RawData/U", np.array([5, -1])),
        aioh5saver.UncastableDTypeError,
        TypeError,
        ("/RawData/U", "uint32", "from 0 to 4294967295", "int64 values from -1 to 5"),
    ),
    (
        "a value too large for an int8 VLARRAY",
        _append("/RawData/V", np.array([1, 300])),
        aioh5saver.UncastableDTypeError,
        TypeError,
        ("/RawData/V", "int8", "from -128 to 127", "from 1 to 300"),
    ),
    (
        "a Python int out of range for a 0D array",
        _append("/RawData/U", -5),
        aioh5saver.UncastableDTypeError,
        TypeError,
        ("/RawData/U", "uint32", "int -5"),
    ),
    (
        "floats into an integer array",
        _append("/RawData/U", np.array([2.0])),
        aioh5saver.UncastableDTypeError,
        TypeError,
        ("/RawData/U", "uint32", "float64", ".astype('uint32')"),
    ),
    (
        "NaN into an integer array",
        _append("/RawData/V", np.array([np.nan])),
        aioh5saver.UncastableDTypeError,
        TypeError,
        ("/RawData/V", "int8", "float64"),
    ),
    (
        "a finite float beyond float32's range",
        _append("/RawData/E", np.array([0.0, 1e300, 0.0])),
        aioh5saver.UncastableDTypeError,
        TypeError,
        ("/RawData/E", "float32", "1e+300"),
    ),
    (
        "complex into a float array",
        _append("/RawData/E", np.ones(3, dtype=complex)),
        aioh5saver.UncastableDTypeError,
        TypeError,
        ("float32", "complex128"),
    ),
    (
        "a list instead of an array",
        _append("/RawData/E", [1.0, 2.0, 3.0]),
        aioh5saver.UncastableDTypeError,
        TypeError,
        ("numpy array", "list"),
    ),
    (
        "a non-str into a string array",
        _append("/RawData/S", 12),
        aioh5saver.UncastableDTypeError,
        TypeError,
        ("/RawData/S", "str", "int 12"),
    ),
    (
        "set_swmr_flush_interval negative",
        lambda s: s.set_swmr_flush_interval(-1),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("interval", "-1"),
    ),
    (
        "enable_swmr on a file not opened for SWMR",
        lambda s: s.enable_swmr(),
        aioh5saver.SwmrModeError,
        RuntimeError,
        ("swmr_mode=True",),
    ),
    (
        "save_file without a path",
        lambda s: s.save_file(None),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("filename", "None"),
    ),
    (
        "read a missing attribute",
        lambda s: s.get_attr("/RawData", "nothing"),
        aioh5saver.NodeNotFoundError,
        KeyError,
        ("/RawData", "'nothing'"),
    ),
    (
        "unknown file mode",
        lambda s: H5SaverLowLevel().init_file(Path(s.filename), mode="rw"),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("mode", "'rw'"),
    ),
    (
        "file name of a wrong type",
        lambda s: H5SaverLowLevel().init_file(3.5),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("file_name", "float 3.5"),
    ),
    (
        "name '.'",
        lambda s: s.get_set_group("/RawData", "."),
        aioh5saver.InvalidNameError,
        ValueError,
        ("not '.'", "got '.'"),
    ),
    (
        "child name of a wrong type",
        lambda s: s.get_node("/RawData", 5),
        aioh5saver.InvalidNameError,
        ValueError,
        ("name", "str", "int 5"),
    ),
    (
        "infinite fill value for an int array",
        lambda s: s.add_array(
            "/RawData",
            "x",
            "data",
            data_shape=(2,),
            array_type="int8",
            scan_shape=(2,),
            add_scan_dim=True,
            fill_value=np.inf,
            data_dimension="Data1D",
        ),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("fill_value", "int8", "float inf"),
    ),
    (
        "object array to save",
        lambda s: s.add_array(
            "/RawData", "x", "data", array_to_save=np.array([object()]), data_dimension="Data1D"
        ),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("numeric or fixed-width", "object array"),
    ),
    (
        "unknown dtype for an enlargeable array",
        lambda s: s.create_earray("/RawData", "y", "flaot", (2,)),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("numpy dtype", "'flaot'"),
    ),
    (
        "read a group",
        lambda s: s.read("/RawData"),
        aioh5saver.NodeKindError,
        TypeError,
        ("an array", "group /RawData"),
    ),
    (
        "metadata that is not a mapping with str keys",
        lambda s: H5SaverLowLevel().init_file(Path(s.filename).with_name("m.h5"), metadata=5),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("metadata", "mapping with str keys", "int 5"),
    ),
    (
        "a file in a folder that does not exist",
        lambda s: H5SaverLowLevel().init_file(Path(s.filename).parent / "nowhere" / "x.h5"),
        aioh5saver.MissingFileError,
        FileNotFoundError,
        ("file_name", "existing folder", "nowhere"),
    ),
    (
        "save_file into a folder",
        lambda s: s.save_file(Path(s.filename).parent),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("filename", "a folder"),
    ),
    (
        "save_file onto the open file",
        lambda s: s.save_file(s.filename),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("filename", "other than the open file"),
    ),
]


@pytest.mark.parametrize(
    ("case", "call", "error", "builtin", "words"), CASES, ids=[case[0] for case in CASES]
)
def test_bad_input_raises_a_clear_saver_error(
    saver: H5SaverLowLevel,
    case: str,
    call: Callable[[H5SaverLowLevel], Any],
    error: type[Exception],
    builtin: type[Exception],
    words: tuple[str, ...],
) -> None:
    """Each misuse raises its SaverError subclass, which is also the natural builtin, with a
    message naming what was given and what was expected."""
    with pytest.raises(error) as caught:
        call(saver)
    assert isinstance(caught.value, aioh5saver.SaverError)
    assert isinstance(caught.value, builtin)
    message = str(caught.value)
    assert "expected" in message or "no node" in message or "has no" in message, message
    for word in words:
        assert word in message, (word, message)


def test_bad_input_leaves_the_file_as_it_was(saver: H5SaverLowLevel) -> None:
    """After every misuse the file holds exactly what it held before: nothing half-written."""
    before = sorted(n.path for n in saver.walk_nodes("/"))
    rows_before = saver.get_node("/RawData/E").read().shape
    for _, call, error, _, _ in CASES:
        with pytest.raises(error):
            call(saver)
    assert sorted(n.path for n in saver.walk_nodes("/")) == before
    assert saver.get_node("/RawData/E").read().shape == rows_before
    assert saver.get_node("/RawData/S").read() == []


@pytest.mark.parametrize("backend", ["tables", "h5pyd", "zarr"])
def test_other_backends_are_refused(backend: str) -> None:
    """Only h5py is a backend here: anything else raises UnsupportedBackendError (ValueError)
    naming the backend asked for."""
    with pytest.raises(aioh5saver.UnsupportedBackendError, match=f"'{backend}'") as caught:
        H5SaverLowLevel(backend=backend)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("bounds", list(OLDER_THAN_1_10.values()), ids=list(OLDER_THAN_1_10))
def test_swmr_continuation_of_a_file_older_than_1_10_is_refused_and_changes_nothing(
    h5_path: Path, bounds: tuple[str, str]
) -> None:
    """from_file(swmr_mode=True) on a SWMR-capable file in a format older than HDF5 1.10 (which
    SWMR needs, and HDF5 cannot upgrade in place) raises InvalidArgumentError (ValueError)
    naming the superblock version and both ways on, and leaves the file's bytes as they were;
    without SWMR the file continues."""
    digest = swmr_capable_in_an_older_format(h5_path, bounds)
    version = read_superblock(h5_path).version
    assert version < 3
    with pytest.raises(
        aioh5saver.InvalidArgumentError, match=f"superblock version {version}"
    ) as caught:
        H5SaverLowLevel.from_file(h5_path, swmr_mode=True)
    assert isinstance(caught.value, ValueError)
    assert "swmr_mode=False" in str(caught.value)
    assert "new_file=True" in str(caught.value)
    assert hashlib.sha256(h5_path.read_bytes()).hexdigest() == digest
    saver = H5SaverLowLevel.from_file(h5_path)
    saver.add_log("continued")
    assert saver.get_set_logger().read() == ["precious", "continued"]
    saver.close_file()


def test_missing_file_opened_read_only_is_an_error_not_a_new_file(tmp_path: Path) -> None:
    """mode='r' on a missing file raises MissingFileError (FileNotFoundError) and creates
    nothing."""
    with pytest.raises(aioh5saver.MissingFileError, match="does not exist") as caught:
        H5SaverLowLevel.from_file(tmp_path / "absent.h5", mode="r")
    assert isinstance(caught.value, FileNotFoundError)
    assert list(tmp_path.iterdir()) == []


# -- inputs accepted on purpose ---------------------------------------------------------------


def test_the_dtype_rule_refuses_only_a_real_loss(h5_path: Path) -> None:
    """Every value of every source dtype (bool, ints, uints, floats, complex; in and out of
    range, fractions, NaN, inf) appended to EARRAYs and VLARRAYs of every integer and float
    dtype: accepted, and stored as the value converted, exactly when the documented rule says
    no value is lost (tests/cast_cases.py works the outcome out from the rule); refused with
    UncastableDTypeError otherwise, leaving the array as it was. Batches of one source dtype
    pass when all their values do and are refused whole when one value is lost."""
    s = H5SaverLowLevel()
    s.init_file(h5_path, new_file=True)
    try:
        for kind in ("EARRAY", "VLARRAY"):
            for target, cases in by_target().items():
                _sweep_one_array(s, kind, target, cases)
        assert sum(case.accepted for case in CAST_CASES) > 200
        assert sum(not case.accepted for case in CAST_CASES) > 200
    finally:
        s.close_file()


def _sweep_one_array(s: H5SaverLowLevel, kind: str, target: str, cases: list[CastCase]) -> None:
    if kind == "EARRAY":
        array = s.add_array(
            s.raw_group,
            f"a_{target}",
            "data_enlargeable",
            data_shape=(1,),
            array_type=target,
            enlargeable=True,
            data_dimension="Data0D",
        )
    else:
        array = s.create_vlarray(s.raw_group, f"V_{target}", target)
    stored = []
    for case in cases:
        if case.accepted:
            array.append(case.data())
            stored.append(case.stored())
        else:
            with pytest.raises(aioh5saver.UncastableDTypeError, match=target):
                array.append(case.data())
        assert len(array) == len(stored), (kind, case.id)
    if kind == "EARRAY":
        # Batches of one source dtype: all that source's accepted values pass together; with
        # one refused value among them, the whole batch is refused.
        for source in {case.source for case in cases}:
            mine = [case for case in cases if case.source == source]
            good = [case for case in mine if case.accepted]
            if good:
                array.append(np.concatenate([case.data() for case in good]))
                stored.extend(case.stored() for case in good)
            if len(good) < len(mine):
                with pytest.raises(aioh5saver.UncastableDTypeError, match=target):
                    array.append(np.concatenate([case.data() for case in mine]))
            assert len(array) == len(stored), (kind, source)
    got = array.read()
    rows = got[:, 0] if kind == "EARRAY" else np.concatenate(list(got))
    assert rows.dtype == np.dtype(target)
    np.testing.assert_array_equal(rows, np.concatenate(stored), err_msg=f"{kind} {target}")


def test_int64_values_that_fit_go_into_uint32_and_int8_arrays(saver: H5SaverLowLevel) -> None:
    """``np.array([10])`` (int64) into a uint32 EARRAY and an int8 VLARRAY is accepted: the
    values fit (it used to be refused for uint32 while int64 into int32 was accepted, even
    out of range)."""
    saver.get_node("/RawData/U").append(np.array([10, 4_294_967_295]))
    saver.get_node("/RawData/V").append(np.array([-128, 10, 127]))
    np.testing.assert_array_equal(saver.get_node("/RawData/U").read(), [[10], [4_294_967_295]])
    np.testing.assert_array_equal(saver.get_node("/RawData/V").read()[0], [-128, 10, 127])


def test_a_python_number_or_a_0d_scalar_is_one_row_of_a_0d_array(
    saver: H5SaverLowLevel,
) -> None:
    """append() on an array of single values (data_shape (1,), or none) takes a Python int,
    float or bool and a 0-d numpy scalar or array as one row each, in float64 and int32
    arrays; a fraction or an out-of-range int into the int array is still refused, and the
    shape error names the batch shape as ``(n, 1)``, without a stray comma."""
    for row_shape in ((1,), None):
        for dtype in ("float64", "int32"):
            _append_scalars(saver, row_shape, dtype)


def _append_scalars(saver: H5SaverLowLevel, row_shape: tuple[int, ...] | None, dtype: str) -> None:
    array = saver.add_array(
        saver.raw_group,
        f"zero_d_{dtype}_{len(row_shape or ())}",
        "data_enlargeable",
        data_shape=row_shape,
        array_type=dtype,
        enlargeable=True,
        data_dimension="Data0D",
    )
    values: list[Any] = [7, True, np.int16(3), np.array(4, np.int64), -(2**31)]
    if dtype == "float64":
        values += [2.5, np.float64(5.0), np.float32(0.25), np.array(-1.5), 2**70]
    for value in values:
        array.append(value)
    expected = np.array([float(v) for v in values]).astype(dtype)
    got = array.read()
    np.testing.assert_array_equal(got.reshape(-1), expected)
    assert got.shape == ((len(values),) if row_shape is None else (len(values), 1))
    if dtype == "int32":
        with pytest.raises(aioh5saver.UncastableDTypeError, match="float64"):
            array.append(2.5)
        with pytest.raises(aioh5saver.UncastableDTypeError, match="int 4294967296"):
            array.append(2**32)
    if row_shape == (1,):
        with pytest.raises(aioh5saver.ShapeMismatchError) as caught:
            array.append(np.ones((2, 2), dtype))
        assert "(n, 1)" in str(caught.value)
        assert "(n, 1,)" not in str(caught.value)
    assert len(array) == len(values)


def test_an_enlargeable_array_without_a_row_shape_holds_single_values_as_in_pymodaq_data(
    tmp_path: Path,
) -> None:
    """``add_array(..., array_to_save=np.array([0., 1.]), enlargeable=True)`` without
    data_shape makes what pymodaq_data 5.3.0 makes: an empty EARRAY of single values (shape
    (0,), maxshape (None,)), same attributes; appends of n values, of one value and of a
    1-element array with expand=False give the same file (canonical dumps equal)."""
    from pymodaq_data.h5modules import saving as pm_saving

    dumps = []
    for module, name in ((pm_saving, "pymodaq.h5"), (aioh5saver, "ours.h5")):
        s = module.H5SaverLowLevel(save_type="scan", backend="h5py")
        s.init_file(tmp_path / name, new_file=True)
        axis = s.add_array(
            s.raw_group,
            "Axis00",
            "axis",
            array_to_save=np.array([0.0, 1.0]),
            data_dimension="Data1D",
            enlargeable=True,
            metadata={"label": "z", "units": "um", "size": 0},
        )
        assert axis.node.shape == (0,)
        assert axis.node.maxshape == (None,)
        axis.append(np.array([0.5, 1.5]))
        axis.append(np.array([2.5]))
        axis.append(np.array([3.5]), expand=False)
        assert axis.attrs["shape"] == (4,)
        s.close_file()
        dumps.append(canonical_dump(tmp_path / name))
    assert dumps[0] == dumps[1]
    assert "shape=(4,) maxshape=(None,)" in dumps[1]


# -- rollback journals (docs/bad-input.md) ---------------------------------------------------


@pytest.mark.parametrize(
    "damage",
    ["magic", "header_crc", "record_past_the_end"],
)
def test_a_journal_aioh5saver_did_not_write_is_refused_and_changes_nothing(
    tmp_path: Path, damage: str
) -> None:
    """A foreign or crafted journal (wrong magic, header checksum, a page outside the file)
    raises CorruptJournalError naming the journal; the file and the journal stay as they are."""
    path = tmp_path / "f.h5"
    journaled = journal_started(path, ORIGINAL)
    journaled.seek(0)
    journaled.write(b"changed")
    journaled.close()
    journal = journal_path(path)
    content = bytearray(journal.read_bytes())
    if damage == "magic":
        content[0:8] = b"NOTAJRNL"
    elif damage == "header_crc":
        content[10] ^= 0xFF  # the recorded size, no longer matching its checksum
    else:
        # A whole record of the journal's first checkpoint, for a page past the file's end.
        crc = _record_crc(1, len(ORIGINAL), b"evil")
        content[_HEADER.size : _HEADER.size + _RECORD.size + 4] = (
            _RECORD.pack(len(ORIGINAL), 4, crc) + b"evil"
        )
    journal.write_bytes(bytes(content))
    before = path.read_bytes()

    with pytest.raises(CorruptJournalError, match=str(journal)):
        roll_back(path)

    assert path.read_bytes() == before
    assert journal.read_bytes() == bytes(content)


def test_a_file_with_a_journal_is_not_opened_for_writing_until_recovered(tmp_path: Path) -> None:
    """A journal beside a file means its writer was killed mid-write: opening it for writing
    raises UnfinishedWriteError saying to run recover; recover applies the journal, after which
    the file opens."""
    path = tmp_path / "f.h5"
    saver = aioh5saver.H5SaverLowLevel()
    saver.init_file(path, new_file=True, swmr_mode=True)
    saver.close_file()
    journal = journal_path(path)
    journaled = JournaledFile(path, os.open(path, os.O_RDWR))
    journaled.start_journal()
    journaled.close()

    saver = aioh5saver.H5SaverLowLevel()
    with pytest.raises(UnfinishedWriteError, match="aioh5saver recover"):
        saver.init_file(path, new_file=False)
    assert journal.exists()

    report = aioh5saver.recover(path)
    assert report.rolled_back is not None
    assert "rolled back" in aioh5saver.render_recovery(report)
    assert not journal.exists()
    saver.init_file(path, new_file=False)
    saver.close_file()
