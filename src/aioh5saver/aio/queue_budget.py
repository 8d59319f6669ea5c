"""QueueBudget: the bytes the writer's queue may hold, with first-come, first-served waiters.

It is the writer's back-pressure (not the disk's room, which the writer thread accounts for).
Producers :meth:`QueueBudget.acquire` the size of what they queue and the writer
:meth:`QueueBudget.release`\\ s it once written. The writer may cap the budget below its limit
(:meth:`QueueBudget.set_cap`). A request larger than the whole cap passes alone (when nothing
else is held), so that one oversized batch cannot wait forever. Waiters are served strictly in
arrival order: a small request never overtakes a large one that came first. Everything runs on
the event-loop thread.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from aioh5saver.aio.producer_turns import ProducerTurns, Turn

__all__ = ["BudgetStatistics", "QueueBudget"]


@dataclass(frozen=True, slots=True)
class BudgetStatistics:
    """The state of a :class:`QueueBudget` at one moment."""

    limit: int
    cap: int
    held: int
    waiting: int


class QueueBudget:
    """At most ``cap`` bytes held at once (``limit`` unless capped lower); acquirers wait in
    FIFO order for room, and once granted, for their turn among ``turns``."""

    def __init__(self, limit: int, turns: ProducerTurns) -> None:
        self.limit = limit
        self.cap = limit
        self.held = 0
        self._turns = turns
        self._waiters: deque[Turn] = deque()

    def statistics(self) -> BudgetStatistics:
        """The limit and the cap in force, how much is held, and how many acquirers wait."""
        return BudgetStatistics(
            limit=self.limit, cap=self.cap, held=self.held, waiting=len(self._waiters)
        )

    def set_cap(self, cap: int) -> None:
        """Hold at most ``cap`` bytes from now on (never more than ``limit``); bytes already
        held stay held, and waiters that now fit are woken."""
        self.cap = max(1, min(cap, self.limit))
        self._grant()

    def _fits(self, size: int) -> bool:
        return self.held + size <= self.cap or self.held == 0

    def try_acquire(self, size: int) -> bool:
        """Take ``size`` bytes at once if that is possible without overtaking a waiter."""
        if not self._waiters and self._fits(size):
            self.held += size
            return True
        return False

    async def acquire(self, size: int) -> None:
        """Take ``size`` bytes, waiting behind earlier acquirers for room.

        If cancelled while waiting, nothing is taken (bytes granted in the meantime are given
        back).
        """
        if self.try_acquire(size):
            return
        waiter = Turn(size)
        self._waiters.append(waiter)
        try:
            await self._turns.wait(waiter)
        except BaseException:
            if waiter.granted:
                self.release(size)
            else:
                self._waiters.remove(waiter)
                self._grant()
            raise

    def release(self, size: int) -> None:
        """Give back ``size`` bytes and wake the waiters that now fit, in order."""
        self.held -= size
        self._grant()

    def _grant(self) -> None:
        while self._waiters and self._fits(self._waiters[0].size):
            waiter = self._waiters.popleft()
            self.held += waiter.size
            waiter.granted = True
            self._turns.give_turn(waiter)
