"""ProducerTurns: one shared slice of loop time per loop iteration, turns first come, first
served; and through a saver, or through the real intake in front of a writer whose room is
freed on a counted schedule (:mod:`counted_drain`), producers that get equal shares and a loop
iteration whose appends do not grow with their number. Clocks here are counters, not time:
each reading of the clock is one tick, and room is freed after counted loop iterations, so the
results depend neither on the machine's speed nor on a writer thread's pace."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import anyio
import anyio.abc
import anyio.lowlevel
import numpy as np
import pytest
from counted_drain import (
    ROW_COST,
    BatchDrain,
    CountedWriter,
    FullBudgetDrain,
    TickClock,
    push_rows,
)

from aioh5saver import AsyncH5Saver, WriterTuning
from aioh5saver.aio.producer_turns import ProducerTurns

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

#: The slice, in ticks of the counting clocks: about this many appends per turn.
SLICE_TICKS = 10


class LoopIterations:
    """A task that counts the event loop's iterations, and what a counter gained in each."""

    def __init__(self, counter: list[int]) -> None:
        self.counter = counter
        self.gains: list[int] = []
        self.iterations = 0
        self._stop = anyio.Event()

    async def run(self) -> None:
        last = self.counter[0]
        while not self._stop.is_set():
            await anyio.lowlevel.checkpoint()
            self.iterations += 1
            self.gains.append(self.counter[0] - last)
            last = self.counter[0]

    def stop(self) -> None:
        self._stop.set()


async def _until(condition: object) -> None:
    assert callable(condition)
    while not condition():
        await anyio.lowlevel.checkpoint()


async def test_turns_are_given_in_the_order_asked_one_per_loop_iteration() -> None:
    """Five producers that ask for a turn in a known order get it in that order, each in a
    later loop iteration than the one before, and each starts a new slice."""
    clock = TickClock()
    turns = ProducerTurns(SLICE_TICKS, clock)
    iterations = LoopIterations([0])
    woken: list[tuple[int, int]] = []

    async def producer(index: int) -> None:
        await turns.take_turn()
        woken.append((index, iterations.iterations))
        assert turns.ends_at == clock.now + SLICE_TICKS

    async with anyio.create_task_group() as tg:
        for index in range(5):
            tg.start_soon(producer, index)
            await _until(lambda index=index: turns.statistics().waiting == index + 1)
        tg.start_soon(iterations.run)
        tg.start_soon(turns.run)
        await _until(lambda: len(woken) == 5)
        iterations.stop()
        turns.stop()
    assert [index for index, _ in woken] == list(range(5))
    seen = [iteration for _, iteration in woken]
    # The counting task runs once per iteration, before or after a woken producer in it
    # (trio shuffles the order): five turns in five iterations span at least three counts.
    assert all(later >= earlier for earlier, later in itertools.pairwise(seen))
    assert seen[-1] - seen[0] >= 3, seen
    assert turns.statistics().given == 5


async def test_a_cancelled_wait_leaves_the_queue_and_holds_up_nobody() -> None:
    """A producer cancelled while it waits for its turn leaves the queue; the one behind it
    gets its turn all the same."""
    turns = ProducerTurns(SLICE_TICKS, TickClock())
    first = anyio.CancelScope()
    second_done = anyio.Event()

    async def first_producer() -> None:
        with first:
            await turns.take_turn()

    async def second_producer() -> None:
        await turns.take_turn()
        second_done.set()

    async with anyio.create_task_group() as tg:
        # No turns given yet: both wait until run() starts.
        tg.start_soon(first_producer)
        await _until(lambda: turns.statistics().waiting == 1)
        tg.start_soon(second_producer)
        await _until(lambda: turns.statistics().waiting == 2)
        first.cancel()
        await _until(lambda: turns.statistics().waiting == 1)
        tg.start_soon(turns.run)
        await second_done.wait()
        turns.stop()
    assert first.cancelled_caught
    assert turns.statistics().given == 1


async def test_stop_gives_every_waiting_turn_and_later_turns_at_once() -> None:
    """When the saver stops taking appends, every producer still waiting for a turn is woken
    (to find the saver closed), and a turn asked for afterwards is not waited for."""
    turns = ProducerTurns(SLICE_TICKS, TickClock())
    woken = 0

    async def producer() -> None:
        nonlocal woken
        await turns.take_turn()
        woken += 1

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for count in range(1, 4):
                tg.start_soon(producer)
                await _until(lambda count=count: turns.statistics().waiting == count)
            turns.stop()
            await turns.run()
        await turns.take_turn()
    assert woken == 3
    assert turns.statistics().waiting == 0


def _tuning(max_pending_bytes: int) -> dict[str, object]:
    return {
        "tuning": WriterTuning(loop_slice_s=SLICE_TICKS),
        "max_pending_bytes": max_pending_bytes,
        "max_pending_seconds": None,
    }


async def _push(
    saver: AsyncH5Saver, producers: int, total: int, iterations: LoopIterations | None = None
) -> Counter[int]:
    """``producers`` tasks each appending scalar rows as fast as they can to one of 8 arrays,
    until ``total`` rows are accepted in all; the rows each accepted."""
    arrays = [
        await saver.add_array(
            saver.raw_group,
            f"a{index}",
            "data",
            data_shape=(),
            array_type="float64",
            enlargeable=True,
            data_dimension="Data0D",
        )
        for index in range(8)
    ]
    turns = saver._writer.turns
    turns.clock = TickClock()
    accepted: Counter[int] = Counter()
    counter = iterations.counter if iterations is not None else [0]
    row = np.float64(1.5)

    async def producer(index: int) -> None:
        array = arrays[index % 8]
        while counter[0] < total:
            await saver.append(array, row)
            accepted[index] += 1
            counter[0] += 1

    async with anyio.create_task_group() as tg:
        if iterations is not None:
            tg.start_soon(iterations.run)
        for index in range(producers):
            tg.start_soon(producer, index)
        await _until(lambda: counter[0] >= total)
        if iterations is not None:
            iterations.stop()
    return accepted


#: A budget that a few slices of scalar rows fill: 56 rows of 72 bytes.
SMALL_BUDGET = 4 << 10


@pytest.mark.parametrize("room_rows", [SLICE_TICKS // 2, 2 * SLICE_TICKS])
@pytest.mark.parametrize("producers", [64, 512])
async def test_producers_get_equal_shares_when_they_wait_for_room_before_every_turn(
    producers: int, room_rows: int
) -> None:
    """With the budget full whenever room is freed (a writer slower than the producers frees
    the room of half a slice's rows, or of two slices', only once they all wait), each of 64
    or 512 producers pushing scalar rows as fast as they can gets a share within 20% of the
    mean, and each turn takes all the room there is, up to a slice: a producer woken after
    waiting for room gets more than the row it waited for, and no turn takes room from the
    slice of the one before (trio runs an iteration's tasks in either order)."""
    rows_per_turn = min(room_rows, SLICE_TICKS)
    rounds = 4
    total = producers * rounds * rows_per_turn
    writer = CountedWriter(SMALL_BUDGET, SLICE_TICKS)
    drain = FullBudgetDrain(writer, producers, room_rows * ROW_COST)
    pushed = await push_rows(writer, drain, producers, total)
    mean = sum(pushed.accepted) / producers
    shares = sorted(count / mean for count in pushed.accepted)
    assert shares[0] >= 0.8, shares[:10]
    assert shares[-1] <= 1.2, shares[-10:]
    rows_per_given_turn = total / pushed.turns_given
    assert rows_per_given_turn >= 0.8 * rows_per_turn, rows_per_given_turn


@pytest.mark.parametrize("producers", [16, 64])
async def test_producers_pushing_as_fast_as_they_can_get_equal_shares(
    h5_path: Path, producers: int
) -> None:
    """Producers that all push scalar rows as fast as they can each get a share of the
    accepted rows within 20% of the mean: turns go round, first come, first served."""
    total = producers * SLICE_TICKS * 20
    async with AsyncH5Saver.open(h5_path, **_tuning(256 << 20)) as saver:  # type: ignore[arg-type]
        accepted = await _push(saver, producers, total)
    mean = sum(accepted.values()) / producers
    shares = [accepted[index] / mean for index in range(producers)]
    assert min(shares) >= 0.8, shares
    assert max(shares) <= 1.2, shares


@pytest.mark.parametrize("producers", [8, 512])
async def test_the_appends_run_in_one_loop_iteration_do_not_grow_with_the_producers(
    h5_path: Path, producers: int
) -> None:
    """However many producers push rows as fast as they can through a saver (8 or 512), one
    loop iteration accepts about one slice of appends: the producers share the slice instead
    of each running its own."""
    iterations = LoopIterations([0])
    async with AsyncH5Saver.open(h5_path, **_tuning(256 << 20)) as saver:  # type: ignore[arg-type]
        await _push(saver, producers, 40 * SLICE_TICKS * 8, iterations)
    # Between two runs of the counting task, at most two loop iterations' turns ran (trio
    # may run it first in one batch and last in the next), a slice each.
    bound = 2 * SLICE_TICKS + 2
    assert max(iterations.gains) <= bound, max(iterations.gains)


@pytest.mark.parametrize("max_pending_bytes", [64 << 10, SMALL_BUDGET])
@pytest.mark.parametrize("producers", [8, 512])
async def test_room_freed_at_once_goes_out_one_turn_per_loop_iteration(
    producers: int, max_pending_bytes: int
) -> None:
    """When a writer slower than the producers frees the room of three slices' rows at once
    (every 6 loop iterations) and 8 or 512 producers wait for it, one loop iteration still
    accepts about one slice of appends: the waiting producers get the room with their turns,
    one per loop iteration, not all in the iteration that frees it."""
    writer = CountedWriter(max_pending_bytes, SLICE_TICKS)
    every = 6
    drain = BatchDrain(writer, every, batch_bytes=3 * SLICE_TICKS * ROW_COST)
    await push_rows(writer, drain, producers, 40 * SLICE_TICKS * 8)
    # The producers ran out of room between most of the writer's batches, and waited for it.
    batches = drain.iterations // every
    assert drain.full_iterations >= batches / 2, (drain.full_iterations, batches)
    # As above: at most two loop iterations' turns between two runs of the drain.
    bound = 2 * SLICE_TICKS + 2
    assert max(drain.gains) <= bound, max(drain.gains)


async def test_no_turn_is_given_while_turns_are_held() -> None:
    """While turns are held (an awaited creation is in flight) the slice in force ends and no
    turn is given, however many loop iterations pass; once every hold is released, the
    waiting producers get their turns in the order they asked."""
    turns = ProducerTurns(SLICE_TICKS, TickClock())
    woken: list[int] = []

    async def producer(index: int) -> None:
        await turns.take_turn()
        woken.append(index)

    async with anyio.create_task_group() as tg:
        tg.start_soon(turns.run)
        tg.start_soon(producer, 0)
        await _until(lambda: woken == [0])
        assert turns.slice_left()
        turns.hold_turns()
        turns.hold_turns()
        assert not turns.slice_left()
        for index in range(1, 4):
            tg.start_soon(producer, index)
            await _until(lambda index=index: turns.statistics().waiting == index)
        for _ in range(50):
            await anyio.lowlevel.checkpoint()
        assert woken == [0]
        turns.release_turns()
        for _ in range(50):
            await anyio.lowlevel.checkpoint()
        assert woken == [0]
        turns.release_turns()
        await _until(lambda: len(woken) == 4)
        turns.stop()
    assert woken == [0, 1, 2, 3]
