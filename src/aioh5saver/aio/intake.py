"""AppendIntake, on the event loop: the one owner of an append, from the call to the queue.

An append is checked here against the array's row shape and dtype (a bad row raises at the
call), costed in bytes, given room in the queue's budget (waiting for it if need be), copied
into the writer's segments (a large copy a piece at a time) and accepted into the queue without
waiting for the disk. While the producers' shared slice of loop time lasts, an append is
accepted without yielding; once it is spent, or there is no room, the append waits for its
turn (:class:`~.producer_turns.ProducerTurns`), which comes with the room it needs and starts a
new slice. The intake counts the appends that are under way, so that a graceful close lets
them finish first.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import anyio.lowlevel
import numpy as np

from aioh5saver.aio.caller_checks import CallerChecks
from aioh5saver.aio.crossing import node_ref
from aioh5saver.aio.noderef import NodeRef
from aioh5saver.aio.ops import CallOp
from aioh5saver.aio.writer_task import WriterTask
from aioh5saver.errors import NodeKindError, UncastableDTypeError, describe
from aioh5saver.format.rows import as_rows, check_rows
from aioh5saver.format.rows_copy import bytes_alike
from aioh5saver.sync.saver import H5SaverLowLevel

__all__ = ["CALL_OVERHEAD_BYTES", "AppendIntake"]

# What one append call costs in memory beyond its data: counted in the byte budget, so that a
# flood of tiny appends is bounded too.
CALL_OVERHEAD_BYTES = 64

# What a row may be, as a tuple: isinstance with it is cheaper than with a union type built at
# each call.
_ARRAY_TYPES = (np.ndarray, np.generic)

# A large copy is made in pieces of about this many bytes, the event loop running between them.
_COPY_PIECE_BYTES = 256 << 10


def _copy_pieces(segment: np.ndarray, rows: np.ndarray) -> Iterator[tuple[Any, Any]]:
    """(target, source) pairs of about :data:`_COPY_PIECE_BYTES` that copy ``rows`` into
    ``segment`` with ``target[:] = source``: as bytes when both are laid out alike (see
    :func:`~aioh5saver.format.rows_copy.copy_rows`), else as rows converted to the segment's
    dtype (their values were checked by :func:`~aioh5saver.format.rows.check_cast`)."""
    if bytes_alike(segment, rows):
        target_bytes, source_bytes = segment.data.cast("B"), rows.data.cast("B")
        for start in range(0, rows.nbytes, _COPY_PIECE_BYTES):
            stop = start + _COPY_PIECE_BYTES
            yield target_bytes[start:stop], source_bytes[start:stop]
        return
    step = max(1, _COPY_PIECE_BYTES // max(1, rows[:1].nbytes))
    for start in range(0, rows.shape[0], step):
        yield segment[start : start + step], rows[start : start + step]


class AppendIntake:
    """Takes the appends of one saver (whose writer is ``writer``) into its queue."""

    def __init__(self, writer: WriterTask, checks: CallerChecks) -> None:
        self._writer = writer
        self._budget = writer.budget
        self._checks = checks
        self._origin = checks.origin
        self._turns = writer.turns
        self._large_copy_bytes = writer.tuning.large_copy_bytes
        # The hot path's calls, bound once.
        self._try_acquire = writer.budget.try_acquire
        self._accept_scalar = writer.accept_scalar
        self._accept_row = writer.accept_row
        # The refs of the arrays appended to by path, looked up once each.
        self._arrays: dict[str, NodeRef] = {}
        # Appends under way that await (a checkpoint, room in the budget, a large copy, a
        # look-up): a graceful close lets them finish first, and is told when the last one has.
        self._appends_under_way = 0
        self._appends_finished: anyio.Event | None = None

    async def all_appends_finished(self) -> None:
        """Wait until no append is under way."""
        while self._appends_under_way:
            self._appends_finished = anyio.Event()
            await self._appends_finished.wait()

    def accept_at_once(self, where: NodeRef | str, data: Any, copy: bool) -> bool:
        """Accept the common append without awaiting, if it can be: one small row of the
        array's own dtype (see :meth:`_small_row`), the producers' slice of loop time lasting
        and room in the budget. False if the caller must go on to :meth:`append` (nothing is
        accepted then). No await and no coroutine: either is a sizeable share of a scalar
        append's cost; and the same for a call, hence _small_row inlined here."""
        self._checks.open("append")
        turns = self._turns
        # The end of the producer's last append, for the slice's rate (ProducerTurns).
        now = turns.last_call_at = turns.clock()
        if now >= turns.ends_at:
            return False
        if isinstance(where, NodeRef):
            ref = where if where.origin is self._origin else None
        else:
            ref = self._arrays.get(where) if isinstance(where, str) else None
        if ref is None or not copy:
            return False
        dtype = ref.dtype
        accept: Callable[[str, Any, np.dtype[Any], int], None]
        if type(data) is ref.scalar_type:
            # One value of the array's own type (checked by the type alone: see NodeRef).
            assert dtype is not None
            nbytes = dtype.itemsize
            cost = nbytes + CALL_OVERHEAD_BYTES
            if nbytes >= self._large_copy_bytes or not self._try_acquire(cost):
                return False
            accept = self._accept_scalar
        elif (
            ref.kind != "EARRAY"
            or not isinstance(data, _ARRAY_TYPES)
            or data.shape != ref.row_shape
            or data.dtype != dtype
            or data.nbytes >= self._large_copy_bytes
        ):
            return False
        else:
            assert dtype is not None
            cost = data.nbytes + CALL_OVERHEAD_BYTES
            if not self._try_acquire(cost):
                return False
            accept = self._accept_row
        try:
            accept(ref.path, data, dtype, cost)
        except BaseException:
            self._budget.release(cost)
            raise
        # ProducerTurns.spend_call, inlined.
        left = turns.calls_left - 1
        turns.calls_left = left
        if left <= 0:
            turns.ends_at = -math.inf
        return True

    def _small_row(self, where: NodeRef | str, data: Any, copy: bool) -> NodeRef | None:
        """The ref of the array, if ``data`` is one small row of its own dtype to copy,
        appended through this saver's ref or a path looked up before; else None."""
        ref = self._known_array(where)
        if (
            ref is None
            or ref.kind != "EARRAY"
            or not copy
            or not isinstance(data, _ARRAY_TYPES)
            or data.shape != ref.row_shape
            or data.dtype != ref.dtype
            or data.nbytes >= self._large_copy_bytes
        ):
            return None
        return ref

    async def append(self, where: NodeRef | str, data: Any, copy: bool) -> None:
        """The append that was not accepted at once: after a turn if the slice is spent, then
        waiting for room or a look-up if need be."""
        self._appends_under_way += 1
        try:
            turns = self._turns
            if turns.clock() >= turns.ends_at:
                checks = self._checks
                # In full, once per turn: a turn awaited from another event loop (even one
                # started inside this loop's thread) would never come.
                checks.owner("append")
                ref = self._small_row(where, data, copy)
                if ref is not None:
                    # The common row: its room comes with the turn.
                    await self._accept_row_after_turn(ref, data)
                    return
                # Before anything is accepted, so that a cancellation delivered while waiting
                # truthfully means that nothing was.
                await turns.take_turn()
                checks.running("append")
            await self._append(where, data, copy)
        finally:
            self._append_done()

    async def _accept_row_after_turn(self, ref: NodeRef, data: Any) -> None:
        """Wait for a turn with room for one small row (see :meth:`_small_row`), then
        accept it. Cancelled while waiting, nothing is accepted."""
        assert ref.dtype is not None
        cost = data.nbytes + CALL_OVERHEAD_BYTES
        await self._turns.take_turn(cost)
        try:
            self._checks.running("append")
        except BaseException:
            self._budget.release(cost)
            raise
        self._accept(self._writer.accept_row, cost, ref.path, data, ref.dtype, cost)

    def _append_done(self) -> None:
        self._appends_under_way -= 1
        if not self._appends_under_way and self._appends_finished is not None:
            self._appends_finished.set()

    def _accept(self, accept: Callable[..., None], cost: int, *args: Any) -> None:
        """``accept(*args)`` with ``cost`` bytes of the budget held: given back if it fails.
        Counted in the slice's appends."""
        try:
            accept(*args)
        except BaseException:
            self._budget.release(cost)
            raise
        self._turns.spend_call()

    async def _append(self, where: NodeRef | str, data: Any, copy: bool) -> None:
        """The rest of :meth:`append`, in the count of appends under way."""
        ref = self._known_array(where) or await self._look_up_array(where)
        writer = self._writer
        budget = self._budget
        if ref.kind == "EARRAY":
            assert ref.row_shape is not None
            assert ref.dtype is not None
            if (
                copy
                and isinstance(data, _ARRAY_TYPES)
                and data.shape == ref.row_shape
                and data.dtype == ref.dtype
                and data.nbytes < self._large_copy_bytes
            ):
                # One small row of the array's own dtype: no conversion.
                cost = data.nbytes + CALL_OVERHEAD_BYTES
                if not budget.try_acquire(cost):
                    await self._wait_for_budget(cost)
                self._accept(writer.accept_row, cost, ref.path, data, ref.dtype, cost)
                return
            if copy:
                rows = check_rows(data, ref.row_shape, ref.dtype, ref.path)
            else:
                rows = as_rows(data, ref.row_shape, ref.dtype, ref.path)
            cost = rows.nbytes + CALL_OVERHEAD_BYTES
            if not budget.try_acquire(cost):
                await self._wait_for_budget(cost)
            if not copy:
                self._accept(writer.accept_handed_over, cost, ref.path, rows, cost)
            elif rows.nbytes < self._large_copy_bytes:
                self._accept(writer.accept_rows, cost, ref.path, rows, ref.dtype, cost)
            else:
                await self._accept_large_copy(ref.path, rows, ref.dtype, cost)
        elif ref.kind == "StringARRAY":
            if not isinstance(data, str):
                raise UncastableDTypeError(
                    f"append to {ref.path}: expected a str, got {describe(data)}"
                )
            cost = len(data) + CALL_OVERHEAD_BYTES
            if not budget.try_acquire(cost):
                await self._wait_for_budget(cost)
            self._accept(writer.accept_text, cost, ref.path, data, cost)
        else:
            raise NodeKindError(
                f"append to {ref.path}: expected an enlargeable array (EARRAY) or a string "
                f"array, got a {ref.kind}"
            )

    async def _accept_large_copy(
        self, path: str, rows: np.ndarray, dtype: np.dtype[Any], cost: int
    ) -> None:
        """Copy large rows into a segment a piece at a time, yielding to the event loop
        between pieces; then queue the copy as it is. The budget ``cost`` is already held: it
        is given back if this does not complete."""
        writer = self._writer
        turns = self._turns
        segment: np.ndarray | None = None
        try:
            self._checks.owner("append")
            segment = writer.segments.take(rows.shape[0], rows.shape[1:], dtype)
            for target, source in _copy_pieces(segment, rows):
                target[:] = source
                # A cancellation that comes between pieces is honoured: nothing is accepted.
                if turns.slice_left():
                    await anyio.lowlevel.checkpoint_if_cancelled()
                else:
                    await turns.take_turn()
            self._checks.running("append")
            writer.accept_handed_over(path, segment, cost, pool=writer.segments)
            turns.spend_call()
        except BaseException:
            self._budget.release(cost)
            if segment is not None:
                writer.segments.give(segment)
            raise

    async def _wait_for_budget(self, cost: int) -> None:
        """Take ``cost`` bytes of the budget, waiting for room; the writer must still be
        running once they are granted (a close that began meanwhile waits for this call)."""
        budget = self._budget
        self._checks.owner("append")
        await budget.acquire(cost)
        try:
            self._checks.running("append")
        except BaseException:
            budget.release(cost)
            raise

    def _known_array(self, where: NodeRef | str) -> NodeRef | None:
        """The ref to append to, if known without asking the writer: a NodeRef made by this
        saver, or one looked up before by path."""
        if isinstance(where, NodeRef):
            # This saver's refs are complete (an EARRAY's carries its row shape and dtype).
            return where if where.origin is self._origin else None
        return self._arrays.get(where) if isinstance(where, str) else None

    async def _look_up_array(self, where: NodeRef | str) -> NodeRef:
        """The ref of this file's node at the path ``where`` names (asked once per path)."""
        path = self._checks.where(where)
        ref = self._arrays.get(path)
        if ref is None:
            # Not through the saver's call hop: an append made before a close began still
            # looks its array up once the close has begun (the look-up is queued before it).
            self._checks.owner("append")
            look_up = CallOp(
                H5SaverLowLevel.get_node, (path, None), {}, structural=False, cross=node_ref
            )
            ref = self._arrays[path] = await self._writer.call_saver(look_up)
        return ref
