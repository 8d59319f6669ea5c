"""Nothing accepted is lost (issue 13, items 1, 2 and 5), on asyncio and trio.

- ``save_file`` is a barrier: the copy holds every row accepted before the call, rows accepted
  after it wait for the file to be reopened, and no accepted row is dropped.
- A NodeRef belongs to the saver that made it: one from another saver is refused at the call,
  naming both files; a path string still works. A bad operation fails alone in the writer:
  rows of other producers gathered beside it land, and its budget is given back.
- A graceful close lets every call already made finish (appends waiting for budget, a large
  frame being copied); calls made after it began raise SaverClosedError; a cancelled waiter's
  rows are not written.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import anyio.to_thread
import h5py
import numpy as np
import pytest

import aioh5saver
import aioh5saver.aio.segments
from aioh5saver import AsyncH5Saver, H5SaverLowLevel, NodeRef
from aioh5saver.aio.batch_runner import BatchRunner
from aioh5saver.aio.intake import CALL_OVERHEAD_BYTES
from aioh5saver.aio.producer_turns import ProducerTurns
from aioh5saver.aio.thread_arrays import OpenArrays

pytestmark = pytest.mark.anyio


async def _array(
    saver: AsyncH5Saver, name: str, dtype: Any = np.int64, row_shape: tuple[int, ...] = (2,)
) -> NodeRef:
    return await saver.add_array(
        saver.raw_group,
        name,
        "data_enlargeable",
        data_shape=row_shape,
        array_type=dtype,
        enlargeable=True,
        data_dimension="Data1D",
    )


def _rows_of(file: h5py.File, path: str) -> np.ndarray:
    return np.asarray(file[path][()])


def _assert_in_order(rows: np.ndarray, producer: int, at_least: int, exactly: bool) -> None:
    """``rows`` are producer ``producer``'s rows ``[producer, 0]``, ``[producer, 1]``... in
    order, at least ``at_least`` of them (exactly that many if ``exactly``)."""
    mine = rows[rows[:, 0] == producer]
    if exactly:
        assert mine.shape[0] == at_least, (producer, mine.shape[0], at_least)
    else:
        assert mine.shape[0] >= at_least, (producer, mine.shape[0], at_least)
    np.testing.assert_array_equal(mine[:, 1], np.arange(mine.shape[0]))


class HeldWriter:
    """Holds the writer thread in its next batch that holds a flush: :meth:`flush_and_hold`
    returns once the writer is held, and ``release`` lets it go on (set by the test once it
    has queued what it wants in the batches behind that one)."""

    def __init__(self) -> None:
        self.busy = threading.Event()
        self.release = threading.Event()

    async def flush_and_hold(self, saver: AsyncH5Saver, group: anyio.abc.TaskGroup) -> None:
        """Start a flush in ``group`` and wait until the writer is held in its batch."""
        group.start_soon(saver.flush)
        assert await anyio.to_thread.run_sync(self.busy.wait, 10)


@contextmanager
def _writer_held_on_flush(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldWriter]:
    """A :class:`HeldWriter` for the duration of the block (released at its end)."""
    held_writer = HeldWriter()
    original = BatchRunner.execute

    def held(self: BatchRunner, batch: list[Any], flush_deadline: float | None) -> None:
        if not held_writer.busy.is_set() and any(type(op).__name__ == "FlushOp" for op in batch):
            held_writer.busy.set()
            held_writer.release.wait(20)
        original(self, batch, flush_deadline)

    monkeypatch.setattr(BatchRunner, "execute", held)
    try:
        yield held_writer
    finally:
        held_writer.release.set()


# -- item 1: save_file while producers append -------------------------------------------------

PRODUCERS = 8
ROWS_EACH = 1500
COPIES = 4


@pytest.mark.timeout(90)
@pytest.mark.parametrize("swmr", [False, True], ids=["plain", "swmr"])
async def test_save_file_while_producers_append_keeps_every_accepted_row(
    tmp_path: Path, swmr: bool
) -> None:
    """Eight producers append to their own array, to one shared array and to the Logger while
    save_file is called four times: the file holds every accepted row and line, each
    producer's in its order; each copy opens with h5py and holds at least every row and line
    accepted before its save_file call, in order; nothing raises (no WriterBrokenError)."""
    path = tmp_path / "run.h5"
    accepted = [0] * PRODUCERS
    logged = [0] * PRODUCERS
    copies: list[tuple[Path, list[int], list[int]]] = []
    thresholds = [(k + 1) * PRODUCERS * ROWS_EACH // (COPIES + 1) for k in range(COPIES)]
    reached = [anyio.Event() for _ in thresholds]

    with anyio.fail_after(80):
        async with AsyncH5Saver.open(path, swmr=swmr) as saver:
            own = [await _array(saver, f"p{producer}") for producer in range(PRODUCERS)]
            shared = await _array(saver, "shared")

            async def produce(producer: int) -> None:
                for index in range(ROWS_EACH):
                    row = np.array([producer, index], dtype=np.int64)
                    await saver.append(own[producer], row)
                    await saver.append(shared, row)
                    accepted[producer] = index + 1
                    if index % 100 == 0:
                        await saver.add_log(f"{producer} {index // 100}")
                        logged[producer] = index // 100 + 1
                    total = sum(accepted)
                    for threshold, event in zip(thresholds, reached, strict=True):
                        if total >= threshold:
                            event.set()

            async def save_copies() -> None:
                for number, event in enumerate(reached):
                    await event.wait()
                    target = tmp_path / f"copy{number}.h5"
                    before, lines_before = list(accepted), list(logged)
                    await saver.save_file(target)
                    copies.append((target, before, lines_before))

            async with anyio.create_task_group() as group:
                for producer in range(PRODUCERS):
                    group.start_soon(produce, producer)
                group.start_soon(save_copies)

    assert len(copies) == COPIES
    with h5py.File(path, "r") as file:
        for producer in range(PRODUCERS):
            _assert_in_order(_rows_of(file, own[producer].path), producer, ROWS_EACH, True)
            _assert_in_order(_rows_of(file, shared.path), producer, ROWS_EACH, True)
    _assert_logs(path, [ROWS_EACH // 100] * PRODUCERS, exactly=True)
    for target, before, lines_before in copies:
        with h5py.File(target, "r") as file:
            for producer in range(PRODUCERS):
                own_rows = _rows_of(file, own[producer].path)
                _assert_in_order(own_rows, producer, before[producer], False)
                _assert_in_order(_rows_of(file, shared.path), producer, before[producer], False)
        _assert_logs(target, lines_before, exactly=False)


def _assert_logs(path: Path, at_least: list[int], exactly: bool) -> None:
    """The Logger of ``path`` holds each producer's lines in order, ``at_least`` of them."""
    sync = H5SaverLowLevel.from_file(path, mode="r")
    try:
        lines = [line.split() for line in sync.get_set_logger().read()]
    finally:
        sync.close_file()
    for producer, count in enumerate(at_least):
        mine = [int(index) for who, index in lines if int(who) == producer]
        assert mine == list(range(len(mine)))
        assert len(mine) == count if exactly else len(mine) >= count, (producer, mine, count)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("swmr", [False, True], ids=["plain", "swmr"])
async def test_save_file_queued_between_appends_is_a_barrier_in_one_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, swmr: bool
) -> None:
    """Appends, a save_file, more appends, a second save_file and more appends, all queued
    while the writer is busy (so that they would run as one batch): each copy holds exactly
    the rows queued before its save_file, the file holds them all, and no append fails."""
    path = tmp_path / "run.h5"
    with anyio.fail_after(50), _writer_held_on_flush(monkeypatch) as held:
        async with AsyncH5Saver.open(path, swmr=swmr) as saver:
            array = await _array(saver, "e")
            strings = await saver.add_string_array(saver.raw_group, "s")
            async with anyio.create_task_group() as group:
                await held.flush_and_hold(saver, group)
                for index in range(100):
                    await saver.append(array, np.array([index, -index]))
                    await saver.append(strings, f"line {index}")
                group.start_soon(saver.save_file, tmp_path / "first.h5")
                while saver.statistics().ops_queued < 3:
                    await anyio.lowlevel.checkpoint()
                for index in range(100, 250):
                    await saver.append(array, np.array([index, -index]))
                    await saver.append(strings, f"line {index}")
                group.start_soon(saver.save_file, tmp_path / "second.h5")
                while saver.statistics().ops_queued < 6:
                    await anyio.lowlevel.checkpoint()
                for index in range(250, 300):
                    await saver.append(array, np.array([index, -index]))
                assert saver.statistics().ops_queued == 7
                held.release.set()
            await saver.flush()  # raises what an append met in the writer, if anything
    for target, rows in ((tmp_path / "first.h5", 100), (tmp_path / "second.h5", 250), (path, 300)):
        with h5py.File(target, "r") as file:
            assert _rows_of(file, array.path)[:, 0].tolist() == list(range(rows)), target
        sync = H5SaverLowLevel.from_file(target, mode="r")
        try:
            expected = [f"line {index}" for index in range(min(rows, 250))]
            assert sync.read_strings(strings.path) == expected, target
        finally:
            sync.close_file()


@pytest.mark.timeout(30)
async def test_a_file_closed_underneath_the_writer_breaks_it_instead_of_blaming_the_append(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the writer finds its own file closed while writing appends (a ClosedFileError from
    inside the writer), that is the writer's failure: the next flush and every later call
    raise WriterBrokenError chained to it, not a ClosedFileError as if the caller were wrong."""
    original = OpenArrays.node
    gone = aioh5saver.ClosedFileError("expected an open file, got none (injected)")

    def closed_file(self: OpenArrays, path: str) -> Any:
        if path.endswith("/E"):
            raise gone
        return original(self, path)

    with anyio.fail_after(20), pytest.raises(aioh5saver.WriterBrokenError):  # at close too
        async with AsyncH5Saver.open(h5_path) as saver:
            array = await _array(saver, "e")
            monkeypatch.setattr(OpenArrays, "node", closed_file)
            await saver.append(array, np.array([1, 2]))
            with pytest.raises(aioh5saver.WriterBrokenError) as caught:
                await saver.flush()
            assert caught.value.__cause__ is gone
            with pytest.raises(aioh5saver.WriterBrokenError):
                await saver.append(array, np.array([3, 4]))


# -- item 2: a NodeRef of another saver ---------------------------------------------------------


@dataclass(frozen=True)
class StaleRef:
    """A NodeRef of ``/RawData/E`` made by another saver, and what ``/RawData/E`` is in the file
    the test appends to (None: the same array)."""

    id: str
    other_open: bool  # the other saver still open (else closed)
    same_file: bool  # the other saver wrote the same file, closed before this one opened it
    here: str  # what /RawData/E is here: "same", "dtype", "shape", "carray", "strings", "group"


STALE_REFS = [
    StaleRef("closed saver, same file, same array", False, True, "same"),
    StaleRef("closed saver, same file, array recreated with another dtype", False, True, "dtype"),
    StaleRef("closed saver, same file, array recreated as a group", False, True, "group"),
    StaleRef("closed saver, another file, another dtype", False, False, "dtype"),
    StaleRef("closed saver, another file, another row shape", False, False, "shape"),
    StaleRef("closed saver, another file, a fixed array", False, False, "carray"),
    StaleRef("closed saver, another file, a string array", False, False, "strings"),
    StaleRef("open saver, another file, same array", True, False, "same"),
    StaleRef("open saver, another file, another dtype", True, False, "dtype"),
]

_OTHER_DTYPE = np.dtype(np.int32)  # the other saver's array: rows of 2 int32
_HERE_DTYPE = np.dtype(np.float32)


async def _make_here(saver: AsyncH5Saver, here: str) -> NodeRef:
    """``/RawData/E`` in this saver's file as the case says."""
    if here == "same":
        return await _array(saver, "e", _OTHER_DTYPE)
    if here == "dtype":
        return await _array(saver, "e", _HERE_DTYPE)
    if here == "shape":
        return await _array(saver, "e", _OTHER_DTYPE, (3,))
    if here == "carray":
        return await saver.add_array(
            saver.raw_group,
            "e",
            "data",
            array_to_save=np.zeros((4, 2), np.int32),
            data_dimension="Data1D",
        )
    if here == "strings":
        return await saver.add_string_array(saver.raw_group, "e")
    assert here == "group"
    return await saver.get_set_group(saver.raw_group, "e")


def _recreate(path: Path, here: str) -> None:
    """Replace ``/RawData/E`` of a closed file as the case says (the node deleted first)."""
    with h5py.File(path, "r+") as file:
        del file["RawData/E"]
        if here == "group":
            file["RawData"].create_group("E")
        else:
            dtype = _HERE_DTYPE if here == "dtype" else _OTHER_DTYPE
            file["RawData"].create_dataset("E", (0, 2), dtype, maxshape=(None, 2), chunks=(8, 2))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mixed", [False, True], ids=["alone", "mixed"])
@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in STALE_REFS])
async def test_a_noderef_of_another_saver_is_refused_and_harms_no_other_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: StaleRef, mixed: bool
) -> None:
    """An append through a NodeRef of ``/RawData/E`` made by another saver (closed or open, of
    this file or another, whatever ``/RawData/E`` now is here) raises a SaverError at the call
    naming both files, alone or among good appends queued in the same batch; the good rows
    (through this saver's refs and through the path string) all land with their exact values,
    in order; flush() raises nothing; bytes_pending is back to 0."""
    here_path = tmp_path / "here.h5"
    other_path = here_path if case.same_file else tmp_path / "other.h5"
    good_rows = np.arange(200 * 2, dtype=np.float64).reshape(200, 2) + 0.5
    with anyio.fail_after(50):
        async with AsyncH5Saver.open(other_path) as other:
            stale = await _array(other, "e", _OTHER_DTYPE)
            await other.append(stale, np.array([1, 2], np.int32))
            if case.other_open:
                await _check_stale(tmp_path, monkeypatch, case, stale, other_path, good_rows, mixed)
        if not case.other_open:
            if case.same_file and case.here != "same":
                _recreate(here_path, case.here)
            await _check_stale(tmp_path, monkeypatch, case, stale, other_path, good_rows, mixed)


async def _check_stale(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: StaleRef,
    stale: NodeRef,
    other_path: Path,
    good_rows: np.ndarray,
    mixed: bool,
) -> None:
    here_path = tmp_path / "here.h5"
    refused: list[BaseException] = []
    async with AsyncH5Saver.open(here_path, new_file=not case.same_file) as saver:
        here = await _here(saver, case)
        good = await _array(saver, "good", np.float32)
        here_rows = _rows_for(here, good_rows)
        count_before = (await saver.read(here)).shape[0] if here_rows is not None else 0

        async def stale_append(data: Any) -> None:
            with pytest.raises(aioh5saver.SaverError) as caught:
                await saver.append(stale, data)
            refused.append(caught.value)

        async def good_append(index: int) -> None:
            await saver.append(good if index % 2 else good.path, good_rows[index])
            if here_rows is not None:
                await saver.append(here if index % 2 else here.path, here_rows[index])

        stale_data = [
            np.array([7, 8], np.int32),
            np.array([[7, 8], [9, 10]], np.int32),
            np.array([7, 8, 9], np.int32),
        ]
        if mixed:
            await good_append(0)  # looks the path strings up, before the writer is held
            with _writer_held_on_flush(monkeypatch) as held:
                async with anyio.create_task_group() as group:
                    await held.flush_and_hold(saver, group)
                    for index in range(1, good_rows.shape[0]):
                        await good_append(index)
                        if index % 50 == 0:
                            await stale_append(stale_data[(index // 50) % len(stale_data)])
                    held.release.set()
        else:
            for data in stale_data:
                await stale_append(data)
            for index in range(good_rows.shape[0]):
                await good_append(index)
        await saver.flush()
        assert saver.statistics().bytes_pending == 0
        np.testing.assert_array_equal(await saver.read(good), good_rows.astype(np.float32))
        if here_rows is not None:
            written = await saver.read(here)
            assert written.shape[0] == count_before + here_rows.shape[0]
            np.testing.assert_array_equal(written[count_before:], here_rows)
    assert len(refused) == (3 if mixed else len(stale_data))
    for error in refused:
        message = str(error)
        assert isinstance(error, aioh5saver.InvalidArgumentError), repr(error)
        assert isinstance(error, ValueError)
        for words in ("expected", str(here_path), str(other_path), "/RawData/E"):
            assert words in message, (words, message)


async def _here(saver: AsyncH5Saver, case: StaleRef) -> NodeRef:
    if case.same_file:
        return await saver.get_node("/RawData/E")
    return await _make_here(saver, case.here)


def _rows_for(here: NodeRef, good_rows: np.ndarray) -> np.ndarray | None:
    """Good rows for ``here`` if it is an enlargeable array: ``good_rows`` in its dtype and
    row shape (exact values: small integers plus a half for floats)."""
    if here.kind != "EARRAY":
        return None
    assert here.row_shape is not None
    assert here.dtype is not None
    width = here.row_shape[0]
    rows = np.arange(good_rows.shape[0] * width).reshape(-1, width)
    return (rows + (0.5 if here.dtype.kind == "f" else 0)).astype(here.dtype)


@dataclass(frozen=True)
class Foreign:
    """Data queued straight into the writer for ``/RawData/E`` (float32 rows of 2) as if
    checked against another array: how, and the error the next flush() raises."""

    id: str
    queue: Any  # (writer, path) -> cost queued
    error: type[Exception]
    words: tuple[str, ...]


def _queue(method: str, data: Any, dtype: Any = None) -> Any:
    def queue(writer: Any, path: str) -> int:
        size = data.nbytes if isinstance(data, np.ndarray) else len(data)
        cost = size + CALL_OVERHEAD_BYTES
        assert writer.budget.try_acquire(cost)
        if method == "text":
            writer.accept_text(path, data, cost)
        elif method == "handed_over":
            writer.accept_handed_over(path, data, cost)
        else:
            getattr(writer, f"accept_{method}")(path, data, np.dtype(dtype), cost)
        return cost

    return queue


FOREIGN = [
    Foreign(
        "an int32 row",
        _queue("row", np.array([7, 8], np.int32), np.int32),
        aioh5saver.UncastableDTypeError,
        ("float32", "int32"),
    ),
    Foreign(
        "int32 rows",
        _queue("rows", np.array([[7, 8], [9, 10]], np.int32), np.int32),
        aioh5saver.UncastableDTypeError,
        ("float32", "int32"),
    ),
    Foreign(
        "a float32 row of another shape",
        _queue("row", np.array([7, 8, 9], np.float32), np.float32),
        aioh5saver.ShapeMismatchError,
        ("(2,)", "(3,)"),
    ),
    Foreign(
        "handed-over float64 rows",
        _queue("handed_over", np.array([[7.0, 8.0]])),
        aioh5saver.UncastableDTypeError,
        ("float32", "float64"),
    ),
    Foreign("a string", _queue("text", "seven"), aioh5saver.UncastableDTypeError, ("str",)),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in FOREIGN])
async def test_rows_checked_against_another_array_fail_alone_in_the_writer(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch, case: Foreign
) -> None:
    """Data for ``/RawData/E`` that does not fit it (as if checked against another array),
    queued straight into the writer among good rows of several producers, all in one batch:
    it never joins the good rows' operation, it alone fails (the next flush() raises its
    SaverError, once), every good row lands with its exact value, and bytes_pending is back
    to 0; appends to the other arrays of the batch land too."""
    good_rows = np.arange(300 * 2, dtype=np.float32).reshape(300, 2) + 0.5
    with anyio.fail_after(50), _writer_held_on_flush(monkeypatch) as held:
        async with AsyncH5Saver.open(h5_path) as saver:
            array = await _array(saver, "e", np.float32)
            other = await _array(saver, "other", np.float32)
            async with anyio.create_task_group() as group:
                await held.flush_and_hold(saver, group)
                for index, row in enumerate(good_rows):
                    await saver.append(array, row)
                    await saver.append(other, row)
                    if index % 100 == 50:
                        case.queue(saver._writer, array.path)
                held.release.set()
            with pytest.raises(case.error) as caught:
                await saver.flush()
            assert isinstance(caught.value, aioh5saver.SaverError)
            for word in ("/RawData/E", "expected", *case.words):
                assert word in str(caught.value), (word, str(caught.value))
            await saver.flush()  # raised once
            assert saver.statistics().bytes_pending == 0
            np.testing.assert_array_equal(await saver.read(array), good_rows)
            np.testing.assert_array_equal(await saver.read(other), good_rows)


async def test_an_append_whose_acceptance_fails_gives_its_budget_back(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An append that fails while its rows are being queued (here: no memory for a new
    segment) raises that error, holds no budget afterwards, and the saver goes on."""
    async with AsyncH5Saver.open(h5_path) as saver:
        array = await _array(saver, "e")
        await saver.append(array, np.array([1, 2]))
        original = aioh5saver.aio.segments.SegmentPool.take

        def no_memory(self: Any, rows: int, row_shape: Any, dtype: Any) -> np.ndarray:
            raise MemoryError("no memory for a segment (injected)")

        monkeypatch.setattr(aioh5saver.aio.segments.SegmentPool, "take", no_memory)
        await saver.flush()  # the next row starts a new segment
        for data in (np.array([3, 4]), np.array([[3, 4], [5, 6]])):
            with pytest.raises(MemoryError, match="injected"):
                await saver.append(array, data)
            assert saver.statistics().bytes_pending == 0
        monkeypatch.setattr(aioh5saver.aio.segments.SegmentPool, "take", original)
        await saver.append(array, np.array([7, 8]))
        await saver.flush()
        assert saver.statistics().bytes_pending == 0
        np.testing.assert_array_equal(await saver.read(array), [[1, 2], [7, 8]])


# -- item 5: close while producers wait --------------------------------------------------------

WAITERS = 200


@pytest.mark.timeout(60)
@pytest.mark.parametrize("swmr", [False, True], ids=["plain", "swmr"])
async def test_close_lets_every_append_waiting_for_budget_finish(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch, swmr: bool
) -> None:
    """Producers in a task group around the saver, a budget of 4 KiB full, 200 appends waiting
    for room (and one waiting for the look-up of its path string) when the saver's ``async
    with`` is left: the close lets them all finish (their rows are in the file); a call made
    after the close began raises SaverClosedError; a waiter cancelled meanwhile drops its
    rows only; nothing hangs."""
    waiting_rows = {producer: [1000 + producer, producer] for producer in range(WAITERS)}
    outcome: dict[int, BaseException | None] = {}
    late: dict[str, BaseException] = {}
    cancelled_waiter = anyio.CancelScope()
    with anyio.fail_after(50), _writer_held_on_flush(monkeypatch) as held:
        async with (
            anyio.create_task_group() as producers,
            AsyncH5Saver.open(
                h5_path, swmr=swmr, max_pending_bytes=4096, max_pending_seconds=None
            ) as saver,
        ):
            array = await _array(saver, "e")
            late_array = await _array(saver, "late")
            await held.flush_and_hold(saver, producers)
            first = 0
            while saver.statistics().bytes_pending + 16 + CALL_OVERHEAD_BYTES <= 4096:
                await saver.append(array, np.array([first, -first]))
                first += 1

            async def wait_and_append(producer: int) -> None:
                try:
                    row = np.array(waiting_rows[producer])
                    # Even producers append a batch of one row: the path that checks batches.
                    await saver.append(array, row if producer % 2 else row[np.newaxis])
                except BaseException as exc:
                    outcome[producer] = exc
                    raise
                outcome[producer] = None

            async def look_up_and_append() -> None:
                # The path string was never looked up: the look-up, queued behind the held
                # batch, is answered before the close.
                await saver.append(late_array.path, np.array([7, 7]))
                outcome[WAITERS] = None

            async def cancellable_waiter() -> None:
                with cancelled_waiter:
                    await saver.append(array, np.array([-1, -1]))
                    outcome[-1] = None  # not reached: cancelled while it waits

            for producer in range(WAITERS):
                producers.start_soon(wait_and_append, producer)
            producers.start_soon(cancellable_waiter)
            producers.start_soon(look_up_and_append)

            async def once_close_began() -> None:
                while saver.isopen():
                    await anyio.lowlevel.checkpoint()
                for name, call in {
                    "append": lambda: saver.append(array, np.array([5, 5])),
                    "add_log": lambda: saver.add_log("late"),
                    "flush": saver.flush,
                    "add_det_group": lambda: saver.add_det_group(saver.raw_group),
                    "save_file": lambda: saver.save_file(h5_path.with_name("late.h5")),
                }.items():
                    with pytest.raises(aioh5saver.SaverClosedError) as caught:
                        await call()
                    late[name] = caught.value
                cancelled_waiter.cancel()
                while not cancelled_waiter.cancelled_caught:
                    await anyio.lowlevel.checkpoint()
                held.release.set()

            while (
                saver.statistics().producers_waiting < WAITERS + 1
                or saver.statistics().ops_queued < 2
            ):
                await anyio.lowlevel.checkpoint()
            producers.start_soon(once_close_began)
    assert set(late) == {"append", "add_log", "flush", "add_det_group", "save_file"}
    assert all("closed" in str(exc) for exc in late.values())
    assert cancelled_waiter.cancelled_caught
    assert -1 not in outcome
    assert outcome == {producer: None for producer in range(WAITERS + 1)}
    with h5py.File(h5_path, "r") as file:
        rows = _rows_of(file, array.path)
        assert file[array.path].attrs["shape"] is not None
    assert rows[:first, 0].tolist() == list(range(first))
    waited = rows[first:].tolist()
    assert sorted(waited) == sorted(waiting_rows.values())
    assert [-1, -1] not in rows.tolist()
    with h5py.File(h5_path, "r") as file:
        assert _rows_of(file, late_array.path).tolist() == [[7, 7]]


@pytest.mark.timeout(60)
async def test_close_lets_a_large_frame_being_copied_finish(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 64 MiB frame is being copied a piece at a time when the saver closes: the append
    completes and the frame is in the file, whole; a call after the close began raises
    SaverClosedError."""
    copying = anyio.Event()
    original = aioh5saver.aio.intake._copy_pieces

    def signalling(segment: np.ndarray, rows: np.ndarray) -> Iterator[tuple[Any, Any]]:
        for index, pair in enumerate(original(segment, rows)):
            if index == 1:
                copying.set()
            yield pair

    monkeypatch.setattr(aioh5saver.aio.intake, "_copy_pieces", signalling)
    frame = np.arange(4096 * 4096, dtype=np.uint32).reshape(4096, 4096)
    appended: list[bool] = []
    with anyio.fail_after(50):
        async with anyio.create_task_group() as producers:
            async with AsyncH5Saver.open(h5_path) as saver:
                frames = await saver.add_array(
                    saver.raw_group,
                    "frames",
                    "data_enlargeable",
                    data_shape=(4096, 4096),
                    array_type=np.uint32,
                    enlargeable=True,
                    data_dimension="Data2D",
                )

                async def produce() -> None:
                    await saver.append(frames, frame)
                    appended.append(True)

                producers.start_soon(produce)
                await copying.wait()
                assert not appended
            with pytest.raises(aioh5saver.SaverClosedError):
                await saver.append(frames, frame)
    assert appended == [True]
    with h5py.File(h5_path, "r") as file:
        written = file["/RawData/Frames"]
        assert written.shape == (1, 4096, 4096)
        np.testing.assert_array_equal(written[0], frame)


@pytest.mark.timeout(60)
async def test_close_waits_for_an_append_that_pauses_then_waits_for_room(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An append waiting for its turn on the event loop when the close begins, that then finds
    the budget full and waits for room: the close still waits for it, and its row is in the
    file (the close must look again after each append that counted itself out, since it may
    count itself in again for the budget)."""
    paused, resume = anyio.Event(), anyio.Event()
    producer_task: list[int] = []
    original = anyio.lowlevel.checkpoint
    original_take_turn = ProducerTurns.take_turn

    async def gated_take_turn(turns: ProducerTurns, size: int = 0) -> None:
        if producer_task and anyio.get_current_task().id == producer_task[0]:
            producer_task.append(-1)  # once
            paused.set()
            await resume.wait()
        await original_take_turn(turns, size)

    with anyio.fail_after(50), _writer_held_on_flush(monkeypatch) as held:
        async with (
            anyio.create_task_group() as producers,
            AsyncH5Saver.open(h5_path, max_pending_bytes=4096, max_pending_seconds=None) as saver,
        ):
            array = await _array(saver, "e")
            await held.flush_and_hold(saver, producers)
            first = 0
            while saver.statistics().bytes_pending + 16 + CALL_OVERHEAD_BYTES <= 4096:
                await saver.append(array, np.array([first, -first]))
                first += 1

            async def produce() -> None:
                producer_task.append(anyio.get_current_task().id)
                saver._writer.turns.ends_at = -math.inf  # this append waits for its turn
                await saver.append(array, np.array([-7, 7]))

            monkeypatch.setattr(ProducerTurns, "take_turn", gated_take_turn)
            producers.start_soon(produce)
            await paused.wait()
            producers.start_soon(saver.aclose)
            while saver.isopen():
                await original()
            resume.set()
            while saver.statistics().producers_waiting < 1:
                await original()
            held.release.set()
    with h5py.File(h5_path, "r") as file:
        rows = _rows_of(file, array.path).tolist()
    assert rows == [[index, -index] for index in range(first)] + [[-7, 7]]
