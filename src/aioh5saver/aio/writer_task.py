"""WriterTask, on the event loop: the one consumer of the queue, fed by many async producers.

Producers put operations in a queue; the writer task takes everything queued as one batch and
runs it on the writer's own thread (:class:`~.batch_runner.BatchRunner` on a
:class:`~.writer_thread.WriterThread`), then answers the callers still waiting. Appends are
answered at once (they are accepted, not awaited) and hold their bytes of the back-pressure
budget until written. Flush policy lives here and in the batch runner only. Every queued
operation gets an answer, also when the writer stops.
"""

from __future__ import annotations

import math
import time
from collections import deque
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
import numpy as np

from aioh5saver.aio.batch_runner import BatchRunner
from aioh5saver.aio.file_copy import copy_file
from aioh5saver.aio.noderef import NodeRef
from aioh5saver.aio.ops import (
    AppendOp,
    CallOp,
    CloseOp,
    Op,
    OpState,
    RowsAppend,
    SaveCopyOp,
    TextAppend,
)
from aioh5saver.aio.producer_turns import ProducerTurns
from aioh5saver.aio.queue_budget import QueueBudget
from aioh5saver.aio.segments import SegmentPool
from aioh5saver.aio.statistics import SaverStatistics
from aioh5saver.aio.writer_thread import WriterThread
from aioh5saver.errors import SaverClosedError, WriterBrokenError

__all__ = ["WriterTask"]

R = TypeVar("R")

# How often the writer looks again at the queue while it lets a batch fill.
FILL_POLL_SECONDS = 0.005


class WriterTask:
    """The queue, the budget and the task that drains them into the batch runner."""

    def __init__(
        self,
        runner: BatchRunner,
        *,
        max_pending_bytes: int,
        flush_period: float | None,
        max_pending_seconds: float | None,
        batch_fill_seconds: float = 0.0,
    ):
        self.runner = runner
        self.batch_fill_seconds = batch_fill_seconds
        tuning = self.tuning = runner.tuning
        self.turns = ProducerTurns(tuning.loop_slice_s)
        self.budget = QueueBudget(max_pending_bytes, self.turns)
        self.segments = SegmentPool(min(tuning.spare_segment_bytes, max_pending_bytes // 4), tuning)
        self.flush_period = flush_period
        self.closing = False
        self.stopped = False
        self._queue: deque[Op] = deque()
        # The queued append of each array that later appends join, until a barrier or a batch.
        self._gathering: dict[str, AppendOp] = {}
        self._wakeup = anyio.Event()
        self._thread = WriterThread(f"aioh5saver writer {runner.origin.file}")
        self._oldest_unflushed: float | None = None
        # Bytes of appends written and seconds taken, both halved at every batch: the recent
        # write rate, weighted by bytes.
        self._recent_bytes = 0.0
        self._recent_seconds = 0.0
        self._last_batch_seconds = 0.0
        # Bytes of rows a batch takes: ``batch_bytes`` until the write rate is known.
        self._batch_limit = tuning.batch_bytes
        # How many seconds of writing the queue may hold: a finite flush period is a promise
        # on time, kept by capping the queue; max_pending_seconds bounds it anyway.
        bounds = [
            seconds
            for seconds in (
                max_pending_seconds,
                None
                if flush_period is None
                else flush_period * tuning.backlog_share_of_flush_period,
            )
            if seconds is not None and math.isfinite(seconds)
        ]
        self._backlog_seconds = min(bounds) if bounds else None
        if self._backlog_seconds is not None:
            self.budget.set_cap(tuning.first_backlog_bytes)

    @property
    def ops_queued(self) -> int:
        """Operations waiting for the next batch."""
        return len(self._queue)

    @property
    def file_path(self) -> Path | str | None:
        """The file the writer writes (None until opened)."""
        return self.runner.saver.file_path

    @property
    def broken(self) -> WriterBrokenError | None:
        """The error that broke the writer (its file failed), or None."""
        return self.runner.broken

    def set_flush_interval(self, interval: int) -> None:
        """Flush every ``interval`` appended rows from now on (0: not by count)."""
        self.runner.flush_interval = interval

    def statistics(self) -> SaverStatistics:
        """The queue's, the budget's and the batch runner's counts at this moment."""
        budget = self.budget.statistics()
        turns = self.turns.statistics()
        runner = self.runner
        swmr = runner.swmr_switch
        return SaverStatistics(
            ops_queued=len(self._queue),
            bytes_pending=budget.held,
            max_pending_bytes=budget.limit,
            pending_cap_bytes=budget.cap,
            producers_waiting=budget.waiting,
            producers_awaiting_turn=turns.waiting - turns.waiting_for_room,
            turns_given=turns.given,
            rows_appended=runner.rows_appended,
            strings_appended=runner.strings_appended,
            bytes_written=runner.bytes_written,
            batches=runner.batches,
            flushes=runner.flushes,
            swmr_active=swmr.active,
            swmr_pauses=swmr.pauses,
            swmr_paused_seconds=swmr.paused_seconds,
            swmr_longest_pause_seconds=swmr.longest_pause_seconds,
            engine=runner.saver.engine.name,
            swmr_supported=runner.saver.engine.capabilities.swmr,
        )

    # -- producers' side ----------------------------------------------------------------------

    async def open(self) -> NodeRef:
        """Start the writer thread and open the file on it; returns the raw group. If the
        open fails, the thread ends."""
        self._thread.start()
        try:
            return await self._thread.run(self.runner.open)
        except BaseException:
            await self._thread.aclose()
            raise

    def submit(self, op: Op) -> None:
        """Queue an operation for the next batch and wake the writer. An operation other than
        an append is a barrier: later appends gather in new operations behind it. A call that
        only creates nodes is not: it goes ahead of the appends queued after the last barrier
        (they cannot touch what it creates), and appends go on gathering behind it."""
        queue = self._queue
        if isinstance(op, CallOp) and op.structural:
            self.runner.swmr_switch.changes_queued += 1
        if isinstance(op, CallOp) and op.creates:
            ahead = len(queue)
            while ahead and isinstance(queue[ahead - 1], AppendOp):
                ahead -= 1
            queue.insert(ahead, op)
        else:
            if not isinstance(op, AppendOp):
                self._gathering.clear()
            queue.append(op)
        if not self._wakeup.is_set():
            self._wakeup.set()

    def accept_row(self, path: str, row: Any, dtype: np.dtype[Any], cost: int) -> None:
        """Copy one row of the array's shape and dtype into the operation gathering this
        array's rows (queued after the last barrier), or into a new one."""
        # The hot path: _rows_op inlined for a row that joins its array's operation.
        op = self._gathering.get(path)
        if (
            not isinstance(op, RowsAppend)
            or (op.dtype is not dtype and op.dtype != dtype)
            or op.row_shape != row.shape
            or op.cost >= self._batch_limit
        ):
            op = self._rows_op(path, row.shape, dtype)
        op.add_row(row)
        op.cost += cost

    def accept_scalar(self, path: str, value: Any, dtype: np.dtype[Any], cost: int) -> None:
        """:meth:`accept_row` for a row of no shape: one numpy scalar of the array's dtype."""
        op = self._gathering.get(path)
        if (
            not isinstance(op, RowsAppend)
            or (op.dtype is not dtype and op.dtype != dtype)
            or op.row_shape
            or op.cost >= self._batch_limit
        ):
            op = self._rows_op(path, (), dtype)
        op.add_value(value)
        op.cost += cost

    def accept_rows(self, path: str, rows: np.ndarray, dtype: np.dtype[Any], cost: int) -> None:
        """Copy checked rows ``(n, *row)`` like :meth:`accept_row`."""
        op = self._rows_op(path, rows.shape[1:], dtype)
        op.add(rows)
        op.cost += cost

    def _rows_op(self, path: str, row_shape: tuple[int, ...], dtype: np.dtype[Any]) -> RowsAppend:
        op = self._gathering.get(path)
        # Rows join only an operation of their own row shape and dtype: rows checked against
        # another array (of another file, or since replaced) then fail alone in the writer,
        # instead of being copied as raw bytes among good rows or dropping them. An operation
        # holds about one batch at most, so that a batch can end after it: the writer merges
        # an array's operations of one batch into one write all the same.
        if (
            not isinstance(op, RowsAppend)
            or (op.dtype is not dtype and op.dtype != dtype)
            or op.row_shape != row_shape
            or op.cost >= self._batch_limit
        ):
            op = RowsAppend(path, row_shape, dtype, self.segments)
            self._enqueue_append(op)
        return op

    def accept_handed_over(
        self, path: str, rows: np.ndarray, cost: int, *, pool: SegmentPool | None = None
    ) -> None:
        """Queue rows handed over as they are (given back to ``pool`` once written, if they
        came from it); later rows gather behind them."""
        op = RowsAppend.handed_over(path, rows, pool)
        op.cost = cost
        self._enqueue_append(op, gathering=False)

    def accept_text(self, path: str, text: str, cost: int) -> None:
        """Add a string to the operation gathering this string array's rows, or to a new one."""
        op = self._gathering.get(path)
        if not isinstance(op, TextAppend):
            op = TextAppend(path)
            self._enqueue_append(op)
        op.add(text)
        op.cost += cost

    def _enqueue_append(self, op: AppendOp, *, gathering: bool = True) -> None:
        if gathering:
            self._gathering[op.path] = op
        else:
            self._gathering.pop(op.path, None)
        if self._oldest_unflushed is None:
            self._oldest_unflushed = time.monotonic()
        self.submit(op)

    async def call(self, op: Op) -> object:
        """Queue ``op`` and wait for its answer.

        Cancelled before its batch starts, the operation is dropped; after, it completes and its
        answer is discarded. Once the writer has stopped, nothing would answer: it raises.
        """
        await anyio.lowlevel.checkpoint_if_cancelled()
        if self.stopped:
            raise self.runner.broken or SaverClosedError(
                "the saver closed before this operation ran: expected an open saver"
            )
        op.waiter = anyio.Event()
        creates = isinstance(op, CallOp) and op.creates
        if creates:
            self.turns.hold_turns()
        try:
            self.submit(op)
            await op.waiter.wait()
        except BaseException:
            if op.state is OpState.PENDING:
                op.state = OpState.DROPPED
            raise
        finally:
            if creates:
                self.turns.release_turns()
        if op.error is not None:
            raise op.error
        return op.result

    async def call_saver(self, op: CallOp[R]) -> R:
        """Queue a call of the synchronous saver and wait for its result (see :meth:`call`)."""
        await self.call(op)
        return op.value

    # -- the writer task ----------------------------------------------------------------------

    async def run(self) -> None:
        """Drain the queue batch by batch until a :class:`CloseOp` has run."""
        try:
            while not self.stopped:
                await self._wait_for_work()
                await self._let_the_batch_fill()
                batch = self._take_batch()
                for op in batch:
                    if op.state is OpState.PENDING:
                        op.state = OpState.RUNNING
                with anyio.CancelScope(shield=True):
                    await self._run_batch(batch)
        finally:
            self.stopped = True
            # Producers still waiting for a turn find the saver closed.
            self.turns.stop()
            self._answer_leftovers()
            try:
                if not self.runner.closed:
                    # Stopped without a close (cancelled from outside): still leave a whole file.
                    with anyio.CancelScope(shield=True):
                        final: list[Op] = [CloseOp()]
                        await self._thread.run(self.runner.execute, final, None)
            finally:
                await self._thread.aclose()

    def _take_batch(self) -> list[Op]:
        """The queued operations, oldest first, up to about ``batch_bytes`` of rows and
        ``batch_seconds`` of writing (at least one operation): a bounded batch keeps the time
        between two flush checks, and so the delay before SWMR readers see a row, short when
        producers outrun the disk, and so is the wait of an operation queued meanwhile.

        Operations awaited at the head of the queue (a late instrument's creations, which run
        ahead of the rows queued before them) make a batch of their own: their callers are
        answered before the rows behind them are written, not after."""
        batch: list[Op] = []
        size = 0
        rows_taken = False
        limit = min(self.tuning.batch_bytes, self._batch_limit)
        queue = self._queue
        while queue and (not batch or size < limit):
            if (
                not rows_taken
                and batch
                and batch[-1].waiter is not None
                and isinstance(queue[0], AppendOp)
            ):
                break
            op = queue.popleft()
            batch.append(op)
            if isinstance(op, AppendOp):
                rows_taken = True
                size += op.cost
                if self._gathering.get(op.path) is op:
                    del self._gathering[op.path]
            elif isinstance(op, CallOp) and op.structural:
                self.runner.swmr_switch.changes_queued -= 1
            elif isinstance(op, SaveCopyOp | CloseOp):
                # The file is closed at this operation: what follows waits for the next batch,
                # once the copy is written and the file open again.
                break
        return batch

    async def _let_the_batch_fill(self) -> None:
        """Wait up to ``batch_fill_seconds`` for the queued rows to make a whole batch; not
        while a call is awaited (flush, structure change, close) or producers lack room."""
        if self.batch_fill_seconds <= 0:
            return
        deadline = time.monotonic() + self.batch_fill_seconds
        while (
            not self.closing
            and self.budget.held < self._batch_limit
            and not self.budget.lacks_room()
            and all(op.waiter is None for op in self._queue)
        ):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            await anyio.sleep(min(left, FILL_POLL_SECONDS))

    async def _wait_for_work(self) -> None:
        """Wait for queued operations, for the flush period of the oldest unflushed row to run
        out, or for SWMR to be due to start again after structure changes."""
        while not self._queue:
            deadline = _earliest(self._flush_deadline(), self.runner.swmr_resume_at())
            if deadline is None:
                await self._wakeup.wait()
            else:
                with anyio.move_on_after(max(0.0, deadline - time.monotonic())):
                    await self._wakeup.wait()
                if not self._queue and time.monotonic() >= deadline:
                    break
            self._wakeup = anyio.Event()
        self._wakeup = anyio.Event()

    def _flush_deadline(self) -> float | None:
        if self.flush_period is None or self._oldest_unflushed is None:
            return None
        return self._oldest_unflushed + self.flush_period

    async def _run_batch(self, batch: list[Op]) -> None:
        started = time.monotonic()
        deadline = self._flush_deadline()
        if deadline is not None:
            # Flush after this batch if waiting for the next one (about as long) would miss
            # the deadline: rows are flushed a little early rather than late.
            deadline -= self._last_batch_seconds
        await self._thread.run(self.runner.execute, batch, deadline)
        self._last_batch_seconds = time.monotonic() - started
        written = sum(op.cost for op in batch if isinstance(op, AppendOp))
        if written:
            self._note_rate(written, self._last_batch_seconds)
        for op in batch:
            if isinstance(op, SaveCopyOp) and op.state is OpState.RUNNING and op.error is None:
                await self._copy_file(op)
            elif isinstance(op, CloseOp):
                self.stopped = True
        if not self.runner.unflushed:
            self._oldest_unflushed = (
                started if any(isinstance(op, AppendOp) for op in self._queue) else None
            )
        self._settle(batch)

    def _note_rate(self, written: int, seconds: float) -> None:
        """Take a batch's bytes and seconds into the recent write rate, and size the batches
        and the queue from it.

        A batch takes about ``batch_seconds`` of writing: an operation queued behind the one
        being written (a late instrument's creation, which goes ahead of the queued rows)
        waits that long at most. With a time bound (``max_pending_seconds``, a flush period),
        the queue is capped at what the writer writes in that time: producers that outrun
        the disk would otherwise fill the whole budget, a row would then wait behind it for
        longer than a flush period promises, and the event loop would spend more time on the
        queue (capped, it also writes more MB/s)."""
        self._recent_bytes = self._recent_bytes / 2 + written
        self._recent_seconds = self._recent_seconds / 2 + seconds
        rate = self._recent_bytes / max(self._recent_seconds, 1e-6)
        floor = self.tuning.min_backlog_bytes
        if not self.batch_fill_seconds:
            # Where batches fill (requests cost a round trip), they stay whole: a batch of
            # one array's rows would pay its round trips alone.
            self._batch_limit = max(floor, int(rate * self.tuning.batch_seconds))
        if self._backlog_seconds is not None:
            self.budget.set_cap(max(floor, int(rate * self._backlog_seconds)))

    async def _copy_file(self, op: SaveCopyOp) -> None:
        """Copy the closed file with aiofiles, then reopen it; nothing writes meanwhile."""
        target = op.target
        source = Path(str(op.result))
        try:
            await copy_file(source, target)
        except OSError as exc:
            op.error = exc
        finally:
            await self._thread.run(self.runner.reopen_after_copy)
        op.result = target

    def _settle(self, batch: list[Op]) -> None:
        """Release the budget of written appends and answer the callers still waiting."""
        released = 0
        for op in batch:
            if isinstance(op, AppendOp):
                released += op.cost
                if isinstance(op, RowsAppend) and op.pool is self.segments:
                    for segment in op.segments:
                        self.segments.give(segment)
            elif op.waiter is not None and op.state is not OpState.DROPPED:
                op.waiter.set()
        if released:
            self.budget.release(released)

    def _answer_leftovers(self) -> None:
        """The writer is gone: every operation still queued is answered with an error."""
        error = self.runner.broken or SaverClosedError(
            "the saver closed before this operation ran: expected an open saver"
        )
        self._gathering.clear()
        self.runner.swmr_switch.changes_queued = 0
        released = 0
        while self._queue:
            op = self._queue.popleft()
            op.error = error
            if isinstance(op, AppendOp):
                released += op.cost
            elif op.waiter is not None:
                op.waiter.set()
        if released:
            self.budget.release(released)


def _earliest(*times: float | None) -> float | None:
    known = [at for at in times if at is not None]
    return min(known) if known else None
