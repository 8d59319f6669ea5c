"""The h5py engine's append: a handle on one enlargeable array that appends rows with few HDF5
calls, used by the writer thread for its batches and by ``EARRAY.append`` for each call.

h5py releases the GIL around every HDF5 call, even one that only reads a dataset's shape or
type, and while the event loop is busy each call waits up to the interpreter's switch interval
to get the GIL back. A batch's cost is therefore counted in HDF5 calls, not bytes: the
high-level path (shape, dtype, chunks, resize, a slice write with its selections, and a
``shape`` attribute rewrite, each several calls) costs many times this one beside a busy loop.

So the handle keeps what it knows (row count, row shape, dtype, chunk size, memory type) and
writes with one extent change, one file space and, per part, one plain write for rows that do
not fill a chunk plus one direct chunk write per whole chunk; the ``shape`` attribute PyMoDAQ
reads is written when asked, at barriers and flushes, not once per batch.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import h5py
import numpy as np
from h5py import h5s, h5t

from aioh5saver.engine.boundary import h5_errors, require_writable
from aioh5saver.engine.objects import set_attribute
from aioh5saver.format.layout import encode_shape
from aioh5saver.format.rows_copy import copy_rows

__all__ = ["ArrayWriter", "EnlargeableNode", "append_variable_rows_h5py", "record_shape"]


class EnlargeableNode(Protocol):
    """What the handle needs of an ``EARRAY`` node: its dataset and its path."""

    @property
    def node(self) -> Any:
        """The h5py dataset."""
        ...

    @property
    def path(self) -> str:
        """The path the node was reached by."""
        ...


def record_shape(dataset: h5py.Dataset, shape: tuple[int, ...] | None = None) -> None:
    """Write the ``shape`` attribute PyMoDAQ reads: ``shape``, or the dataset's own. Not
    allowed while SWMR is on: the shapes are reconciled when SWMR ends."""
    set_attribute(dataset, "shape", encode_shape(dataset.shape if shape is None else shape))


def append_variable_rows_h5py(dataset: h5py.Dataset, rows: list[np.ndarray]) -> None:
    """Append variable-length ``rows`` to ``dataset`` with one extent change and one write.

    The rows go in through the low-level writer, as an object array of the dataset's own vlen
    type: h5py's ``__setitem__`` would turn equal-length rows into a 2-D array it cannot
    broadcast, and writing row by row costs a selection and a write per row (a fold of a few
    hundred log lines then kept SWMR paused for most of a second)."""
    if not rows:
        return
    base = h5t.check_vlen_dtype(dataset.dtype)
    column = np.empty(len(rows), dtype=dataset.dtype)
    for index, row in enumerate(rows):
        column[index] = np.ascontiguousarray(row, dtype=base).reshape(-1)
    start = dataset.shape[0]
    dataset.resize(start + len(rows), axis=0)
    file_space = dataset.id.get_space()
    file_space.select_hyperslab((start,), (len(rows),))
    dataset.id.write(h5s.create_simple((len(rows),)), file_space, column)


class _RowCursor:
    """Reads the rows of several parts in order, a given number at a time."""

    __slots__ = ("_offset", "_part", "_parts")

    def __init__(self, parts: list[np.ndarray]) -> None:
        self._parts = parts
        self._part = 0
        self._offset = 0

    def take(self, count: int) -> list[np.ndarray]:
        """The next ``count`` rows, as views of one part or more (there must be enough)."""
        pieces = []
        while count:
            part = self._parts[self._part]
            piece = part[self._offset : self._offset + count]
            if piece.shape[0]:
                pieces.append(piece)
            count -= piece.shape[0]
            self._offset += piece.shape[0]
            if self._offset == part.shape[0]:
                self._part += 1
                self._offset = 0
        return pieces


class ArrayWriter:
    """Appends checked rows to one EARRAY, which only this handle changes while it lives."""

    __slots__ = (
        "_chunk_buffer",
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

    def __init__(self, node: EnlargeableNode) -> None:
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
        # copy into HDF5's chunk cache, which a plain write of large rows pays for.
        direct = (
            chunks is not None
            and tuple(chunks[1:]) == self.row_shape
            and filters == 0
            and self.dtype.kind in "biuf"
        )
        self._chunk_rows = int(chunks[0]) if direct and chunks is not None else 0
        self._memory_type = h5t.py_create(self.dtype)
        self._recorded_rows: int = self.rows
        self._chunk_buffer: np.ndarray | None = None

    def append(self, parts: list[np.ndarray]) -> None:
        """Write ``parts`` (of this array's row shape and dtype) after the rows already there,
        in order."""
        start = self.rows
        end = start + sum(part.shape[0] for part in parts)
        dataset_id = self._dataset.id
        with h5_errors(self._dataset, f"append to {self.path}"):
            dataset_id.set_extent((end, *self.row_shape))
            self.rows = end
            file_space = dataset_id.get_space()
            if not self._chunk_rows:
                for part in parts:
                    self._write(file_space, start, part)
                    start += part.shape[0]
                return
            rows = _RowCursor(parts)
            while start < end:
                # The rows up to the next chunk boundary: a whole chunk, or the part-filled
                # first or last chunk of this append.
                stop = min(end, (start // self._chunk_rows + 1) * self._chunk_rows)
                pieces = rows.take(stop - start)
                if stop - start == self._chunk_rows:
                    chunk = pieces[0] if len(pieces) == 1 else self._gather(pieces)
                    chunk = np.ascontiguousarray(chunk)
                    dataset_id.write_direct_chunk((start, *self._origin), chunk.data.cast("B"))
                    start = stop
                    continue
                for piece in pieces:
                    self._write(file_space, start, piece)
                    start += piece.shape[0]

    def _gather(self, pieces: list[np.ndarray]) -> np.ndarray:
        """One whole chunk from rows that came in several parts: copied into a buffer kept for
        that (small parts are the rule for rows appended one at a time, and a chunk written
        directly costs one HDF5 call where each part would cost a plain write through the
        chunk cache). Parts are copied as bytes (see :func:`.rows_copy.copy_rows`): numpy lets the
        GIL go for each part it copies, and the writer would then wait for a busy event loop
        to give it back each time."""
        if self._chunk_buffer is None:
            self._chunk_buffer = np.empty((self._chunk_rows, *self.row_shape), self.dtype)
        buffer = self._chunk_buffer
        filled = 0
        for piece in pieces:
            copy_rows(buffer[filled : filled + piece.shape[0]], piece)
            filled += piece.shape[0]
        return buffer

    @property
    def writes_whole_chunks_directly(self) -> bool:
        """True if whole chunks bypass HDF5's chunk cache (chunks of whole rows, no filter)."""
        return self._chunk_rows > 0

    def _write(self, file_space: h5s.SpaceID, start: int, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows)  # a handed-over batch may be a strided view
        file_space.select_hyperslab((start, *self._origin), rows.shape)
        memory_space = h5s.create_simple(rows.shape)
        self._dataset.id.write(memory_space, file_space, rows, mtype=self._memory_type)

    @property
    def shape_due(self) -> bool:
        """True if rows were appended since the ``shape`` attribute was last written."""
        return self.rows != self._recorded_rows

    def release(self) -> None:
        """Write out what HDF5 holds of this array in memory (its chunk cache: the part-filled
        last chunk) and let go of the buffers, so that closing the array frees its memory."""
        with h5_errors(self._dataset, f"flush {self.path}"):
            self._dataset.id.flush()
        self._chunk_buffer = None

    def record_shape(self) -> None:
        """Write the ``shape`` attribute PyMoDAQ reads (not allowed while SWMR is on)."""
        with h5_errors(self._dataset, f"record the shape of {self.path}"):
            record_shape(self._dataset, (self.rows, *self.row_shape))
        self._recorded_rows = self.rows
