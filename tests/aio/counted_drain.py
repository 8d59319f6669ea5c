"""A stand-in for the writer task whose queue's room is freed on a counted schedule, so that
the tests of producer turns do not depend on a writer thread's pace or the machine's speed.

The real intake of appends (:class:`~aioh5saver.aio.intake.AppendIntake`), with its real
:class:`~aioh5saver.aio.producer_turns.ProducerTurns` and
:class:`~aioh5saver.aio.queue_budget.QueueBudget`, sits in front of :class:`CountedWriter`,
which only counts the rows it accepts and the bytes they hold in the budget. A drain, a task on
the event loop, gives those bytes back as a writer would once it has written them: after a
counted number of loop iterations (:class:`BatchDrain`), or whenever the budget is full and
every producer waits (:class:`FullBudgetDrain`). Its clock (:class:`TickClock`) counts its own
readings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import anyio
import anyio.lowlevel
import numpy as np

from aioh5saver.aio.caller_checks import CallerChecks
from aioh5saver.aio.intake import CALL_OVERHEAD_BYTES, AppendIntake
from aioh5saver.aio.noderef import NodeRef, RefOrigin
from aioh5saver.aio.producer_turns import ProducerTurns
from aioh5saver.aio.queue_budget import QueueBudget
from aioh5saver.aio.tuning import WriterTuning
from aioh5saver.aio.writer_task import WriterTask

__all__ = [
    "ROW_COST",
    "BatchDrain",
    "CountedWriter",
    "FullBudgetDrain",
    "Pushed",
    "TickClock",
    "push_rows",
]

#: What one scalar float64 row holds in the budget.
ROW_COST = 8 + CALL_OVERHEAD_BYTES


class TickClock:
    """A clock that advances one tick (1 s) at every reading."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


class CountedWriter:
    """What :class:`AppendIntake` sees of a writer task: turns of ``slice_ticks`` readings of a
    :class:`TickClock`, a budget of ``max_pending_bytes``, and a queue that counts the rows
    accepted and the bytes they hold (until a drain gives them back)."""

    def __init__(self, max_pending_bytes: int, slice_ticks: int) -> None:
        self.tuning = WriterTuning(loop_slice_s=slice_ticks)
        self.turns = ProducerTurns(slice_ticks, TickClock())
        self.budget = QueueBudget(max_pending_bytes, self.turns)
        self.origin = RefOrigin("counted")
        # What CallerChecks reads: the writer is running and not broken (a writer task's
        # runner holds ``broken``: this stand-in is its own).
        self.broken: BaseException | None = None
        self.runner = self
        self.closing = False
        self.stopped = False
        #: Bytes of rows accepted that no drain has taken yet.
        self.queued_bytes = 0
        #: Rows accepted in all.
        self.rows = 0

    def accept_row(self, path: str, row: Any, dtype: np.dtype[Any], cost: int) -> None:
        """Queue one row: its ``cost`` stays held in the budget until a drain gives it back."""
        self.queued_bytes += cost
        self.rows += 1

    # A row of no shape, checked by its type alone, is queued the same way.
    accept_scalar = accept_row

    def take_queued(self) -> int:
        """The bytes queued since the last call: a batch for the drain to write."""
        taken, self.queued_bytes = self.queued_bytes, 0
        return taken

    def fill_budget(self) -> int:
        """Take all the room left in the budget, as rows queued before the producers start
        would; the bytes now held."""
        budget = self.budget
        budget.take(budget.cap - budget.held)
        return budget.held

    def intake(self) -> AppendIntake:
        """The real intake of appends in front of this writer, owned by the calling loop."""
        writer = cast(WriterTask, self)
        checks = CallerChecks(writer, self.origin, "counted")
        checks.take_ownership()
        return AppendIntake(writer, checks)


class _Drain:
    """A task that runs once per loop iteration until stopped, and counts the iterations and
    the rows the writer accepted in each (``gains``)."""

    def __init__(self, writer: CountedWriter) -> None:
        self.writer = writer
        self.iterations = 0
        self.gains: list[int] = []
        #: Iterations that began with the first turn waiting for room lacking it.
        self.full_iterations = 0
        self._stop = anyio.Event()

    async def run(self) -> None:
        """Run :meth:`step` once per loop iteration until :meth:`stop`."""
        writer = self.writer
        last = writer.rows
        while not self._stop.is_set():
            await anyio.lowlevel.checkpoint()
            self.iterations += 1
            self.gains.append(writer.rows - last)
            last = writer.rows
            waiting = writer.turns.room_queue
            if waiting and not writer.budget.fits(waiting[0].size):
                self.full_iterations += 1
            self.step()

    def step(self) -> None:
        """What the drain does in one loop iteration."""
        raise NotImplementedError

    def stop(self) -> None:
        """End :meth:`run` at its next iteration."""
        self._stop.set()


class BatchDrain(_Drain):
    """A writer slower than the producers, whose batches each take ``every`` loop iterations
    and write at most ``batch_bytes``: it starts with the budget full, and every ``every``
    iterations gives back at once the batch it took last time, then takes the next."""

    def __init__(self, writer: CountedWriter, every: int, batch_bytes: int) -> None:
        super().__init__(writer)
        self.every = every
        self.batch_bytes = batch_bytes
        self._unwritten = writer.fill_budget()
        self._writing = 0
        #: Batches before which the producers ran out of room (in at least one iteration).
        self.starved_batches = 0
        self._full_iterations_then = 0

    def step(self) -> None:
        writer = self.writer
        self._unwritten += writer.take_queued()
        if self.iterations % self.every:
            return
        if self.full_iterations > self._full_iterations_then:
            self.starved_batches += 1
        self._full_iterations_then = self.full_iterations
        written = self._writing
        self._writing = min(self.batch_bytes, self._unwritten)
        self._unwritten -= self._writing
        if written:
            writer.budget.release(written)


class FullBudgetDrain(_Drain):
    """A writer slower than any producer: it starts with the budget full, and frees ``room``
    bytes only once every one of ``producers`` waits for a turn and the first turn waiting for
    room lacks it. So producers wait for room before every turn, and no producer is in the
    middle of its turn when room is freed: whatever order the loop runs its tasks in, every
    turn finds the same room."""

    def __init__(self, writer: CountedWriter, producers: int, room: int) -> None:
        super().__init__(writer)
        self.producers = producers
        self.room = room
        self._unwritten = writer.fill_budget()

    def step(self) -> None:
        writer = self.writer
        self._unwritten += writer.take_queued()
        turns = writer.turns
        waiting = turns.room_queue
        if (
            turns.statistics().waiting == self.producers
            and waiting
            and not writer.budget.fits(waiting[0].size)
        ):
            written = min(self.room, self._unwritten)
            self._unwritten -= written
            writer.budget.release(written)


@dataclass(frozen=True)
class Pushed:
    """What :func:`push_rows` saw."""

    #: The rows each producer got accepted.
    accepted: list[int]
    #: The turns given until the last row was accepted.
    turns_given: int


async def push_rows(
    writer: CountedWriter, drain: _Drain, producers: int, total: int, arrays: int = 8
) -> Pushed:
    """``producers`` tasks each appending scalar float64 rows through ``writer``'s real intake
    as fast as they can (to one of ``arrays`` arrays), until ``total`` rows are accepted in
    all, with ``drain`` and the turns running."""
    intake = writer.intake()
    refs = [
        NodeRef(f"/RawData/a{index}", "EARRAY", (), np.dtype("float64"), writer.origin)
        for index in range(arrays)
    ]
    accepted = [0] * producers
    row = np.float64(1.5)
    accept_at_once: Callable[[NodeRef, Any, bool], bool] = intake.accept_at_once

    async def producer(index: int) -> None:
        where = refs[index % arrays]
        while writer.rows < total:
            # As AsyncH5Saver.append does.
            if not accept_at_once(where, row, True):
                await intake.append(where, row, True)
            accepted[index] += 1

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(writer.turns.run)
            tg.start_soon(drain.run)
            for index in range(producers):
                tg.start_soon(producer, index)
            while writer.rows < total:
                await anyio.lowlevel.checkpoint()
            turns_given = writer.turns.statistics().given
            drain.stop()
            # Producers still waiting for a turn leave without appending.
            tg.cancel_scope.cancel()
    return Pushed(accepted, turns_given)
