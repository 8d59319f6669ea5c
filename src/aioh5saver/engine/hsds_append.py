"""The HSDS engine's append: a handle on one enlargeable array of a domain (an h5pyd dataset)
that appends a batch's rows with one shape change and one write, sent at once.

h5pyd holds every change in memory until its file's cache is flushed, then sends one request
per change: a shape change and a selection write per append, however few rows each holds. So
the parts of a batch are joined and written as one selection, and the handle sends its changes
itself, at the end of each append: a batch costs two requests per array, and a server that
fails is noticed at that batch, not at some later flush.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from aioh5saver.engine.boundary import h5_errors, require_writable
from aioh5saver.engine.h5py_append import EnlargeableNode, record_shape
from aioh5saver.engine.hsds_claims import claim_array, note_rows
from aioh5saver.engine.objects import send_pending

__all__ = ["HsdsArrayWriter", "append_rows_on_service"]


def append_rows_on_service(dataset: Any, rows: list[np.ndarray]) -> None:
    """Append variable-length ``rows`` to an h5pyd dataset (the ``Logger``, a string array)
    with the service's own append: it extends the dataset and writes the rows in one request,
    so that writers on several hosts appending to one array never overwrite each other's rows
    (each host logs to the one ``Logger``)."""
    connection = dataset.id.db.plugin.http_conn
    send_pending(dataset, f"append to {dataset.name}")  # what is pending goes first
    body = {"value": [row.tolist() for row in rows], "append": len(rows)}
    answer = connection.PUT(f"/datasets/{dataset.id.uuid}/value", body=body)
    if answer.status_code not in (200, 201):
        raise OSError(
            f"append {len(rows)} rows to {dataset.name}: expected the service to append them "
            f"(HTTP 200), got HTTP {answer.status_code}"
        )
    dataset.refresh()  # the shape the service gave it


class HsdsArrayWriter:
    """Appends checked rows to one EARRAY of a domain, which only this handle changes while it
    lives (the same interface as :class:`~aioh5saver.engine.h5py_append.ArrayWriter`)."""

    __slots__ = ("_dataset", "_recorded_rows", "chunk_bytes", "dtype", "path", "row_shape", "rows")

    def __init__(self, node: EnlargeableNode) -> None:
        dataset: Any = node.node
        self.path = node.path
        require_writable(dataset, f"append to {self.path}")
        with h5_errors(dataset, f"append to {self.path}"):
            shape = dataset.shape
            self.dtype: np.dtype = dataset.dtype
            chunks = dataset.chunks
        claim_array(dataset, self.path)
        self._dataset = dataset
        self.rows: int = int(shape[0])
        self.row_shape: tuple[int, ...] = tuple(shape[1:])
        # What the writer counts as held in memory per open array (the chunk the server
        # assembles), as for a local file's chunk cache.
        self.chunk_bytes = math.prod(chunks or (1,)) * self.dtype.itemsize
        self._recorded_rows: int = self.rows

    @property
    def writes_whole_chunks_directly(self) -> bool:
        """False: HSDS has no direct chunk write."""
        return False

    def append(self, parts: list[np.ndarray]) -> None:
        """Write ``parts`` (of this array's row shape and dtype) after the rows already there,
        in order: one shape change and one write, sent before returning."""
        rows = parts[0] if len(parts) == 1 else np.concatenate(parts)
        start = self.rows
        end = start + rows.shape[0]
        with h5_errors(self._dataset, f"append to {self.path}"):
            self._dataset.resize((end, *self.row_shape))
            self._dataset[start:end] = np.ascontiguousarray(rows)
            self.rows = end
            send_pending(self._dataset, f"append to {self.path}")
            note_rows(self._dataset, self.path, end)

    @property
    def shape_due(self) -> bool:
        """True if rows were appended since the ``shape`` attribute was last written."""
        return self.rows != self._recorded_rows

    def release(self) -> None:
        """Send what h5pyd still holds of this array (nothing, after an append)."""
        send_pending(self._dataset, f"flush {self.path}")

    def record_shape(self) -> None:
        """Write the ``shape`` attribute PyMoDAQ reads."""
        with h5_errors(self._dataset, f"record the shape of {self.path}"):
            record_shape(self._dataset, (self.rows, *self.row_shape))
        self._recorded_rows = self.rows
