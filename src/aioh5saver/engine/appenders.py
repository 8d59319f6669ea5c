"""The handle that appends rows to an enlargeable array, chosen by the library its dataset
belongs to: h5py's low-level writer for a local file, h5pyd's high-level one for HSDS."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from aioh5saver.engine.h5py_append import (
    ArrayWriter,
    EnlargeableNode,
    append_variable_rows_h5py,
)
from aioh5saver.engine.hsds_append import HsdsArrayWriter, append_rows_on_service
from aioh5saver.engine.objects import is_h5py

__all__ = ["RowAppender", "append_variable_rows", "open_appender"]


class RowAppender(Protocol):
    """Appends checked rows to one enlargeable array, keeping its row count."""

    path: str
    rows: int
    row_shape: tuple[int, ...]
    dtype: np.dtype
    chunk_bytes: int

    def append(self, parts: list[np.ndarray]) -> None:
        """Write ``parts`` after the rows already there, in order."""
        ...

    @property
    def shape_due(self) -> bool:
        """True if rows were appended since the ``shape`` attribute was last written."""
        ...

    @property
    def writes_whole_chunks_directly(self) -> bool:
        """True if whole chunks bypass the library's chunk cache."""
        ...

    def release(self) -> None:
        """Write out what is held of the array in memory and let go of its buffers."""
        ...

    def record_shape(self) -> None:
        """Write the ``shape`` attribute PyMoDAQ reads."""
        ...


def open_appender(node: EnlargeableNode) -> RowAppender:
    """The appender of ``node``'s dataset."""
    if is_h5py(node.node):
        return ArrayWriter(node)
    return HsdsArrayWriter(node)


def append_variable_rows(dataset: Any, rows: list[np.ndarray]) -> None:
    """Append variable-length ``rows`` to ``dataset`` with one extent change and one write:
    h5py's low-level writer for a local file, the service's own append for h5pyd (several
    hosts may log to one domain's ``Logger``)."""
    if is_h5py(dataset):
        append_variable_rows_h5py(dataset, rows)
    else:
        append_rows_on_service(dataset, rows)
