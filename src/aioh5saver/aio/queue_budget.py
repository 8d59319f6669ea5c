"""QueueBudget: the bytes the writer's queue may hold, with first-come, first-served waiters.

It is the writer's back-pressure (not the disk's room, which the writer thread accounts for).
Producers :meth:`QueueBudget.acquire` the size of what they queue and the writer
:meth:`QueueBudget.release`\\ s it once written. The writer may cap the budget below its limit
(:meth:`QueueBudget.set_cap`). A request larger than the whole cap passes alone (when nothing
else is held), so that one oversized batch cannot wait forever. Everything runs on the
event-loop thread.

Producers that wait for room wait for a turn of the producers' :class:`~.producer_turns.
ProducerTurns`, which comes with their room: waiters are served strictly in arrival order (a
small request never overtakes a large one that came first), and each starts a slice of loop
time in which it may take more room at once (:meth:`QueueBudget.try_acquire`), like any
producer whose turn it is. Room is never taken at once while the first turn waiting for room
lacks it: what is freed goes to it first. So an append accepted at once takes room ahead of
the turns waiting for it only while there is room for the first of them too, and only within
the slice in force (once it is spent, every append waits for a turn).
"""

from __future__ import annotations

from dataclasses import dataclass

from aioh5saver.aio.producer_turns import ProducerTurns

__all__ = ["BudgetStatistics", "QueueBudget"]


@dataclass(frozen=True, slots=True)
class BudgetStatistics:
    """The state of a :class:`QueueBudget` at one moment."""

    limit: int
    cap: int
    held: int
    waiting: int


class QueueBudget:
    """At most ``cap`` bytes held at once (``limit`` unless capped lower); acquirers wait for
    room in ``turns``' queue, in FIFO order, and get it with their turn."""

    def __init__(self, limit: int, turns: ProducerTurns) -> None:
        self.limit = limit
        self.cap = limit
        self.held = 0
        self._turns = turns
        self._room_queue = turns.room_queue
        turns.room = self

    def statistics(self) -> BudgetStatistics:
        """The limit and the cap in force, how much is held, and how many acquirers wait."""
        return BudgetStatistics(
            limit=self.limit,
            cap=self.cap,
            held=self.held,
            waiting=self._turns.statistics().waiting_for_room,
        )

    def set_cap(self, cap: int) -> None:
        """Hold at most ``cap`` bytes from now on (never more than ``limit``); bytes already
        held stay held, and waiters that now fit get their turns."""
        self.cap = max(1, min(cap, self.limit))
        if self._room_queue:
            self._turns.room_freed()

    def lacks_room(self) -> bool:
        """True if the first producer waiting for room waits because it is not free (room
        that is free goes out with the next turn)."""
        queue = self._room_queue
        return bool(queue) and not self.fits(queue[0].size)

    def fits(self, size: int) -> bool:
        """True if ``size`` bytes may be taken now."""
        return self.held + size <= self.cap or self.held == 0

    def take(self, size: int) -> None:
        """Take ``size`` bytes (for a turn given with its room)."""
        self.held += size

    def try_acquire(self, size: int) -> bool:
        """Take ``size`` bytes at once if they fit and the first turn waiting for room does not
        lack it (called within a slice of loop time: see the module's docstring)."""
        # fits(), inlined twice: this is on the path of every append accepted at once (and
        # while producers wait for their turns, the queue of turns is seldom empty).
        held = self.held
        cap = self.cap
        if held + size <= cap or held == 0:
            room_queue = self._room_queue
            if room_queue and held and held + room_queue[0].size > cap:
                return False
            self.held = held + size
            return True
        return False

    async def acquire(self, size: int) -> None:
        """Take ``size`` bytes, waiting behind earlier acquirers for room and a turn (then a
        slice of loop time starts: see :meth:`ProducerTurns.take_turn`).

        If cancelled while waiting, nothing is taken (bytes granted in the meantime are given
        back).
        """
        if not self._room_queue and self.try_acquire(size):
            return
        await self._turns.take_turn(size)

    def release(self, size: int) -> None:
        """Give back ``size`` bytes: the waiters that now fit get their turns, in order."""
        self.held -= size
        if self._room_queue:
            self._turns.room_freed()
