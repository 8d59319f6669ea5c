"""QueueBudget: bounded bytes, waiters served first come first served, cancellation safe."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.lowlevel
import pytest
from counted_drain import TickClock

from aioh5saver.aio.producer_turns import ProducerTurns
from aioh5saver.aio.queue_budget import QueueBudget

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def _budget(limit: int) -> AsyncIterator[QueueBudget]:
    """A budget of ``limit`` bytes whose granted waiters get their turns from a running
    :class:`ProducerTurns`."""
    turns = ProducerTurns(0.001)
    async with anyio.create_task_group() as tg:
        tg.start_soon(turns.run)
        yield QueueBudget(limit, turns)
        turns.stop()


async def _until_waiting(budget: QueueBudget, count: int) -> None:
    while budget.statistics().waiting < count:
        await anyio.lowlevel.checkpoint()


async def test_waiters_are_served_in_arrival_order_even_when_a_later_one_fits() -> None:
    """A small request that arrives after a large waiting one does not overtake it, even when
    there is room for the small one alone."""
    async with _budget(100) as budget:
        assert budget.try_acquire(80)
        async with anyio.create_task_group() as tg:
            tg.start_soon(budget.acquire, 60)
            await _until_waiting(budget, 1)
            tg.start_soon(budget.acquire, 10)
            await _until_waiting(budget, 2)
            budget.release(30)  # 50 held: room for the small request, not for the large one
            assert budget.statistics().held == 50
            assert budget.statistics().waiting == 2
            assert not budget.try_acquire(1)
            budget.release(50)
        assert budget.statistics().held == 70
        assert budget.statistics().waiting == 0


async def test_an_oversized_request_passes_alone() -> None:
    """A request larger than the whole budget is granted once nothing else is held."""
    async with _budget(10) as budget:
        assert budget.try_acquire(5)
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(budget.acquire, 50)
                await _until_waiting(budget, 1)
                budget.release(5)
        assert budget.statistics().held == 50


async def test_a_cancelled_waiter_takes_nothing_and_unblocks_those_behind() -> None:
    """Cancelling a waiting request leaves the held bytes unchanged and lets the next waiter,
    which fits, proceed."""
    async with _budget(100) as budget:
        assert budget.try_acquire(90)
        first = anyio.CancelScope()
        second_done = anyio.Event()

        async def first_waiter() -> None:
            with first:
                await budget.acquire(50)

        async def second_waiter() -> None:
            await budget.acquire(10)
            second_done.set()

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(first_waiter)
                await _until_waiting(budget, 1)
                tg.start_soon(second_waiter)
                await _until_waiting(budget, 2)
                first.cancel()
                await second_done.wait()
        assert first.cancelled_caught
        assert budget.statistics() == budget.statistics().__class__(
            limit=100, cap=100, held=100, waiting=0
        )


async def test_a_cap_holds_new_requests_below_the_limit_and_raising_it_wakes_waiters() -> None:
    """Capped at 30 of 100 bytes, a request that would pass the cap waits (what is held stays
    held); raising the cap grants it; a cap is never above the limit."""
    async with _budget(100) as budget:
        assert budget.try_acquire(20)
        budget.set_cap(30)
        assert not budget.try_acquire(20)
        granted = anyio.Event()

        async def wants_20() -> None:
            await budget.acquire(20)
            granted.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(wants_20)
            await _until_waiting(budget, 1)
            assert budget.statistics().held == 20
            budget.set_cap(50)
            await granted.wait()
        assert budget.statistics().held == 40
        budget.set_cap(10**9)
        assert budget.statistics().cap == 100


async def test_a_waiter_granted_room_starts_a_slice_of_its_own() -> None:
    """A producer that waited for room gets it with a turn that starts a new slice of loop
    time: it may go on taking room at once, instead of waiting again after one request."""
    clock = TickClock()
    turns = ProducerTurns(10, clock)
    budget = QueueBudget(100, turns)
    assert budget.try_acquire(100)
    started: list[float] = []

    async def waiter() -> None:
        await budget.acquire(30)
        started.append(turns.ends_at - clock.now)
        assert turns.slice_left()
        assert budget.try_acquire(30)

    async with anyio.create_task_group() as tg:
        tg.start_soon(turns.run)
        tg.start_soon(waiter)
        await _until_waiting(budget, 1)
        assert not turns.slice_left()
        budget.release(100)
        while not started:
            await anyio.lowlevel.checkpoint()
        turns.stop()
    assert 0 < started[0] <= 10
    assert budget.statistics().held == 60


async def test_room_freed_for_many_waiters_goes_out_one_turn_per_loop_iteration() -> None:
    """Room freed at once for four waiters is given with their turns, in their order of
    arrival, one per loop iteration: the iteration that frees much room does not wake them
    all."""
    turns = ProducerTurns(0.001)
    budget = QueueBudget(100, turns)
    assert budget.try_acquire(100)
    iterations = 0
    woken: list[tuple[int, int]] = []

    async def waiter(index: int) -> None:
        await budget.acquire(10)
        woken.append((index, iterations))

    async def count_iterations() -> None:
        nonlocal iterations
        while len(woken) < 4:
            await anyio.lowlevel.checkpoint()
            iterations += 1

    async with anyio.create_task_group() as tg:
        tg.start_soon(turns.run)
        for index in range(4):
            tg.start_soon(waiter, index)
            await _until_waiting(budget, index + 1)
        tg.start_soon(count_iterations)
        budget.release(100)
        while len(woken) < 4:
            await anyio.lowlevel.checkpoint()
        turns.stop()
    assert [index for index, _ in woken] == [0, 1, 2, 3]
    seen = [iteration for _, iteration in woken]
    # The counting task runs once per iteration, before or after a woken waiter in it (trio
    # shuffles the order): four turns in four iterations span at least two counts.
    assert seen[-1] - seen[0] >= 2, seen
    assert budget.statistics().held == 40


async def test_a_waiter_cancelled_as_its_room_is_granted_keeps_it_only_if_it_returns() -> None:
    """A waiter cancelled in the very step its room is taken for it either returns with the
    room (the wait had already ended) or raises with the room given back: never both, never
    room held for a cancelled request."""
    turns = ProducerTurns(0.001)
    budget = QueueBudget(100, turns)
    assert budget.try_acquire(100)
    scope = anyio.CancelScope()
    returned: list[bool] = []
    take = budget.take

    def take_then_cancel(size: int) -> None:
        take(size)
        scope.cancel()

    budget.take = take_then_cancel  # type: ignore[method-assign]

    async def waiter() -> None:
        with scope:
            await budget.acquire(30)
            returned.append(True)
            await anyio.lowlevel.checkpoint()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(turns.run)
            tg.start_soon(waiter)
            await _until_waiting(budget, 1)
            budget.release(100)
            while not scope.cancelled_caught:
                await anyio.lowlevel.checkpoint()
            turns.stop()
    assert budget.statistics().held == (30 if returned else 0)
    assert budget.statistics().waiting == 0
