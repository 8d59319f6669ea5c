"""A late instrument under load: its creations run ahead of the queued rows, which are all
written in order; its calls cost one SWMR pause, counted and timed in ``statistics()``."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import h5py
import numpy as np
import pytest

from aioh5saver import AsyncH5Saver, NodeRef
from aioh5saver.aio.batch_runner import BatchRunner
from aioh5saver.aio.intake import CALL_OVERHEAD_BYTES
from aioh5saver.aio.ops import AppendOp, CallOp, Op
from aioh5saver.aio.tuning import WriterTuning
from aioh5saver.sync.saver import H5SaverLowLevel

pytestmark = pytest.mark.anyio

# A guard against a hang when the behaviour under test breaks: events order the test, this
# only turns a wait that would never end into a failure.
_GUARD_S = 20.0


async def _array(saver: AsyncH5Saver, where: NodeRef | str, name: str) -> NodeRef:
    return await saver.add_array(
        where,
        name,
        "data_enlargeable",
        data_shape=(2,),
        array_type="int64",
        enlargeable=True,
        data_dimension="Data1D",
    )


def _read(path: Path, node: str) -> np.ndarray:
    with h5py.File(path, "r") as file:
        return np.asarray(file[node][()])


class _HeldWriter:
    """Holds the writer thread at the start of each batch ``holds`` chooses, until released
    once for it; records what every batch held (method names of calls, ``rows`` for appends)."""

    def __init__(self, holds: Callable[[list[Op]], bool]) -> None:
        self.holds = holds
        self.held = threading.Semaphore(0)
        self.releases = threading.Semaphore(0)
        self.batches: list[list[str]] = []

    def describe(self, batch: list[Op]) -> list[str]:
        return ["rows" if isinstance(op, AppendOp) else getattr(op, "method", "") for op in batch]

    async def wait_held(self) -> None:
        """Wait until the writer holds a batch."""
        acquired = await anyio.to_thread.run_sync(self.held.acquire, True, _GUARD_S)
        assert acquired

    def release(self) -> None:
        """Let the batch held go on."""
        self.releases.release()


@contextmanager
def _writer_held(
    monkeypatch: pytest.MonkeyPatch, holds: Callable[[list[Op]], bool]
) -> Iterator[_HeldWriter]:
    held = _HeldWriter(holds)
    original = BatchRunner.execute

    def execute(self: BatchRunner, batch: list[Op], flush_deadline: float | None) -> None:
        held.batches.append(held.describe(batch))
        if held.holds(batch):
            held.held.release()
            held.releases.acquire(timeout=_GUARD_S)
        original(self, batch, flush_deadline)

    monkeypatch.setattr(BatchRunner, "execute", execute)
    try:
        yield held
    finally:
        held.holds = lambda batch: False
        held.releases.release(100)


def _has_rows(batch: list[Op]) -> bool:
    return any(isinstance(op, AppendOp) for op in batch)


def _has_call(name: str) -> Callable[[list[Op]], bool]:
    return lambda batch: any(isinstance(op, CallOp) and op.method == name for op in batch)


async def test_creation_queued_behind_appends_is_answered_before_they_are_written(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A detector group and an array created while rows for other arrays are queued run
    ahead of those rows: each is answered while the writer is held before writing them (the
    rows were not written yet), and afterwards every row is in the file, each array in the
    order appended, the new array's rows included."""
    with _writer_held(monkeypatch, _has_rows) as held:
        async with AsyncH5Saver.open(h5_path) as saver:
            first = await _array(saver, saver.raw_group, "first")
            second = await _array(saver, saver.raw_group, "second")
            for row in range(50):
                await saver.append(first, np.array([row, -row]))
                await saver.append(second, np.array([row, row]))
            await held.wait_held()
            # The writer holds the batch of rows 0-49; rows 50-99 queue behind it.
            for row in range(50, 100):
                await saver.append(first, np.array([row, -row]))
                await saver.append(second, np.array([row, row]))
            created: list[NodeRef] = []

            async def late_instrument() -> None:
                created.append(await saver.add_det_group(saver.raw_group, title="late"))

            async with anyio.create_task_group() as group:
                group.start_soon(late_instrument)
                while saver.statistics().ops_queued < 3:
                    await anyio.lowlevel.checkpoint()
                held.release()
                # The batch of rows 50-99 is held now, and the creation answered before it.
                await held.wait_held()
                with anyio.fail_after(_GUARD_S):
                    while not created:
                        await anyio.lowlevel.checkpoint()
                # At most rows 0-49 (the batch held first) are written; rows 50-99 wait.
                assert saver.statistics().rows_appended <= 100
                held.holds = lambda batch: False
                held.release()
            late = await _array(saver, created[0], "late")
            await saver.append(late, np.array([7, 7]))
            await saver.flush()
            created_at = held.batches.index(["add_det_group"])
            assert held.batches[created_at + 1] == ["rows", "rows"]
    assert _read(h5_path, "/RawData/First")[:, 0].tolist() == list(range(100))
    assert _read(h5_path, "/RawData/Second")[:, 0].tolist() == list(range(100))
    assert _read(h5_path, "/RawData/Detector000/Late").tolist() == [[7, 7]]


async def test_reads_and_attribute_writes_stay_barriers_behind_queued_rows(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only creations run ahead: a read queued behind rows sees every one of them, and an
    attribute write queued behind rows runs after them, in the same batch."""
    with _writer_held(monkeypatch, _has_call("get_node")) as held:
        async with AsyncH5Saver.open(h5_path) as saver:
            array = await _array(saver, saver.raw_group, "rows")
            async with anyio.create_task_group() as group:
                group.start_soon(saver.get_node, array)
                await held.wait_held()
                for row in range(20):
                    await saver.append(array, np.array([row, row]))
                group.start_soon(saver.set_attr, array, "note", "after the rows")
                while saver.statistics().ops_queued < 2:
                    await anyio.lowlevel.checkpoint()
                for row in range(20, 30):
                    await saver.append(array, np.array([row, row]))
                read = await _read_in_task(group, saver, array)
                held.release()
            assert read()[:, 0].tolist() == list(range(30))
            assert ["rows", "set_attr", "rows", "read"] in held.batches
    assert _read(h5_path, "/RawData/Rows")[:, 0].tolist() == list(range(30))


async def _read_in_task(
    group: anyio.abc.TaskGroup, saver: AsyncH5Saver, array: NodeRef
) -> Callable[[], np.ndarray]:
    """Start a read of ``array`` in ``group``, queued once this returns; its result once
    the group is done."""
    result: list[np.ndarray] = []

    async def read() -> None:
        result.append(await saver.read(array))

    queued = saver.statistics().ops_queued
    group.start_soon(read)
    while saver.statistics().ops_queued == queued:
        await anyio.lowlevel.checkpoint()
    return lambda: result[0]


async def test_gathered_rows_split_into_operations_of_about_one_batch(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows gathered for one array start a new queued operation once one holds a batch's
    bytes (``batch_bytes``), so that a creation waits for one batch at most; the rows reach
    the file in order all the same."""
    tuning = WriterTuning(batch_bytes=10 * (16 + CALL_OVERHEAD_BYTES))
    with _writer_held(monkeypatch, _has_call("get_node")) as held:
        async with AsyncH5Saver.open(h5_path, tuning=tuning) as saver:
            array = await _array(saver, saver.raw_group, "rows")
            async with anyio.create_task_group() as group:
                group.start_soon(saver.get_node, array)
                await held.wait_held()
                for row in range(30):
                    await saver.append(array, np.array([row, row]))
                assert saver.statistics().ops_queued == 3
                held.release()
            await saver.flush()
    assert _read(h5_path, "/RawData/Rows")[:, 0].tolist() == list(range(30))


async def test_late_instrument_calls_cost_one_swmr_pause_while_one_is_queued(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no resume delay, SWMR still stays off while a structure change is queued: the
    writer, about to resume SWMR at the end of a creation's batch, finds the next creation
    queued meanwhile and leaves SWMR off for it (resuming in between would cost a second
    pause); SWMR resumes after the last one."""
    tuning = WriterTuning(swmr_resume_delay_s=0.0)
    with _writer_held(monkeypatch, _has_call("add_det_group")) as held:
        async with AsyncH5Saver.open(h5_path, swmr=True, tuning=tuning) as saver:
            steady = await _array(saver, saver.raw_group, "steady")
            await saver.append(steady, np.array([0, 0]))
            await saver.flush()
            assert saver.statistics().swmr_active
            async with anyio.create_task_group() as group:
                group.start_soon(saver.add_det_group, saver.raw_group, "late")
                await held.wait_held()
                group.start_soon(_array, saver, saver.raw_group, "late")
                while saver.statistics().ops_queued < 1:
                    await anyio.lowlevel.checkpoint()
                held.release()
            await saver.append(steady, np.array([1, 0]))
            await saver.flush()
            assert saver.statistics().swmr_active
            assert saver.statistics().swmr_pauses == 1
    assert held.batches[-4:-2] == [["add_det_group"], ["add_array"]]
    assert _read(h5_path, "/RawData/Steady")[:, 0].tolist() == [0, 1]


def _far_clock_start() -> float:
    """A reading for a controlled writer clock: past any real deadline, so that the writer
    never wakes early, and a whole number of seconds, so that the sums and differences the
    tests compare exactly are exact (from an arbitrary reading, 95 s came out as
    94.99999999999818)."""
    return float(math.ceil(time.monotonic()) + 10_000)


async def test_statistics_count_swmr_pauses_and_time_them_with_the_pause_going_on(
    h5_path: Path,
) -> None:
    """``swmr_pauses`` counts the pauses for structure changes, ``swmr_paused_seconds`` adds
    up their length (the pause going on included) and ``swmr_longest_pause_seconds`` is the
    longest, on the writer's clock (a controlled one here); the close ends no pause."""
    now = [_far_clock_start()]
    start = now[0]
    tuning = WriterTuning(swmr_resume_delay_s=50.0)
    async with AsyncH5Saver.open(h5_path, swmr=True, tuning=tuning) as saver:
        saver._writer.runner.swmr_switch.clock = lambda: now[0]
        steady = await _array(saver, saver.raw_group, "steady")
        await saver.append(steady, np.array([0, 0]))
        await saver.flush()
        stats = saver.statistics()
        assert (stats.swmr_pauses, stats.swmr_paused_seconds) == (0, 0.0)

        detector = await saver.add_det_group(saver.raw_group, title="late")
        now[0] = start + 3.0
        stats = saver.statistics()
        assert not stats.swmr_active
        assert stats.swmr_pauses == 1
        assert stats.swmr_paused_seconds == stats.swmr_longest_pause_seconds == 3.0

        now[0] = start + 100.0  # past the resume delay: the next append starts SWMR again
        await saver.append(steady, np.array([1, 0]))
        await saver.flush()
        stats = saver.statistics()
        assert stats.swmr_active
        assert (stats.swmr_pauses, stats.swmr_paused_seconds) == (1, 100.0)

        now[0] = start + 200.0
        await _array(saver, detector, "late")
        now[0] = start + 260.0
        await saver.append(steady, np.array([2, 0]))
        await saver.flush()
        stats = saver.statistics()
        assert stats.swmr_active
        assert stats.swmr_pauses == 2
        assert stats.swmr_paused_seconds == 160.0
        assert stats.swmr_longest_pause_seconds == 100.0
    final = saver.statistics()
    assert (final.swmr_pauses, final.swmr_paused_seconds) == (2, 160.0)


async def test_swmr_resume_delay_runs_from_the_answer_of_the_last_change(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The resume delay counts from the end of a structure change, not its start (the
    caller's next change can only come after the answer): a creation that takes 40 s of the
    writer's (controlled) clock, with a 50 s delay, leaves SWMR off 60 s after it began and
    lets it resume 95 s after."""
    now = [_far_clock_start()]
    start = now[0]
    original = H5SaverLowLevel.add_array

    def slow_add_array(saver: H5SaverLowLevel, *args: Any, **kwargs: Any) -> Any:
        now[0] += 40.0
        return original(saver, *args, **kwargs)

    tuning = WriterTuning(swmr_resume_delay_s=50.0)
    async with AsyncH5Saver.open(h5_path, swmr=True, tuning=tuning) as saver:
        saver._writer.runner.swmr_switch.clock = lambda: now[0]
        steady = await _array(saver, saver.raw_group, "steady")
        await saver.append(steady, np.array([0, 0]))
        await saver.flush()
        monkeypatch.setattr(H5SaverLowLevel, "add_array", slow_add_array)
        await _array(saver, saver.raw_group, "late")
        monkeypatch.setattr(H5SaverLowLevel, "add_array", original)
        now[0] = start + 60.0
        await saver.append(steady, np.array([1, 0]))
        await saver.flush()
        assert not saver.statistics().swmr_active
        now[0] = start + 95.0
        await saver.append(steady, np.array([2, 0]))
        await saver.flush()
        stats = saver.statistics()
        assert stats.swmr_active
        assert (stats.swmr_pauses, stats.swmr_paused_seconds) == (1, 95.0)
    assert _read(h5_path, "/RawData/Steady")[:, 0].tolist() == [0, 1, 2]


async def test_producers_get_no_turn_while_a_creation_is_awaited(tmp_path: Path) -> None:
    """While 16 producers push rows as fast as they can, each awaited creation (a late
    instrument's group and arrays) holds their turns from its call to its answer: the writer
    thread does not share the GIL with their slices meanwhile. No turn is given during the
    calls; turns go on after them, and every row is written."""
    rows_each = 2000
    async with AsyncH5Saver.open(tmp_path / "late.h5") as saver:
        arrays = [await _array(saver, saver.raw_group, f"a{index}") for index in range(4)]
        started = anyio.Event()
        finished = [0]

        async def produce(index: int) -> None:
            for row in range(rows_each):
                await saver.append(arrays[index % 4], np.array([index, row]))
                if row == 100:
                    started.set()
            finished[0] += 1

        given_during_calls = []
        async with anyio.create_task_group() as tg:
            for index in range(16):
                tg.start_soon(produce, index)
            with anyio.fail_after(_GUARD_S):
                await started.wait()
            for instrument in range(3):
                before = saver.statistics().turns_given
                det = await saver.add_det_group(saver.raw_group, title=f"late {instrument}")
                await _array(saver, det, "data")
                given_during_calls.append(saver.statistics().turns_given - before)
            # The producers were still pushing when the last call returned.
            assert finished[0] < 16
        assert given_during_calls == [0, 0, 0]
        assert saver.statistics().turns_given > 0
        await saver.flush()
    for index in range(4):
        rows = _read(tmp_path / "late.h5", arrays[index].path)
        assert len(rows) == 4 * rows_each
