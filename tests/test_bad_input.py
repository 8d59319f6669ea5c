"""Bad input to the synchronous saver: a clear SaverError that is also the natural builtin,
naming the argument or node and what was expected."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import aioh5saver
from aioh5saver import H5SaverLowLevel


@pytest.fixture
def saver(h5_path: Path) -> H5SaverLowLevel:
    """A saver with a new file holding /RawData/Det (a group), E (1-D rows of 3 float32) and
    S (strings)."""
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
        "enlargeable array without a row shape",
        lambda s: s.add_array("/RawData", "x", "data", enlargeable=True, data_dimension="Data1D"),
        aioh5saver.InvalidArgumentError,
        ValueError,
        ("data_shape", "None"),
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
        aioh5saver.InvalidArgumentError,
        ValueError,
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


def test_missing_file_opened_read_only_is_an_error_not_a_new_file(tmp_path: Path) -> None:
    """mode='r' on a missing file raises MissingFileError (FileNotFoundError) and creates
    nothing."""
    with pytest.raises(aioh5saver.MissingFileError, match="does not exist") as caught:
        H5SaverLowLevel.from_file(tmp_path / "absent.h5", mode="r")
    assert isinstance(caught.value, FileNotFoundError)
    assert list(tmp_path.iterdir()) == []
