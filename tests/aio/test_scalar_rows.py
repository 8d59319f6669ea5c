"""Rows of one value: numpy scalars of the array's own type are checked by their type alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import aioh5saver
from aioh5saver import AsyncH5Saver, NodeRef
from aioh5saver.aio.tuning import WriterTuning

pytestmark = pytest.mark.anyio

NUMERIC_DTYPES = [
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "complex64",
    "complex128",
]

# The byte order that is not the machine's.
SWAPPED = ">" if np.little_endian else "<"

# A slice of loop time that outlasts the test: every append after the first is accepted at
# once, through the scalar check when the value's type is the array's.
LONG_SLICE = WriterTuning(loop_slice_s=60.0)


async def _scalar_array(saver: AsyncH5Saver, name: str, dtype: str) -> NodeRef:
    return await saver.add_array(
        saver.raw_group,
        name,
        "data_enlargeable",
        data_shape=(),
        array_type=dtype,
        enlargeable=True,
        data_dimension="Data0D",
    )


@pytest.mark.parametrize("dtype", NUMERIC_DTYPES)
def test_a_ref_to_an_array_of_native_numeric_values_knows_their_scalar_type(dtype: str) -> None:
    """An array of rows of no shape and a native numeric dtype has its numpy scalar type;
    the ref's equality, hash and repr do not depend on it."""
    ref = NodeRef("/RawData/A", "EARRAY", (), np.dtype(dtype))
    assert ref.scalar_type is np.dtype(dtype).type
    plain = NodeRef("/RawData/A", "EARRAY")
    assert ref == plain
    assert hash(ref) == hash(plain)
    assert "scalar_type" not in repr(ref)


@pytest.mark.parametrize(
    ("row_shape", "dtype"),
    [
        ((1,), "float64"),
        ((3,), "int32"),
        ((), SWAPPED + "f8"),
        ((), SWAPPED + "i2"),
        ((), "datetime64[s]"),
        ((), "timedelta64[ms]"),
        ((), "S4"),
        ((), "U2"),
        ((), "V8"),
    ],
)
def test_arrays_of_other_rows_have_no_scalar_type(row_shape: tuple[int, ...], dtype: str) -> None:
    """Rows with a shape, a byte order other than the machine's, and dtypes whose scalar type
    does not fix them (datetimes' units, strings' lengths) have none: their rows are checked
    by shape and dtype."""
    assert NodeRef("/RawData/A", "EARRAY", row_shape, np.dtype(dtype)).scalar_type is None


def test_a_node_other_than_an_earray_has_no_scalar_type() -> None:
    """Only an enlargeable array takes appends: a ref of another kind has no scalar type,
    whatever its row shape and dtype."""
    for kind in ("CARRAY", "GROUP", "VLARRAY", "StringARRAY"):
        assert NodeRef("/RawData/A", kind, (), np.dtype("float64")).scalar_type is None, kind


@pytest.mark.parametrize("dtype", NUMERIC_DTYPES)
async def test_numpy_scalars_of_each_numeric_dtype_are_stored_in_order(
    h5_path: Path, dtype: str
) -> None:
    """Numpy scalars of an array's own type, appended within one slice, reach the file as
    they were, in order, beside Python numbers and 0-d arrays appended to the same array."""
    scalar_type = np.dtype(dtype).type
    numbers = (1, 0, 0, 1, 1) if dtype == "bool" else (3, 0, 7, 1, 5)
    values: list[Any] = [scalar_type(v) for v in numbers]
    values += [True if dtype == "bool" else 1, np.array(values[0]), scalar_type(0)]
    async with AsyncH5Saver.open(h5_path, tuning=LONG_SLICE) as saver:
        array = await _scalar_array(saver, "a", dtype)
        for value in values:
            await saver.append(array, value)
        # Through the path a ref was looked up for, too.
        await saver.append(array.path, scalar_type(1))
    with h5py.File(h5_path, "r") as file:
        rows = file["RawData/A"][()]
    assert rows.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(rows, np.array([*values, scalar_type(1)], dtype=dtype))


async def test_scalars_of_another_type_are_checked_and_converted_as_before(
    h5_path: Path,
) -> None:
    """A scalar whose type is not the array's goes through the full check: a float32 into a
    float64 array and an int64 that fits into an int32 one are stored converted, an int64
    that does not fit and a fraction into an int32 array are refused at the call, and an
    array of the other byte order takes the machine's float64 scalars with their values."""
    async with AsyncH5Saver.open(h5_path, tuning=LONG_SLICE) as saver:
        floats = await _scalar_array(saver, "f", "float64")
        ints = await _scalar_array(saver, "i", "int32")
        swapped = await _scalar_array(saver, "s", SWAPPED + "f8")
        await saver.append(floats, np.float32(0.5))
        await saver.append(floats, np.float64(1.25))
        await saver.append(ints, np.int64(7))
        await saver.append(ints, np.int32(8))
        with pytest.raises(aioh5saver.UncastableDTypeError, match="int32"):
            await saver.append(ints, np.int64(1 << 40))
        with pytest.raises(aioh5saver.UncastableDTypeError, match="int32"):
            await saver.append(ints, np.float64(2.5))
        for value in (np.float64(3.5), np.float64(-1.0)):
            await saver.append(swapped, value)
    with h5py.File(h5_path, "r") as file:
        np.testing.assert_array_equal(file["RawData/F"][()], [0.5, 1.25])
        np.testing.assert_array_equal(file["RawData/I"][()], [7, 8])
        stored = file["RawData/S"]
        assert stored.dtype.byteorder == SWAPPED
        np.testing.assert_array_equal(stored[()], [3.5, -1.0])
