"""The writer thread's handle on one enlargeable array: appends rows with few HDF5 calls.

h5py releases the GIL around every HDF5 call, even one that only reads a dataset's shape or
type, and while the event loop is busy each call waits up to the interpreter's switch interval
to get the GIL back. A batch's cost is therefore counted in HDF5 calls, not bytes: the
high-level path (shape, dtype, chunks, resize, a slice write with its selections, and a
``shape`` attribute rewrite, each several calls) took 8.4 ms a batch for 8 arrays of 1,500
scalar rows beside a busy loop, against 0.3 ms for this path (median of 60 batches, here).

So the handle keeps what it knows (row count, row shape, dtype, chunk size, memory type) and
writes with one extent change, one file space and, per part, one plain write for rows that do
not fill a chunk plus one direct chunk write per whole chunk; the ``shape`` attribute PyMoDAQ
reads is written when asked, at barriers and flushes, not once per batch.
"""

from __future__ import annotations

import math

import h5py
import numpy as np
from h5py import h5s, h5t

from .attrs import encode_attr
from .nodes import EARRAY, h5_errors, require_writable

__all__ = ["ArrayWriter"]


class ArrayWriter:
    """Appends checked rows to one EARRAY, which only this handle changes while it lives."""

    __slots__ = (
        "_chunk_rows",
        "_dataset",
        "_memory_type",
        "_origin",
        "_recorded_rows",
        "chunk_bytes",
        "dtype",
        "path",
        "row_shape",
        "rows",
    )

    def __init__(self, node: EARRAY) -> None:
        dataset: h5py.Dataset = node.node
        self.path = node.path
        require_writable(dataset, f"append to {self.path}")
        with h5_errors(dataset, f"append to {self.path}"):
            shape = dataset.shape
            self.dtype: np.dtype = dataset.dtype
            chunks = dataset.chunks
            filters = dataset.id.get_create_plist().get_nfilters()
        self._dataset = dataset
        self.rows: int = int(shape[0])
        self.row_shape: tuple[int, ...] = tuple(shape[1:])
        self._origin = tuple(0 for _ in self.row_shape)
        self.chunk_bytes = math.prod(chunks or (1,)) * self.dtype.itemsize
        # Whole chunks of whole rows, stored as they are in memory, are written directly: no
        # copy into HDF5's chunk cache (1.3-2x the MB/s of a plain write of 8 MiB, seen here).
        direct = (
            chunks is not None
            and tuple(chunks[1:]) == self.row_shape
            and filters == 0
            and self.dtype.kind in "biuf"
        )
        self._chunk_rows = int(chunks[0]) if direct and chunks is not None else 0
        self._memory_type = h5t.py_create(self.dtype)
        self._recorded_rows: int = self.rows

    def append(self, parts: list[np.ndarray]) -> None:
        """Write ``parts`` (C-contiguous, of this array's row shape and dtype) after the rows
        already there, in order."""
        start = self.rows
        end = start + sum(part.shape[0] for part in parts)
        dataset_id = self._dataset.id
        with h5_errors(self._dataset, f"append to {self.path}"):
            dataset_id.set_extent((end, *self.row_shape))
            self.rows = end
            file_space = dataset_id.get_space()
            for part in parts:
                rows = np.ascontiguousarray(part)  # a handed-over batch may be a strided view
                head, whole = self._whole_chunks(start, rows.shape[0])
                if head:
                    self._write(file_space, start, rows[:head])
                for offset in range(head, head + whole, self._chunk_rows or 1):
                    chunk = rows[offset : offset + self._chunk_rows]
                    dataset_id.write_direct_chunk(
                        (start + offset, *self._origin), chunk.data.cast("B")
                    )
                if head + whole < rows.shape[0]:
                    self._write(file_space, start + head + whole, rows[head + whole :])
                start += rows.shape[0]

    @property
    def writes_whole_chunks_directly(self) -> bool:
        """True if whole chunks bypass HDF5's chunk cache (chunks of whole rows, no filter)."""
        return self._chunk_rows > 0

    def _whole_chunks(self, start: int, count: int) -> tuple[int, int]:
        """How many of ``count`` rows written at row ``start`` come before the first chunk
        boundary, and how many after them fill whole chunks (0 when not written directly)."""
        if not self._chunk_rows:
            return count, 0
        head = min(-start % self._chunk_rows, count)
        whole = (count - head) // self._chunk_rows * self._chunk_rows
        return head, whole

    def _write(self, file_space: h5s.SpaceID, start: int, rows: np.ndarray) -> None:
        file_space.select_hyperslab((start, *self._origin), rows.shape)
        memory_space = h5s.create_simple(rows.shape)
        self._dataset.id.write(memory_space, file_space, rows, mtype=self._memory_type)

    @property
    def shape_due(self) -> bool:
        """True if rows were appended since the ``shape`` attribute was last written."""
        return self.rows != self._recorded_rows

    def record_shape(self) -> None:
        """Write the ``shape`` attribute PyMoDAQ reads (not allowed while SWMR is on)."""
        with h5_errors(self._dataset, f"record the shape of {self.path}"):
            self._dataset.attrs["shape"] = encode_attr((self.rows, *self.row_shape))
        self._recorded_rows = self.rows
