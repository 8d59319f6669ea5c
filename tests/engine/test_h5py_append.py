"""ArrayWriter, the writer thread's handle on one enlargeable array: rows land in order whatever
the batch sizes and chunk boundaries, through direct chunk writes or plain ones."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from aioh5saver import H5SaverLowLevel
from aioh5saver.engine.h5py_append import ArrayWriter, append_variable_rows_h5py
from aioh5saver.sync.nodes import EARRAY


def _earray(path: Path, row_shape: tuple[int, ...], dtype: str, **options: object) -> EARRAY:
    saver = H5SaverLowLevel()
    saver.init_file(path, new_file=True)
    node = saver.add_array(
        saver.raw_group,
        "data",
        "data_enlargeable",
        data_shape=row_shape,
        array_type=dtype,
        enlargeable=True,
        data_dimension="Data1D",
    )
    assert isinstance(node, EARRAY)
    if options:  # the same array again, with the dataset options asked for
        name = node.node.name
        del saver.h5file[name]
        saver.h5file.create_dataset(
            name, shape=(0, *row_shape), maxshape=(None, *row_shape), dtype=dtype, **options
        )
        node = saver.get_node(name)
        assert isinstance(node, EARRAY)
    return node


def _rows(start: int, count: int, row_shape: tuple[int, ...], dtype: str) -> np.ndarray:
    values = np.arange(start, start + count).reshape(-1, *(1 for _ in row_shape))
    return np.broadcast_to(values, (count, *row_shape)).astype(dtype)


@pytest.mark.parametrize(
    ("row_shape", "dtype", "options", "direct"),
    [
        ((2048,), "float64", {}, True),  # 1 MiB chunks of 64 rows
        ((8,), "int32", {}, True),  # 64 KiB chunks of 2048 rows
        ((16,), "uint16", {"chunks": (5, 16), "compression": "gzip"}, False),  # a filter
        ((3, 4), "int64", {"chunks": (7, 2, 4)}, False),  # chunks that split rows
    ],
    ids=["direct", "small-rows", "compressed", "split-rows"],
)
def test_rows_written_in_odd_batches_across_chunk_boundaries_keep_their_order(
    h5_path: Path,
    row_shape: tuple[int, ...],
    dtype: str,
    options: dict[str, object],
    direct: bool,
) -> None:
    """Batches of 1 row to several chunks, starting anywhere in a chunk, strided views among
    them, land in order and exactly, whether whole chunks are written directly (chunks of
    whole rows, no filter) or not; the row count and the shape attribute follow."""
    node = _earray(h5_path, row_shape, dtype, **options)
    writer = ArrayWriter(node)
    assert writer.writes_whole_chunks_directly is direct
    rng = np.random.default_rng(7)
    written = 0
    for _ in range(12):
        parts = []
        for _ in range(int(rng.integers(1, 4))):
            count = int(rng.integers(1, 300))
            rows = _rows(written, count, row_shape, dtype)
            if count % 2:  # a strided view, as a handed-over batch may be
                doubled = np.repeat(rows, 2, axis=0)
                rows = doubled[::2]
            parts.append(rows)
            written += count
        writer.append(parts)
    assert writer.rows == written
    assert writer.shape_due
    writer.record_shape()
    assert not writer.shape_due
    file: h5py.File = node.node.file
    file.flush()
    np.testing.assert_array_equal(node.node[()], _rows(0, written, row_shape, dtype))
    assert node.attrs["shape"] == (written, *row_shape)
    file.close()


def test_rows_appended_one_at_a_time_reach_the_file_as_whole_chunks(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Single-row parts (rows appended one by one) that together fill chunks are gathered
    and written as whole chunks directly: only the part-filled chunks at either end go
    through plain writes, and every row lands in order."""
    node = _earray(h5_path, (2048,), "float64")  # chunks of 64 rows
    writer = ArrayWriter(node)
    plain_rows: list[int] = []
    write = ArrayWriter._write

    def counting_write(self: ArrayWriter, file_space: object, start: int, rows: np.ndarray) -> None:
        plain_rows.append(rows.shape[0])
        write(self, file_space, start, rows)  # type: ignore[arg-type]

    monkeypatch.setattr(ArrayWriter, "_write", counting_write)
    writer.append([_rows(0, 10, (2048,), "float64")])  # part of the first chunk
    assert plain_rows == [10]
    plain_rows.clear()
    parts = [_rows(row, 1, (2048,), "float64") for row in range(10, 10 + 54 + 128 + 5)]
    writer.append(parts)
    assert plain_rows == [1] * 54 + [1] * 5  # the end of chunk 0 and the start of chunk 3
    file: h5py.File = node.node.file
    file.flush()
    np.testing.assert_array_equal(node.node[()], _rows(0, 197, (2048,), "float64"))
    file.close()


@pytest.mark.parametrize("dtype", ["float64", ">f8", "float16", "complex128", "bool", "S4"])
def test_gathered_rows_are_copies_whatever_their_dtype_and_layout(dtype: str) -> None:
    """Rows added one at a time (contiguous, strided, or 0-D) are copied exactly, byte order
    included: changing the caller's buffer afterwards changes nothing gathered."""
    from aioh5saver.aio.ops import RowsAppend

    source = np.arange(40).astype(dtype).reshape(5, 8)
    op = RowsAppend("/a", (4,), np.dtype(dtype))
    expected = []
    for row in source:
        contiguous = np.ascontiguousarray(row[:4])
        strided = row[::2]
        op.add_row(contiguous)
        op.add_row(strided)
        expected += [contiguous.copy(), strided.copy()]
        contiguous[...] = source[0, 0]
    assert all(part.dtype == np.dtype(dtype) for part in op.parts())
    np.testing.assert_array_equal(np.concatenate(op.parts()), np.stack(expected))
    scalars = RowsAppend("/b", (), np.dtype(dtype))
    for value in source[0]:
        scalars.add_row(value)
    np.testing.assert_array_equal(np.concatenate(scalars.parts()), source[0])


VARIABLE_ROW_SETS = {
    "equal lengths": [np.arange(5, dtype=np.uint8) + i % 200 for i in range(300)],
    "lengths 0 to 6": [np.full(i % 7, i, dtype=np.uint8) for i in range(50)],
    "one row": [np.frombuffer(b"one line", dtype=np.uint8)],
    "only empty rows": [np.zeros(0, dtype=np.uint8)] * 3,
}


@pytest.mark.parametrize("base", ["uint8", "float64"])
@pytest.mark.parametrize("row_set", sorted(VARIABLE_ROW_SETS))
def test_variable_rows_appended_in_one_write_read_back_whole_and_in_order(
    tmp_path: Path, row_set: str, base: str
) -> None:
    """append_variable_rows_h5py writes a batch of variable-length rows after those already
    there, each row whole and in order, equal-length rows included (which h5py's own slice
    assignment refuses), and h5py reads them back with the base type they were written with."""
    rows = [row.astype(base) for row in VARIABLE_ROW_SETS[row_set]]
    path = tmp_path / "vlen.h5"
    with h5py.File(path, "w") as file:
        dataset = file.create_dataset(
            "rows", shape=(1,), maxshape=(None,), dtype=h5py.vlen_dtype(np.dtype(base))
        )
        dataset[0] = np.array([7, 7], dtype=base)
        append_variable_rows_h5py(dataset, rows)
        append_variable_rows_h5py(dataset, [])
    with h5py.File(path, "r") as file:
        stored = list(file["rows"][...])
    assert len(stored) == 1 + len(rows)
    assert stored[0].tolist() == [7, 7]
    for index, (got, want) in enumerate(zip(stored[1:], rows, strict=True)):
        assert got.dtype == np.dtype(base), index
        assert got.tolist() == want.tolist(), index
