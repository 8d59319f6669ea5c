"""ProducerTurns, on the event loop: the loop time a saver's producers share, one slice per loop
iteration, given out in turns, first come, first served, each with the room in the queue's
budget its producer waits for.

An append accepted at once does not yield to the event loop: that is what makes it cheap. So
producers share a slice of loop time: while it lasts, appends are accepted at once; once it is
spent, every producer that appends waits for a turn. The turns are given out by one task, at
most one per loop iteration, in the order they were asked for; the producer whose turn it is
starts a new slice. One loop iteration therefore runs one slice of appends at most, however
many producers there are (a slice per producer would make the loop's iteration, and so its
lag, grow with their number), and producers that push as fast as they can get equal shares.

Producers that wait for room in the budget (:class:`~.queue_budget.QueueBudget`) wait for a
turn too: a turn may ask for room, and it is given only once that room is free, with the room
taken for it. Room goes out in arrival order (a turn waiting for room holds up the later ones
that ask for room; a turn that asks for none goes ahead of it), one turn per loop iteration,
and a producer woken after waiting for room gets a whole slice like any other. Woken for its
own row alone, a producer would cost a loop iteration per row whenever the budget is full, and
get a smaller share than those whose turn came while there was room. For the same reason, a
slice cut short for lack of room goes on first once room is freed, until it has what it was
allowed.

A slice ends by time, or once it has accepted its share of appends (its quantum): the appends
that start within ``slice_s`` at the rate slices accept them, learnt as they end. To reach its
share a slice may run to twice ``slice_s``, and a producer whose slice still fell short is owed
the rest in its next turn (deficit round robin, counted in appends). Ended by time alone,
slices would be fair in loop time, not in rows: the time an append takes varies several-fold
from one moment to the next (its copy competes for memory with the writer thread), and a
producer whose turns came at slow moments would get a fraction of the others' rows.

The next turn is given only once the producer of the last one has run: an event loop may run
the tasks of one iteration in any order (trio does), and a turn given before the last one's
producer ran would take room from that producer's slice, so shares would depend on that order.

On asyncio, a turn is handed over, and the task giving turns resumes, from the callback of a
timer due at once. asyncio runs the callbacks scheduled before an iteration ahead of the
timers that come due in it, and wakes a sleeping task one iteration after its timer's
callback: a turn handed over directly would run its slice ahead of every task whose sleep
ended during the last slice, and they would wake two slices late. Behind the timers due before
it, the turn's slice runs after them. A turn then takes two loop iterations instead of one,
and a sleeper wakes about half a slice late instead of two slices, so slices can be longer for
the same lag. trio already wakes a task whose sleep ended in the next iteration, beside the
producer whose turn it is.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Protocol

import anyio
import anyio.lowlevel

__all__ = ["SLICE_TIME_CAP", "ProducerTurns", "Room", "Turn", "TurnStatistics"]

#: A slice may last this many times ``slice_s`` to accept its quantum.
SLICE_TIME_CAP = 2.0
# The weight of the latest slice in the learnt rate of appends.
_RATE_WEIGHT = 0.05
# A producer is owed this many quanta at most: with the time cap, a debt is repaid about a
# quantum a turn, and one that could not be repaid (the producer's appends are all slower)
# must not grow without bound.
_MAX_OWED_QUANTA = 4


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


class Event(Protocol):
    """The running backend's own event (asyncio's or trio's)."""

    def set(self) -> None:
        """Wake every task waiting, and those that wait later."""
        ...

    def wait(self) -> Awaitable[object]:
        """Wait until set."""
        ...


@dataclass(frozen=True, slots=True)
class _Natives:
    """The running backend's own event class and task look-up (anyio's look the backend up at
    every call, a sizeable share of a turn's cost), how the task giving turns lets the loop run,
    and how it hands a turn over (see the module's docstring)."""

    new_event: Callable[[], Event]
    current_task: Callable[[], object]
    checkpoint: Callable[[], Awaitable[None]]
    hand_over: Callable[[Event], None]


class Turn:
    """One producer's wait for its turn, and the bytes of room that come with it."""

    __slots__ = ("event", "number", "owed", "queued", "resumed", "resumes", "size")

    def __init__(
        self, size: int, number: int, event: Event, owed: int = 0, resumes: bool = False
    ) -> None:
        self.size = size
        # Appends its producer's last slice fell short of its allowance by; with ``resumes``,
        # that slice was cut short for lack of room and this turn is the rest of it.
        self.owed = owed
        self.resumes = resumes
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
    #: The appends a slice accepts at most, owed appends aside (None until learnt).
    quantum: int | None


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
        self._work: Event | None = None
        self._stopped = False
        self._given = 0
        self._natives: _Natives | None = None
        # Awaited creations in flight (see hold_turns): no turn is given meanwhile.
        self._holds = 0
        # The appends the current slice may still accept (the intake counts them down, and
        # ends the slice at none), its producer's task, and what it started with.
        self.calls_left = 0
        # When the slice's last append ended (the clock reading of the producer's next call,
        # or of the end of an append the intake counted with spend_call).
        self.last_call_at = -math.inf
        self._owner: object = None
        self._allowance = 0
        self._slice_started = -math.inf
        self._slice_deadline = -math.inf
        # The appends a slice accepts and the time it takes, averaged over the slices.
        self._mean_calls = 0.0
        self._mean_seconds = 0.0
        self._quantum: int | None = None

    def statistics(self) -> TurnStatistics:
        """How many producers wait for a turn (and for room with it), and how many turns were
        given."""
        return TurnStatistics(
            waiting=len(self._plain) + len(self.room_queue),
            waiting_for_room=len(self.room_queue),
            given=self._given,
            quantum=self._quantum,
        )

    def slice_left(self) -> bool:
        """True while the current slice lasts: an append may be accepted without a turn."""
        return self.clock() < self.ends_at

    async def take_turn(self, size: int = 0) -> None:
        """Wait for a turn, behind the producers already waiting, and with ``size`` > 0 until
        that many bytes of room are free, taken for the caller; then start a new slice, with
        the appends the caller's last slice fell short of (if it asks as that slice ends).

        Cancelled meanwhile, it takes nothing (room taken in the meantime is given back). Once
        :meth:`stop` was called, it returns at once with the room taken (the caller, which
        finds the saver closed, gives it back)."""
        if self._stopped:
            if size and self.room is not None:
                self.room.take(size)
            return
        self._asked += 1
        natives = self._natives or self._look_up_natives()
        task = natives.current_task()
        now = self.clock()
        # The caller's slice, cut short for lack of room (neither its time nor its quantum is
        # spent): the rest of it goes first once room is freed, so that a producer's share
        # does not depend on the room left when its turn came.
        resumes = (
            size > 0 and task is self._owner and now < self.ends_at and self._quantum is not None
        )
        owed = self._end_slice(task, now)
        turn = Turn(size, 0 if resumes else self._asked, natives.new_event(), owed, resumes)
        queue = self.room_queue if size else self._plain
        if resumes:
            queue.appendleft(turn)
        else:
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
        self._start_slice(task, turn)

    def spend_call(self) -> None:
        """Count one append accepted in the current slice, and end it at its last."""
        left = self.calls_left - 1
        self.calls_left = left
        self.last_call_at = self.clock()
        if left <= 0:
            self.ends_at = -math.inf

    def _start_slice(self, task: object, turn: Turn) -> None:
        now = self._slice_started = self.clock()
        self._owner = task
        quantum = self._quantum
        if quantum is None:
            self._allowance = self.calls_left = 1 << 62
            deadline = now + self.slice_s
        else:
            allowance = turn.owed if turn.resumes else quantum + turn.owed
            self._allowance = self.calls_left = allowance
            deadline = now + SLICE_TIME_CAP * self.slice_s
        self.ends_at = self._slice_deadline = deadline

    def _end_slice(self, task: object, now: float) -> int:
        """End the current slice if ``task`` is its producer, asking for its next turn: learn
        from the slice the rate of appends, and return the appends it fell short of its
        allowance by (a quantum at most); else 0."""
        if task is not self._owner:
            return 0
        self._owner = None
        calls_left = self.calls_left
        used = self._allowance - calls_left
        # The quantum the slice started with: none (the rate was not learnt yet), none owed.
        quantum = self._quantum
        # Timed to the end of its last append (the turn's own cost is not the rate of
        # appends); not at all if it ran well past its end: it stalled in an append (the
        # loop's thread waited for the GIL, or for a collection).
        if used > 0 and now <= self._slice_deadline + self.slice_s:
            self._learn(used, self.last_call_at - self._slice_started)
        if quantum is None or calls_left <= 0:
            return 0
        return min(_MAX_OWED_QUANTA * quantum, calls_left)

    def _learn(self, calls: int, seconds: float) -> None:
        """Update the quantum with a slice that accepted ``calls`` appends in ``seconds``."""
        mean_calls = self._mean_calls
        if mean_calls:
            mean_calls += _RATE_WEIGHT * (calls - mean_calls)
            self._mean_seconds += _RATE_WEIGHT * (seconds - self._mean_seconds)
        else:
            mean_calls = calls
            self._mean_seconds = seconds
        self._mean_calls = mean_calls
        if self._mean_seconds > 0:
            self._quantum = max(1, math.ceil(mean_calls / self._mean_seconds * self.slice_s))

    def _look_up_natives(self) -> _Natives:
        natives = self._natives = _natives()
        return natives

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
        natives = self._natives or self._look_up_natives()
        try:
            while not self._stopped:
                if self._next_turn() is not None:
                    await natives.checkpoint()
                    if given is not None and not given.resumed:
                        # Its producer runs in this iteration, after this task: next time.
                        continue
                    # The queues or the room may have changed meanwhile.
                    queue = self._next_turn()
                    if queue is not None:
                        given = queue.popleft()
                        self._give(given)
                else:
                    work = self._work = natives.new_event()
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
        natives = self._natives or self._look_up_natives()
        natives.hand_over(turn.event)

    def stop(self) -> None:
        """Give every queued turn and end :meth:`run`: the saver takes no more appends."""
        self._stopped = True
        self.room_freed()


def _natives() -> _Natives:
    """The running backend's own event class, task look-up, checkpoint and hand-over."""
    native = getattr(anyio.lowlevel.current_token(), "native_token", None)
    if type(native).__module__.startswith("trio"):
        import trio
        import trio.lowlevel

        return _Natives(trio.Event, trio.lowlevel.current_task, trio.lowlevel.checkpoint, _set)
    loop = asyncio.get_running_loop()

    def hand_over(event: Event) -> None:
        loop.call_at(loop.time(), event.set)

    async def after_due_timers() -> None:
        future = loop.create_future()
        loop.call_at(loop.time(), _resolve, future)
        await future

    return _Natives(asyncio.Event, asyncio.current_task, after_due_timers, hand_over)


def _set(event: Event) -> None:
    event.set()


def _resolve(future: asyncio.Future[None]) -> None:
    # Cancelled meanwhile (the task giving turns ends): nothing to resolve.
    if not future.done():
        future.set_result(None)
