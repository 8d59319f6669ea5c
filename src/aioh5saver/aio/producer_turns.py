"""ProducerTurns, on the event loop: the loop time a saver's producers share, one slice per loop
iteration, given out in turns, first come, first served.

An append accepted at once does not yield to the event loop: that is what makes it cheap. So
producers share a slice of loop time: while it lasts, appends are accepted at once; once it is
spent, every producer that appends waits for a turn. The turns are given out by one task, one
per loop iteration, in the order they were asked for; the producer whose turn it is starts a
new slice. One loop iteration therefore runs one slice of appends however many producers
there are (a slice per producer would make the loop's iteration, and so its lag, grow with
their number), and producers that push as fast as they can get equal shares.

Producers granted room in the queue's budget are woken through turns as well
(:meth:`ProducerTurns.give_turn`), so that a release of much room does not wake them all in one
iteration; but up to :data:`GRANTS_PER_ITERATION` of them per iteration, beside the one slice:
a granted producer accepts its row and then shares the slice in force instead of starting one,
so each costs about one row, and giving them one per iteration would let a full budget cap the
producers at one row per loop iteration.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter

import anyio
import anyio.lowlevel

__all__ = ["GRANTS_PER_ITERATION", "ProducerTurns", "Turn", "TurnStatistics"]

#: Producers granted room in the budget that are woken per loop iteration, at most.
GRANTS_PER_ITERATION = 16


class Turn:
    """One producer's wait for its turn; a budget request carries its size (see
    :class:`~.queue_budget.QueueBudget`)."""

    __slots__ = ("event", "granted", "queued", "size")

    def __init__(self, size: int = 0) -> None:
        self.size = size
        self.event = anyio.Event()
        # In a queue of turns; room in the budget granted.
        self.queued = False
        self.granted = False


@dataclass(frozen=True, slots=True)
class TurnStatistics:
    """The state of a :class:`ProducerTurns` at one moment."""

    #: Producers waiting for their turn.
    waiting: int
    #: Turns given out since the saver opened.
    given: int


class ProducerTurns:
    """Slices of ``slice_s`` seconds of ``clock`` time, one per loop iteration, shared by the
    producers; :meth:`run` gives out the turns."""

    def __init__(self, slice_s: float, clock: Callable[[], float] = perf_counter) -> None:
        self.slice_s = slice_s
        self.clock = clock
        # The clock time at which the current slice is spent; the first append takes a turn.
        self.ends_at = -math.inf
        # Producers waiting for a new slice, and producers granted room in the budget.
        self._queue: deque[Turn] = deque()
        self._grants: deque[Turn] = deque()
        self._work: anyio.Event | None = None
        self._stopped = False
        self._given = 0

    def statistics(self) -> TurnStatistics:
        """How many producers wait for a turn, and how many turns were given."""
        return TurnStatistics(waiting=len(self._queue) + len(self._grants), given=self._given)

    def slice_left(self) -> bool:
        """True while the current slice lasts: an append may be accepted without a turn."""
        return self.clock() < self.ends_at

    async def take_turn(self) -> None:
        """Wait for a turn, behind the producers already waiting, then start a new slice.
        Cancelled meanwhile, it takes nothing; once :meth:`stop` was called, it returns at
        once (the caller finds the saver closed)."""
        if self._stopped:
            return
        turn = Turn()
        self.give_turn(turn)
        await self.wait(turn)

    def give_turn(self, turn: Turn) -> None:
        """Queue ``turn``: :meth:`run` wakes it when its turn comes (at once if stopped)."""
        if self._stopped:
            turn.event.set()
            return
        turn.queued = True
        (self._grants if turn.granted else self._queue).append(turn)
        work = self._work
        if work is not None:
            self._work = None
            work.set()

    async def wait(self, turn: Turn) -> None:
        """Wait until ``turn`` (queued with :meth:`give_turn`) is given, then start a new
        slice unless it was granted room in the budget. Cancelled before that, the turn leaves
        the queue."""
        try:
            await turn.event.wait()
        except BaseException:
            self._withdraw(turn)
            raise
        if not turn.granted:
            self.ends_at = self.clock() + self.slice_s

    def _withdraw(self, turn: Turn) -> None:
        """Take ``turn`` out of its queue if it is still there."""
        if turn.queued:
            turn.queued = False
            (self._grants if turn.granted else self._queue).remove(turn)

    async def run(self) -> None:
        """Give out the queued turns until :meth:`stop`: per loop iteration, one new slice
        and up to :data:`GRANTS_PER_ITERATION` granted producers; then give every turn still
        queued, so that no producer is left waiting."""
        queue, grants = self._queue, self._grants
        try:
            while True:
                if queue or grants:
                    await anyio.lowlevel.checkpoint()
                elif self._stopped:
                    return
                else:
                    work = self._work = anyio.Event()
                    await work.wait()
                # The slice's producer first: granted ones woken beside it share its slice.
                if queue:
                    self._give(queue.popleft())
                for _ in range(min(len(grants), GRANTS_PER_ITERATION)):
                    self._give(grants.popleft())
        finally:
            self._stopped = True
            for waiting in (queue, grants):
                while waiting:
                    self._give(waiting.popleft())

    def _give(self, turn: Turn) -> None:
        turn.queued = False
        self._given += 1
        turn.event.set()

    def stop(self) -> None:
        """Give every queued turn and end :meth:`run`: the saver takes no more appends."""
        self._stopped = True
        work = self._work
        if work is not None:
            self._work = None
            work.set()
