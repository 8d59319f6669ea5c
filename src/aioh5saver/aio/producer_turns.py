"""ProducerTurns, on the event loop: the loop time a saver's producers share, one slice per loop
iteration, given out in turns, first come, first served, each with the room in the queue's
budget its producer waits for.

An append accepted at once does not yield to the event loop: that is what makes it cheap. So
producers share a slice of loop time: while it lasts, appends are accepted at once; once it is
spent, every producer that appends waits for a turn. The turns are given out by one task, one
per loop iteration, in the order they were asked for; the producer whose turn it is starts a
new slice. One loop iteration therefore runs one slice of appends however many producers
there are (a slice per producer would make the loop's iteration, and so its lag, grow with
their number), and producers that push as fast as they can get equal shares.

Producers that wait for room in the budget (:class:`~.queue_budget.QueueBudget`) wait for a
turn too: a turn may ask for room, and it is given only once that room is free, with the room
taken for it. Room goes out in arrival order (a turn waiting for room holds up the later ones
that ask for room; a turn that asks for none goes ahead of it), one turn per loop iteration,
and a producer woken after waiting for room gets a whole slice like any other. Woken for its
own row alone, a producer would cost a loop iteration per row whenever the budget is full, and
get a smaller share than those whose turn came while there was room.

The next turn is given only once the producer of the last one has run: an event loop may run
the tasks of one iteration in any order (trio does), and a turn given before the last one's
producer ran would take room from that producer's slice, so shares would depend on that order.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Protocol

import anyio
import anyio.lowlevel

__all__ = ["ProducerTurns", "Room", "Turn", "TurnStatistics"]


class Room(Protocol):
    """The room that turns give out: the queue's budget."""

    def fits(self, size: int) -> bool:
        """True if ``size`` bytes may be taken now."""
        ...

    def take(self, size: int) -> None:
        """Take ``size`` bytes, which :meth:`fits` allowed."""
        ...

    def release(self, size: int) -> None:
        """Give back ``size`` bytes taken."""
        ...


class Turn:
    """One producer's wait for its turn, and the bytes of room that come with it."""

    __slots__ = ("event", "number", "queued", "resumed", "size")

    def __init__(self, size: int, number: int, event: anyio.Event) -> None:
        self.size = size
        # Its place in the order of arrival.
        self.number = number
        self.event = event
        # In the queue of turns; once given, its room (if any) was taken for it.
        self.queued = True
        # Given, and its producer has run since (its slice started, or it left).
        self.resumed = False


@dataclass(frozen=True, slots=True)
class TurnStatistics:
    """The state of a :class:`ProducerTurns` at one moment."""

    #: Producers waiting for their turn.
    waiting: int
    #: Of those, producers waiting for room in the budget with their turn.
    waiting_for_room: int
    #: Turns given out since the saver opened.
    given: int


class ProducerTurns:
    """Slices of ``slice_s`` seconds of ``clock`` time, one per loop iteration, shared by the
    producers; :meth:`run` gives out the turns, and the room in ``room`` (the queue's budget,
    attached by it; none: turns ask for no room) they ask for."""

    def __init__(self, slice_s: float, clock: Callable[[], float] = perf_counter) -> None:
        self.slice_s = slice_s
        self.clock = clock
        self.room: Room | None = None
        # The clock time at which the current slice is spent; the first append takes a turn.
        self.ends_at = -math.inf
        # Turns that ask for no room, and turns that ask for room, each in arrival order (the
        # budget reads the first of these: room is never taken at once while it lacks room).
        self._plain: deque[Turn] = deque()
        self.room_queue: deque[Turn] = deque()
        self._asked = 0
        self._work: anyio.Event | None = None
        self._stopped = False
        self._given = 0
        self._new_event: type[anyio.Event] | None = None
        # Awaited creations in flight (see hold_turns): no turn is given meanwhile.
        self._holds = 0

    def statistics(self) -> TurnStatistics:
        """How many producers wait for a turn (and for room with it), and how many turns were
        given."""
        return TurnStatistics(
            waiting=len(self._plain) + len(self.room_queue),
            waiting_for_room=len(self.room_queue),
            given=self._given,
        )

    def slice_left(self) -> bool:
        """True while the current slice lasts: an append may be accepted without a turn."""
        return self.clock() < self.ends_at

    async def take_turn(self, size: int = 0) -> None:
        """Wait for a turn, behind the producers already waiting, and with ``size`` > 0 until
        that many bytes of room are free, taken for the caller; then start a new slice.

        Cancelled meanwhile, it takes nothing (room taken in the meantime is given back). Once
        :meth:`stop` was called, it returns at once with the room taken (the caller, which
        finds the saver closed, gives it back)."""
        if self._stopped:
            if size and self.room is not None:
                self.room.take(size)
            return
        self._asked += 1
        new_event = self._new_event
        if new_event is None:
            # The running backend's own Event class: anyio.Event() looks the backend up at
            # every call, a sizeable share of a turn's cost.
            new_event = self._new_event = type(anyio.Event())
        turn = Turn(size, self._asked, new_event())
        queue = self.room_queue if size else self._plain
        queue.append(turn)
        self.room_freed()
        try:
            await turn.event.wait()
        except BaseException:
            turn.resumed = True
            if turn.queued:
                queue.remove(turn)
                turn.queued = False
                # The turn behind it may go now.
                self.room_freed()
            elif size and self.room is not None:
                self.room.release(size)
            raise
        turn.resumed = True
        self.ends_at = self.clock() + self.slice_s

    def room_freed(self) -> None:
        """Wake :meth:`run` if it waits: room was freed, or the queue changed."""
        work = self._work
        if work is not None:
            self._work = None
            work.set()

    def hold_turns(self) -> None:
        """Give no turn, and end the slice in force, until as many :meth:`release_turns`:
        an awaited creation (a late instrument's group or array) is in flight. The writer
        thread then has the GIL to itself instead of taking turns with the producers' slices
        for it, a millisecond at a time, while their rows wait a few milliseconds more."""
        self._holds += 1
        self.ends_at = -math.inf

    def release_turns(self) -> None:
        """End one :meth:`hold_turns`; turns go out again once none is left."""
        self._holds -= 1
        if not self._holds:
            self.room_freed()

    def _next_turn(self) -> deque[Turn] | None:
        """The queue whose first turn goes next: the earlier of the first turn that asks for
        no room and the first that asks for room, if its room is free; None if none may go
        (also while turns are held)."""
        if self._holds:
            return None
        plain, for_room = self._plain, self.room_queue
        room = self.room
        if (
            for_room
            and (room is None or room.fits(for_room[0].size))
            and (not plain or for_room[0].number < plain[0].number)
        ):
            return for_room
        return plain or None

    async def run(self) -> None:
        """Give out the queued turns until :meth:`stop`: one per loop iteration, in order, each
        once its room is free and the producer of the last one has run; then give every turn
        still queued (with its room), so that no producer is left waiting."""
        given: Turn | None = None
        try:
            while not self._stopped:
                if self._next_turn() is not None:
                    await anyio.lowlevel.checkpoint()
                    if given is not None and not given.resumed:
                        # Its producer runs in this iteration, after this task: next time.
                        continue
                    # The queues or the room may have changed meanwhile.
                    queue = self._next_turn()
                    if queue is not None:
                        given = queue.popleft()
                        self._give(given)
                else:
                    work = self._work = anyio.Event()
                    await work.wait()
        finally:
            self._stopped = True
            for queue in (self._plain, self.room_queue):
                while queue:
                    self._give(queue.popleft())

    def _give(self, turn: Turn) -> None:
        turn.queued = False
        if turn.size and self.room is not None:
            self.room.take(turn.size)
        self._given += 1
        turn.event.set()

    def stop(self) -> None:
        """Give every queued turn and end :meth:`run`: the saver takes no more appends."""
        self._stopped = True
        self.room_freed()
