"""The operations that travel from async callers to the writer.

Plain objects with no async machinery: the writer attaches an event to those a caller awaits,
and the thread-side core fills in ``result`` or ``error``.
"""

from __future__ import annotations

import enum
import functools
import math
from pathlib import Path
from typing import Any

import numpy as np

from aioh5saver.aio.segments import SegmentPool

__all__ = [
    "AppendOp",
    "CallOp",
    "CloseOp",
    "FlushOp",
    "Op",
    "OpState",
    "RowsAppend",
    "SaveCopyOp",
    "SwmrOp",
    "TextAppend",
    "bytes_alike",
    "copies_as_bytes",
    "copy_rows",
]

# What one append call costs in memory beyond its data: counted in the byte budget, so that a
# flood of tiny appends is bounded too.
CALL_OVERHEAD_BYTES = 64

# Gathered rows are copied into segments that start at FIRST_SEGMENT_BYTES (or one row) and
# double up to SEGMENT_BYTES: a slow array wastes little, and a fast one needs few segments.
# Not more than 1 MiB: the writer writes whole chunks (1 MiB at most) whatever the segments,
# and segments of up to 8 MiB cost the event loop more (W1 and W2, 2 runs interleaved each:
# loop lag p99 2.5-3.3 and 5.8-6.2 ms with 8 MiB, 1.5-2.4 and 1.5-3.1 ms with 1 MiB).
FIRST_SEGMENT_BYTES = 64 << 10
SEGMENT_BYTES = 1 << 20


@functools.cache
def copies_as_bytes(dtype: np.dtype[Any]) -> bool:
    """True if arrays of ``dtype`` give a memoryview that casts to bytes (numbers, bools and
    fixed-width bytes do; a dtype numpy has no buffer format for does not)."""
    try:
        np.zeros(1, dtype).data.cast("B")
    except (TypeError, ValueError):
        return False
    return True


def bytes_alike(target: np.ndarray, source: np.ndarray) -> bool:
    """True if ``source`` can be copied into ``target`` as plain bytes: same dtype, both
    C-contiguous, and a dtype whose memoryview casts to bytes."""
    return (
        target.dtype == source.dtype
        and target.flags.c_contiguous
        and source.flags.c_contiguous
        and copies_as_bytes(source.dtype)
    )


def copy_rows(target: np.ndarray, source: np.ndarray) -> None:
    """``target[...] = source``, as bytes where both are laid out alike. A byte copy holds the
    GIL; numpy lets it go while it copies more than a few hundred elements, and the copying
    thread then waits for the other thread to give it back (up to a switch interval)."""
    if bytes_alike(target, source):
        target.data.cast("B")[:] = source.data.cast("B")
    else:
        target[...] = source


class OpState(enum.Enum):
    """Where an operation is: queued, taken into a batch, or dropped by a cancelled caller."""

    PENDING = "pending"
    RUNNING = "running"
    DROPPED = "dropped"


class Op:
    """One operation; ``waiter`` is set by the writer for the operations a caller awaits."""

    __slots__ = ("error", "result", "state", "waiter")

    def __init__(self) -> None:
        self.state = OpState.PENDING
        self.result: Any = None
        self.error: BaseException | None = None
        self.waiter: Any = None


class CallOp(Op):
    """A call of a method of the synchronous saver, by name; ``structural`` if it may change
    the file's structure or attributes (which SWMR forbids)."""

    __slots__ = ("args", "kwargs", "method", "structural")

    def __init__(
        self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any], structural: bool
    ) -> None:
        super().__init__()
        self.method = method
        self.args = args
        self.kwargs = kwargs
        self.structural = structural


class AppendOp(Op):
    """Data for one enlargeable array, gathered while the operation waits in the queue.

    The producers' appends to one array between two barriers land in one operation, which the
    writer writes with one resize; ``rows`` counts what it holds and ``cost`` is what it holds
    of the byte budget.
    """

    __slots__ = ("cost", "path", "rows")

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.rows = 0
        self.cost = 0


class RowsAppend(AppendOp):
    """Rows for an EARRAY, copied into segments of growing size (see :data:`SEGMENT_BYTES`).

    Segments are filled in order and never moved, so a row is copied once on its way to the
    file; a handed-over buffer (``append(copy=False)``) is kept as it is, as the only segment.
    Segments come from ``pool`` (the writer gives them back there once written).
    """

    __slots__ = (
        "_bytewise",
        "_fill",
        "_pool",
        "_row_nbytes",
        "_segment_bytes",
        "_segment_rows",
        "dtype",
        "row_shape",
        "segments",
    )

    def __init__(
        self,
        path: str,
        row_shape: tuple[int, ...],
        dtype: np.dtype[Any],
        pool: SegmentPool | None = None,
    ) -> None:
        super().__init__(path)
        self.row_shape = row_shape
        self.dtype = dtype
        self.segments: list[np.ndarray] = []
        self._pool = pool
        self._fill = 0
        self._row_nbytes = max(1, dtype.itemsize * math.prod(row_shape))
        self._segment_rows = max(1, FIRST_SEGMENT_BYTES // self._row_nbytes)
        # Rows are copied as bytes where the dtype allows, as copy_rows does, into a byte view
        # of the segment kept for that (one view per segment, not per row): copied by numpy
        # on the event loop's thread, a 16 KiB row took 3 us at the median but over 100 us
        # for 2% of rows, 60% of the time, waiting to get the GIL back (seen here).
        self._bytewise = copies_as_bytes(dtype)
        self._segment_bytes = memoryview(b"")

    @property
    def pool(self) -> SegmentPool | None:
        """Where this operation's segments came from (None for the caller's own rows)."""
        return self._pool

    @classmethod
    def handed_over(
        cls, path: str, rows: np.ndarray, pool: SegmentPool | None = None
    ) -> RowsAppend:
        """An operation that owns ``rows`` as given (no copy; they go back to ``pool`` once
        written, if they came from it); nothing is added to it."""
        op = cls(path, rows.shape[1:], rows.dtype, pool)
        op.segments.append(rows)
        op._fill = op.rows = rows.shape[0]
        return op

    def add_row(self, row: Any) -> None:
        """Copy one row of the segments' shape and dtype after the others."""
        segments = self.segments
        if not segments or self._fill == segments[-1].shape[0]:
            self._start_segment(self._new_segment(self._next_segment_rows()))
        if row.ndim and self._bytewise and row.flags.c_contiguous:
            offset = self._fill * self._row_nbytes
            self._segment_bytes[offset : offset + self._row_nbytes] = row.data.cast("B")
        else:
            segments[-1][self._fill] = row
        self._fill += 1
        self.rows += 1

    def add(self, rows: np.ndarray) -> None:
        """Copy checked rows (converted to the segments' dtype) after the others. The rows'
        values were checked by :func:`~aioh5saver.sync.nodes.check_cast`, so the cast is unchecked
        here: int64 rows whose values fit a uint32 array are not refused for their dtype."""
        count = rows.shape[0]
        done = 0
        if self.segments:
            last = self.segments[-1]
            done = min(count, last.shape[0] - self._fill)
            if done:
                np.copyto(last[self._fill : self._fill + done], rows[:done], casting="unsafe")
                self._fill += done
        if done < count:
            rest = rows[done:]
            size = max(self._next_segment_rows(), rest.shape[0])
            segment = self._new_segment(size)
            np.copyto(segment[: rest.shape[0]], rest, casting="unsafe")
            self._start_segment(segment)
            self._fill = rest.shape[0]
        self.rows += count

    def _start_segment(self, segment: np.ndarray) -> None:
        self.segments.append(segment)
        self._fill = 0
        if self._bytewise:
            self._segment_bytes = segment.data.cast("B")

    def _new_segment(self, rows: int) -> np.ndarray:
        if self._pool is None:
            return np.empty((rows, *self.row_shape), self.dtype)
        return self._pool.take(rows, self.row_shape, self.dtype)

    def _next_segment_rows(self) -> int:
        rows = self._segment_rows
        self._segment_rows = max(rows, min(2 * rows, SEGMENT_BYTES // self._row_nbytes))
        return rows

    def parts(self) -> list[np.ndarray]:
        """The rows held, in order: full segments, then the filled part of the last one."""
        if not self.segments:
            return []
        return [*self.segments[:-1], self.segments[-1][: self._fill]]


class TextAppend(AppendOp):
    """Strings for a string array (or log lines for the ``Logger``), in order."""

    __slots__ = ("texts",)

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.texts: list[str] = []

    def add(self, text: str) -> None:
        """Add one string after the others."""
        self.texts.append(text)
        self.rows += 1


class FlushOp(Op):
    """Write everything before it and flush the file to the operating system."""

    __slots__ = ()


class SwmrOp(Op):
    """Turn SWMR on (``start``) or off."""

    __slots__ = ("start",)

    def __init__(self, start: bool) -> None:
        super().__init__()
        self.start = start


class SaveCopyOp(Op):
    """Close the file so that the writer can copy it whole to ``target``, then reopen it."""

    __slots__ = ("target",)

    def __init__(self, target: Path) -> None:
        super().__init__()
        self.target = target


class CloseOp(Op):
    """Write everything, end SWMR, fold staged strings, close the file. The last operation."""

    __slots__ = ()
