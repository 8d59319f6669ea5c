"""QueueBudget: bounded bytes, waiters served first come first served, cancellation safe."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.lowlevel
import pytest

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
