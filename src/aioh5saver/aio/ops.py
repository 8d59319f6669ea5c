"""The operations that travel from async callers to the writer.

Plain objects with no async machinery: the writer attaches an event to those a caller awaits,
and the batch runner (on the writer thread) fills in ``result`` or ``error``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from aioh5saver.aio.noderef import RefOrigin
from aioh5saver.aio.segments import SegmentPool
from aioh5saver.aio.tuning import DEFAULT_TUNING
from aioh5saver.format.rows_copy import copies_as_bytes

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
]

R = TypeVar("R")


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


class CallOp(Op, Generic[R]):
    """A call of a method of the synchronous saver: ``function(saver, *args, **kwargs)`` on
    the writer thread (``method`` is its name, for messages), its result made fit to cross to
    the event loop by ``cross`` (into ``value``). ``structural`` if it may change the file's
    structure or attributes (which SWMR forbids); ``creates`` if all it may change is new
    nodes it creates (no row, attribute or node that exists before it), so that it may run
    ahead of the appends queued before it; ``with_staged_strings`` if the strings staged under
    SWMR belong to its result (a read of a string array)."""

    __slots__ = (
        "args",
        "creates",
        "cross",
        "function",
        "kwargs",
        "method",
        "structural",
        "value",
        "with_staged_strings",
    )

    value: R

    def __init__(
        self,
        function: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        structural: bool,
        cross: Callable[[Any, RefOrigin], R],
        with_staged_strings: bool = False,
        creates: bool = False,
    ) -> None:
        super().__init__()
        self.creates = creates
        self.function = function
        self.method = function.__name__
        self.args = args
        self.kwargs = kwargs
        self.structural = structural
        self.cross = cross
        self.with_staged_strings = with_staged_strings


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
    """Rows for an EARRAY, copied into segments of growing size (see
    :class:`~.tuning.WriterTuning`: ``first_segment_bytes`` up to ``segment_bytes``, the pool's).

    Segments are filled in order and never moved, so a row is copied once on its way to the
    file; a handed-over buffer (``append(copy=False)``) is kept as it is, as the only segment.
    Segments come from ``pool`` (the writer gives them back there once written).
    """

    __slots__ = (
        "_bytewise",
        "_capacity",
        "_fill",
        "_max_segment_bytes",
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
        # The rows filled in the last segment, and its rows (0: no segment yet).
        self._fill = 0
        self._capacity = 0
        self._row_nbytes = max(1, dtype.itemsize * math.prod(row_shape))
        sizes = DEFAULT_TUNING if pool is None else pool.tuning
        self._segment_rows = max(1, sizes.first_segment_bytes // self._row_nbytes)
        self._max_segment_bytes = sizes.segment_bytes
        # Rows are copied as bytes where the dtype allows, as copy_rows does, into a byte view
        # of the segment kept for that (one view per segment, not per row): numpy lets the GIL
        # go while it copies a row, and the event loop's thread then often waits a switch
        # interval to get it back.
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
        op._fill = op.rows = op._capacity = rows.shape[0]
        return op

    def add_row(self, row: Any) -> None:
        """Copy one row of the segments' shape and dtype after the others."""
        segments = self.segments
        if self._fill == self._capacity:
            self._start_segment(self._new_segment(self._next_segment_rows()))
        if row.ndim and self._bytewise and row.flags.c_contiguous:
            offset = self._fill * self._row_nbytes
            self._segment_bytes[offset : offset + self._row_nbytes] = row.data.cast("B")
        else:
            segments[-1][self._fill] = row
        self._fill += 1
        self.rows += 1

    def add_value(self, value: Any) -> None:
        """Copy the one value of a row of no shape (a numpy scalar of the segments' dtype) after
        the others: :meth:`add_row` without what rows of several values need."""
        fill = self._fill
        if fill == self._capacity:
            self._start_segment(self._new_segment(self._next_segment_rows()))
            fill = 0
        self.segments[-1][fill] = value
        self._fill = fill + 1
        self.rows += 1

    def add(self, rows: np.ndarray) -> None:
        """Copy checked rows (converted to the segments' dtype) after the others. The rows'
        values were checked by :func:`~aioh5saver.format.rows.check_cast`, so the cast is unchecked
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
        self._capacity = segment.shape[0]
        if self._bytewise:
            self._segment_bytes = segment.data.cast("B")

    def _new_segment(self, rows: int) -> np.ndarray:
        if self._pool is None:
            return np.empty((rows, *self.row_shape), self.dtype)
        return self._pool.take(rows, self.row_shape, self.dtype)

    def _next_segment_rows(self) -> int:
        rows = self._segment_rows
        self._segment_rows = max(rows, min(2 * rows, self._max_segment_bytes // self._row_nbytes))
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
