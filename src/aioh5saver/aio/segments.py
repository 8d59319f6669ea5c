"""Spare row segments, reused from one batch to the next (on the event-loop thread only).

A segment is a buffer of rows that gathered appends are copied into (see
:class:`~.ops.RowsAppend`). A fresh buffer costs a page fault per 4 KiB page the first time it
is written, which can make copying a camera frame several times slower and stall the event
loop; a segment the writer has finished with is given back here and reused. Bounded: what does
not fit is left to the allocator.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aioh5saver.aio.tuning import DEFAULT_TUNING, WriterTuning

__all__ = ["SegmentPool"]

_Key = tuple[int, tuple[int, ...], str]


class SegmentPool:
    """At most ``max_bytes`` of spare segments, by row count, row shape and dtype; ``tuning``
    says how large the segments it hands out grow."""

    def __init__(self, max_bytes: int, tuning: WriterTuning = DEFAULT_TUNING) -> None:
        self.max_bytes = max_bytes
        self.tuning = tuning
        self.held_bytes = 0
        self._spares: dict[_Key, list[np.ndarray]] = {}

    def take(self, rows: int, row_shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
        """A segment of ``rows`` rows (its content is garbage): a spare one if there is."""
        spares = self._spares.get((rows, row_shape, dtype.str))
        if spares:
            segment = spares.pop()
            self.held_bytes -= segment.nbytes
            return segment
        return np.empty((rows, *row_shape), dtype)

    def give(self, segment: np.ndarray) -> None:
        """Keep a segment nobody uses any more, if there is room."""
        if self.held_bytes + segment.nbytes > self.max_bytes:
            return
        key = (segment.shape[0], segment.shape[1:], segment.dtype.str)
        self._spares.setdefault(key, []).append(segment)
        self.held_bytes += segment.nbytes
