"""Appends gather per array between barriers, and the GIL switch-interval lease."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import h5py
import numpy as np
import pytest

import aioh5saver
import aioh5saver.aio.intake
from aioh5saver import AsyncH5Saver, InvalidArgumentError, NodeRef
from aioh5saver.aio.batch_runner import BatchRunner
from aioh5saver.aio.intake import CALL_OVERHEAD_BYTES
from aioh5saver.aio.segments import SegmentPool
from aioh5saver.aio.tuning import WriterTuning
from aioh5saver.engine.h5py_append import ArrayWriter

pytestmark = pytest.mark.anyio


async def _array(saver: AsyncH5Saver, name: str, dtype: str = "int64") -> NodeRef:
    return await saver.add_array(
        saver.raw_group,
        name,
        "data_enlargeable",
        data_shape=(2,),
        array_type=dtype,
        enlargeable=True,
        data_dimension="Data1D",
    )


async def _frames_array(saver: AsyncH5Saver) -> NodeRef:
    """An array of 1024x1024 uint16 frames (2 MiB rows: copied off the event loop)."""
    return await saver.add_array(
        saver.raw_group,
        "frames",
        "data_enlargeable",
        data_shape=(1024, 1024),
        array_type="uint16",
        enlargeable=True,
        data_dimension="Data2D",
    )


def _read(path: Path, node: str) -> np.ndarray:
    with h5py.File(path, "r") as file:
        return np.asarray(file[node][()])


@contextmanager
def _writer_held(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[threading.Event, threading.Event]]:
    """While the writer thread runs a batch holding ``get_node``, it waits for ``release``."""
    busy, release = threading.Event(), threading.Event()
    original = BatchRunner.execute

    def held(self: BatchRunner, batch: list, flush_deadline: float | None) -> None:
        if any(getattr(op, "method", "") == "get_node" for op in batch):
            busy.set()
            release.wait(10)
        original(self, batch, flush_deadline)

    monkeypatch.setattr(BatchRunner, "execute", held)
    try:
        yield busy, release
    finally:
        release.set()


async def test_appends_to_one_array_between_barriers_gather_in_one_queued_operation(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the writer is busy, 300 appends to one array and 50 to another queue as two
    operations; a barrier starts new ones; the file holds every row, each array in order."""
    with _writer_held(monkeypatch) as (busy, release):
        async with AsyncH5Saver.open(h5_path) as saver:
            first, second = await _array(saver, "first"), await _array(saver, "second")
            async with anyio.create_task_group() as group:
                group.start_soon(saver.get_node, first)
                await anyio.to_thread.run_sync(busy.wait, 10)
                for row in range(300):
                    await saver.append(first, np.array([row, -row]))
                    if row % 6 == 0:
                        await saver.append(second, np.array([row, row]))
                assert saver.statistics().ops_queued == 2
                assert saver.statistics().bytes_pending == 350 * (16 + CALL_OVERHEAD_BYTES)
                group.start_soon(saver.set_attr, saver.raw_group, "note", "barrier")
                while saver.statistics().ops_queued < 3:
                    await anyio.lowlevel.checkpoint()
                await saver.append(first, np.array([[300, -300], [301, -301]]))
                assert saver.statistics().ops_queued == 4
                release.set()
            await saver.flush()
            assert saver.statistics().bytes_pending == 0
    rows = _read(h5_path, "/RawData/First")
    assert rows[:, 0].tolist() == list(range(302))
    assert (rows[:, 1] == -rows[:, 0]).all()
    assert _read(h5_path, "/RawData/Second")[:, 0].tolist() == list(range(0, 300, 6))


async def test_rows_across_many_segments_keep_their_order(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With segments of 1, 2 and then 3 rows, single rows and batches larger than a segment,
    gathered in one operation, reach the file in the order they were appended."""
    tuning = WriterTuning(first_segment_bytes=16, segment_bytes=48)
    expected: list[int] = []
    with _writer_held(monkeypatch) as (busy, release):
        async with AsyncH5Saver.open(h5_path, tuning=tuning) as saver:
            array = await _array(saver, "rows")
            async with anyio.create_task_group() as group:
                group.start_soon(saver.get_node, array)
                await anyio.to_thread.run_sync(busy.wait, 10)
                value = 0
                for size in (1, 1, 7, 1, 2, 3, 10, 1):
                    batch = np.arange(value, value + size)
                    data = np.stack([batch, batch], axis=1)
                    await saver.append(array, data[0] if size == 1 else data)
                    expected += batch.tolist()
                    value += size
                assert saver.statistics().ops_queued == 1
                release.set()
    assert _read(h5_path, "/RawData/Rows")[:, 0].tolist() == expected


async def test_handed_over_rows_keep_their_place_between_copied_rows(h5_path: Path) -> None:
    """Rows handed over with copy=False are written between the copied rows appended before
    and after them."""
    async with AsyncH5Saver.open(h5_path) as saver:
        array = await _array(saver, "mixed")
        await saver.append(array, np.array([0, 0]))
        await saver.append(array, np.array([[1, 1], [2, 2]]), copy=False)
        await saver.append(array, np.array([3, 3]))
        await saver.append(array, np.array([4, 4]), copy=False)
        await saver.append(array, np.array([5, 5]))
    assert _read(h5_path, "/RawData/Mixed")[:, 0].tolist() == [0, 1, 2, 3, 4, 5]


async def test_gathered_rows_of_a_castable_dtype_are_converted_exactly(h5_path: Path) -> None:
    """int32 rows gathered into an int64 array, and float32 rows into a float64 array, are
    written with their exact values."""
    async with AsyncH5Saver.open(h5_path) as saver:
        integers = await _array(saver, "ints")
        floats = await _array(saver, "floats", "float64")
        await saver.append(integers, np.array([2**31 - 1, -(2**31)], dtype=np.int32))
        await saver.append(integers, np.array([[7, 8]], dtype=np.int16))
        await saver.append(floats, np.array([0.1, 2.5], dtype=np.float32))
    assert _read(h5_path, "/RawData/Ints").tolist() == [[2**31 - 1, -(2**31)], [7, 8]]
    assert _read(h5_path, "/RawData/Floats")[0].tolist() == [float(np.float32(0.1)), 2.5]


async def test_a_copied_row_is_the_callers_no_more(h5_path: Path) -> None:
    """With copy=True, changing the caller's buffer after append returns changes nothing in
    the file."""
    async with AsyncH5Saver.open(h5_path) as saver:
        array = await _array(saver, "owned")
        row = np.array([1, 1])
        await saver.append(array, row)
        row[:] = 9
        batch = np.array([[2, 2], [3, 3]])
        await saver.append(array, batch)
        batch[:] = 9
    assert _read(h5_path, "/RawData/Owned")[:, 0].tolist() == [1, 2, 3]


async def test_switch_interval_is_shortened_while_savers_are_open_then_restored(
    tmp_path: Path,
) -> None:
    """The GIL switch interval is 1 ms while any saver is open (two here, in two tasks, the
    first opened closing first) and comes back to what it was when the last one closes."""
    before = sys.getswitchinterval()
    assert before > 0.001
    first_open, second_open, first_closed = anyio.Event(), anyio.Event(), anyio.Event()
    seen: dict[str, float] = {}

    async def first() -> None:
        async with AsyncH5Saver.open(tmp_path / "a.h5"):
            first_open.set()
            await second_open.wait()
        first_closed.set()

    async def second() -> None:
        await first_open.wait()
        async with AsyncH5Saver.open(tmp_path / "b.h5"):
            second_open.set()
            await first_closed.wait()
            seen["one closed, one open"] = sys.getswitchinterval()

    async with anyio.create_task_group() as group:
        group.start_soon(first)
        group.start_soon(second)
    assert seen["one closed, one open"] == pytest.approx(0.001)
    assert sys.getswitchinterval() == before


async def test_switch_interval_none_leaves_the_interpreter_alone(h5_path: Path) -> None:
    """switch_interval=None does not touch the interpreter's setting."""
    before = sys.getswitchinterval()
    async with AsyncH5Saver.open(h5_path, switch_interval=None):
        assert sys.getswitchinterval() == before
    assert sys.getswitchinterval() == before


async def test_switch_interval_set_by_someone_else_meanwhile_is_kept(h5_path: Path) -> None:
    """If the program sets its own switch interval while a saver is open, closing the saver
    keeps the program's value."""
    before = sys.getswitchinterval()
    try:
        async with AsyncH5Saver.open(h5_path):
            sys.setswitchinterval(0.002)
        assert sys.getswitchinterval() == pytest.approx(0.002)
    finally:
        sys.setswitchinterval(before)


@pytest.mark.parametrize("bad", [0, -1.0, "1ms", True, float("nan")])
def test_switch_interval_must_be_none_or_positive_seconds(h5_path: Path, bad: object) -> None:
    """A switch_interval that is not None or a positive number raises InvalidArgumentError
    naming the argument and what was given."""
    with pytest.raises(InvalidArgumentError, match=r"switch_interval: expected None or a positive"):
        AsyncH5Saver.open(h5_path, switch_interval=bad)  # type: ignore[arg-type]


async def test_a_large_row_is_copied_before_append_returns(h5_path: Path) -> None:
    """A 2 MiB frame (copied a piece at a time) is the saver's once append returns: changing
    the caller's buffer afterwards does not change what is written."""
    async with AsyncH5Saver.open(h5_path) as saver:
        frames = await _frames_array(saver)
        frame = np.full((1024, 1024), 7, dtype=np.uint16)
        await saver.append(frames, frame)
        frame[:] = 9
        await saver.append(frames, frame)
        frame[:] = 11
        stack = np.stack([frame, frame + 1]).astype(np.uint8)  # a castable batch
        await saver.append(frames, stack)
        stack[:] = 0
    with h5py.File(h5_path, "r") as file:
        written = file["/RawData/Frames"]
        assert [int(written[index].min()) for index in range(4)] == [7, 9, 11, 12]
        assert [int(written[index].max()) for index in range(4)] == [7, 9, 11, 12]


async def test_cancelled_large_copy_is_not_accepted_and_gives_its_budget_back(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An append cancelled between two pieces of its large copy raises the cancellation,
    queues nothing and holds no budget afterwards."""
    original = aioh5saver.aio.intake._copy_pieces
    copied: list[int] = []
    async with AsyncH5Saver.open(h5_path) as saver:
        frames = await _frames_array(saver)
        with anyio.CancelScope() as scope:

            def cancelled_after_one_piece(segment: np.ndarray, rows: np.ndarray) -> Any:
                for index, pair in enumerate(original(segment, rows)):
                    if index == 1:
                        scope.cancel()
                    copied.append(index)
                    yield pair

            monkeypatch.setattr(aioh5saver.aio.intake, "_copy_pieces", cancelled_after_one_piece)
            await saver.append(frames, np.ones((1024, 1024), dtype=np.uint16))
        assert scope.cancelled_caught
        assert copied == [0, 1]  # 2 of the frame's 8 pieces
        assert saver.statistics().bytes_pending == 0
        assert saver.statistics().ops_queued == 0
        await saver.flush()
    with h5py.File(h5_path, "r") as file:
        assert file["/RawData/Frames"].shape == (0, 1024, 1024)


@pytest.mark.parametrize("slice_spent_per_piece", [True, False])
async def test_a_large_append_yields_between_pieces_of_its_copy_when_the_slice_is_spent(
    h5_path: Path, slice_spent_per_piece: bool
) -> None:
    """Copying an 8 MiB batch of frames does not hold the event loop past the producers' slice:
    with a clock on which every 256 KiB piece spends the slice, a task that counts its turns
    gets one between each piece and the next; with a clock that stands still, the copy runs
    in one go."""
    turns = 0
    stop = anyio.Event()

    async def count_turns() -> None:
        nonlocal turns
        while not stop.is_set():
            await anyio.lowlevel.checkpoint()
            turns += 1

    async with AsyncH5Saver.open(h5_path) as saver:
        frames = await _frames_array(saver)
        batch = np.ones((4, 1024, 1024), dtype=np.uint16)
        slices = saver._writer.turns
        now = 0.0

        def clock() -> float:
            nonlocal now
            if slice_spent_per_piece:
                now += slices.slice_s
            return now

        slices.clock = clock
        slices.ends_at = now + slices.slice_s
        async with anyio.create_task_group() as group:
            group.start_soon(count_turns)
            await anyio.lowlevel.checkpoint()
            before = turns
            await saver.append(frames, batch)
            during = turns - before
            stop.set()
    if slice_spent_per_piece:
        assert during >= 8 * 1024 // 256 - 1
    else:
        assert during == 0
    with h5py.File(h5_path, "r") as file:
        assert file["/RawData/Frames"].shape == (4, 1024, 1024)


def test_segment_pool_reuses_given_segments_within_its_bound() -> None:
    """A segment given back is returned by the next take of the same size; segments beyond the
    bound are not kept."""
    pool = SegmentPool(max_bytes=3 * 80)
    dtype = np.dtype("float64")
    first = pool.take(10, (), dtype)
    pool.give(first)
    assert pool.take(10, (), dtype) is first
    assert pool.take(5, (), dtype) is not first
    kept = [pool.take(10, (), dtype) for _ in range(4)]
    for segment in kept:
        pool.give(segment)
    assert pool.held_bytes == 3 * 80
    assert {id(pool.take(10, (), dtype)) for _ in range(3)} <= {id(s) for s in kept[:3]}


async def test_a_batch_takes_queued_rows_up_to_its_byte_bound(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With batches bounded to 150 bytes of rows, six queued appends of 80 bytes (to six
    arrays) are written in three batches of two, and all of them reach the file."""
    tuning = WriterTuning(batch_bytes=150)
    with _writer_held(monkeypatch) as (busy, release):
        async with AsyncH5Saver.open(h5_path, tuning=tuning) as saver:
            arrays = [await _array(saver, f"a{index}") for index in range(6)]
            async with anyio.create_task_group() as group:
                group.start_soon(saver.get_node, arrays[0])
                await anyio.to_thread.run_sync(busy.wait, 10)
                before = saver.statistics().batches
                for index, array in enumerate(arrays):
                    await saver.append(array, np.array([index, index]))
                assert saver.statistics().ops_queued == 6
                release.set()
            await saver.flush()
            # The held batch, three batches of rows, and the flush's own batch.
            assert saver.statistics().batches - before == 1 + 3 + 1
    for index in range(6):
        assert _read(h5_path, f"/RawData/A{index}").tolist() == [[index, index]]


async def test_nodes_created_one_after_another_under_swmr_cost_one_pause(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under SWMR, a late instrument creating a group and three arrays while another producer
    keeps appending ends SWMR once, not four times; rows appended meanwhile are written; SWMR
    starts again with the first append after the resume delay."""
    pauses: list[float] = []
    original = BatchRunner._pause_swmr

    def counting(self: BatchRunner) -> None:
        pauses.append(1.0)
        original(self)

    monkeypatch.setattr(BatchRunner, "_pause_swmr", counting)
    tuning = WriterTuning(swmr_resume_delay_s=60.0)
    async with AsyncH5Saver.open(h5_path, swmr=True, tuning=tuning) as saver:
        steady = await _array(saver, "steady")
        await saver.append(steady, np.array([0, 0]))
        await saver.flush()
        assert saver.statistics().swmr_active
        group = await saver.add_det_group(saver.raw_group, title="late")
        for index in range(3):
            await saver.append(steady, np.array([index + 1, 0]))
            await saver.flush()
            await saver.add_array(
                group,
                f"late{index}",
                "data_enlargeable",
                data_shape=(2,),
                array_type="int64",
                enlargeable=True,
                data_dimension="Data1D",
            )
        assert len(pauses) == 1
        assert not saver.statistics().swmr_active
        monkeypatch.setattr(saver._writer.runner._swmr, "resume_delay_s", 0.0)
        await saver.append(steady, np.array([4, 0]))
        await saver.flush()
        assert saver.statistics().swmr_active
    assert _read(h5_path, "/RawData/Steady")[:, 0].tolist() == [0, 1, 2, 3, 4]


async def test_swmr_resumes_by_itself_when_no_operation_follows(h5_path: Path) -> None:
    """After a structure change ends SWMR, an idle writer starts SWMR again on its own once
    the resume delay has passed, with no further call."""
    async with AsyncH5Saver.open(h5_path, swmr=True) as saver:
        steady = await _array(saver, "steady")
        await saver.append(steady, np.array([0, 0]))
        await saver.flush()
        await saver.add_det_group(saver.raw_group, title="late")
        assert not saver.statistics().swmr_active
        with anyio.fail_after(10):
            while not saver.statistics().swmr_active:
                await anyio.sleep(0.01)  # polling the writer's state


async def test_shape_attribute_is_current_at_every_barrier_and_flush_and_written_once_per_flush(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer keeps each array's row count itself and writes the ``shape`` attribute
    PyMoDAQ reads only when it is due: a read after appends sees it current, a flush writes it
    once per array appended to however many batches came before, and the closed file holds
    the final shapes."""
    recorded: list[str] = []
    original = ArrayWriter.record_shape

    def record_shape(self: ArrayWriter) -> None:
        recorded.append(self.path)
        original(self)

    monkeypatch.setattr(ArrayWriter, "record_shape", record_shape)
    async with AsyncH5Saver.open(h5_path) as saver:
        first, second = await _array(saver, "first"), await _array(saver, "second")
        await saver.append(first, np.zeros((3, 2), np.int64))
        assert await saver.get_attr(first, "shape") == (3, 2)
        assert recorded == [first.path]

        batches_before = saver.statistics().batches
        for index in range(20):
            await saver.append(first, np.full(2, index, np.int64))
            await saver.append(second, np.full(2, index, np.int64))
            if index % 5 == 4:  # let the writer write these in a batch of their own
                while saver.statistics().ops_queued:
                    await anyio.lowlevel.checkpoint()
        await saver.flush()
        assert saver.statistics().batches >= batches_before + 4
        assert sorted(recorded[1:]) == sorted([first.path, second.path])
        assert await saver.get_attr(second, "shape") == (20, 2)
        await saver.append(second, np.zeros(2, np.int64))
    with h5py.File(h5_path, "r") as file:
        assert aioh5saver.decode_attr(file[first.path].attrs["shape"]) == (23, 2)
        assert aioh5saver.decode_attr(file[second.path].attrs["shape"]) == (21, 2)


async def test_swmr_restarts_find_string_arrays_without_walking_the_file_again(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer walks the file for string arrays once, at the first SWMR start; later
    starts use the string arrays noted as they were created (a walk is slow beside a busy
    loop), and a pause records the shapes of the arrays that grew under SWMR without a walk
    either. A string array created between two SWMR periods still gets its staging array:
    its lines, written under SWMR, are in it after close."""
    walks: list[str] = []
    original = aioh5saver.H5SaverLowLevel.walk_nodes

    def counting(self: aioh5saver.H5SaverLowLevel, *args: object, **kwargs: object) -> object:
        walks.append("walk")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(aioh5saver.H5SaverLowLevel, "walk_nodes", counting)
    tuning = WriterTuning(swmr_resume_delay_s=0.0)
    async with AsyncH5Saver.open(h5_path, swmr=True, tuning=tuning) as saver:
        steady = await _array(saver, "steady")
        await saver.append(steady, np.array([0, 0]))
        await saver.add_log("first period")
        await saver.flush()
        assert saver.statistics().swmr_active
        notes = await saver.add_string_array(saver.raw_group, "notes")
        await saver.append(steady, np.array([1, 0]))
        await saver.flush()
        assert saver.statistics().swmr_active
        await saver.append(notes, "written under SWMR")
        await saver.add_log("second period")
        await saver.flush()
        assert walks == ["walk"]
    reader = aioh5saver.H5SaverLowLevel.from_file(h5_path, new_file=False, mode="r")
    try:
        assert list(reader.get_node(notes.path).read()) == ["written under SWMR"]
        assert list(reader.get_set_logger().read()) == ["first period", "second period"]
        assert reader.get_attr(steady.path, "shape") == (2, 2)
    finally:
        reader.close_file()
