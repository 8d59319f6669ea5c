"""AsyncH5Saver: many producers, one writer; ordering, batching, back-pressure, cancellation,
flushing and closing, on asyncio and trio."""

from __future__ import annotations

import gc
import random
import threading
import time
from pathlib import Path

import anyio
import anyio.lowlevel
import anyio.to_thread
import h5py
import numpy as np
import pytest

import aioh5saver
from aioh5saver import AsyncH5Saver, H5SaverLowLevel, NodeRef
from aioh5saver.aio.batch_runner import BatchRunner

pytestmark = pytest.mark.anyio


async def _scalar_array(saver: AsyncH5Saver, where: NodeRef | str, name: str) -> NodeRef:
    return await saver.add_array(
        where,
        name,
        "data_enlargeable",
        data_shape=(2,),
        array_type=np.int64,
        enlargeable=True,
        data_dimension="Data1D",
    )


def _read(path: Path, node: str) -> np.ndarray:
    with h5py.File(path, "r") as f:
        return np.asarray(f[node][()])


async def test_16_producers_keep_each_producers_order_in_fewer_batches(h5_path: Path) -> None:
    """Appends from 16 concurrent producers, to their own arrays and to one shared array, all
    reach the file, each producer's rows in its order, in fewer batches than appends."""
    producers, rows = 16, 200
    async with AsyncH5Saver.open(h5_path) as saver:
        det = await saver.add_det_group(saver.raw_group, title="many")
        shared = await _scalar_array(saver, det, "shared")
        own = [await _scalar_array(saver, det, f"own{i}") for i in range(producers)]

        async def produce(index: int) -> None:
            for row in range(rows):
                await saver.append(own[index], np.array([index, row]))
                await saver.append(shared, np.array([index, row]))

        async with anyio.create_task_group() as tg:
            for index in range(producers):
                tg.start_soon(produce, index)
        await saver.flush()
        stats = saver.statistics()
    assert stats.rows_appended == producers * rows * 2
    assert stats.batches < producers * rows * 2
    merged = _read(h5_path, shared.path)
    assert merged.shape == (producers * rows, 2)
    for index in range(producers):
        np.testing.assert_array_equal(merged[merged[:, 0] == index][:, 1], np.arange(rows))
        np.testing.assert_array_equal(_read(h5_path, own[index].path)[:, 1], np.arange(rows))


async def test_append_is_accepted_before_it_is_written_and_flush_is_the_barrier(
    h5_path: Path,
) -> None:
    """append returns with the rows queued; after flush() they are in the file on disk, as a
    separate reader sees."""
    async with AsyncH5Saver.open(h5_path, swmr=True) as saver:
        array = await _scalar_array(saver, saver.raw_group, "e")
        await saver.append(array, np.arange(20).reshape(10, 2))
        await saver.flush()
        with h5py.File(h5_path, "r", swmr=True) as reader:
            assert reader[array.path].shape == (10, 2)


async def test_wrong_shaped_append_fails_alone_at_the_call(h5_path: Path) -> None:
    """A row of the wrong shape or dtype raises at the call; rows appended before and after by
    others are all written."""
    async with AsyncH5Saver.open(h5_path) as saver:
        array = await _scalar_array(saver, saver.raw_group, "e")
        await saver.append(array, np.array([1, 1]))
        with pytest.raises(aioh5saver.ShapeMismatchError, match=r"\(2,\)"):
            await saver.append(array, np.array([1, 2, 3]))
        with pytest.raises(aioh5saver.UncastableDTypeError, match="int64"):
            await saver.append(array, np.array([1.5, 2.5]))
        with pytest.raises(aioh5saver.NodeKindError, match="GROUP"):
            await saver.append(saver.raw_group, np.array([1, 2]))
        await saver.append(array.path, np.array([2, 2]))
    np.testing.assert_array_equal(_read(h5_path, "/RawData/E"), [[1, 1], [2, 2]])


async def test_append_copies_unless_told_not_to(h5_path: Path) -> None:
    """By default the saver owns a copy: changing the buffer after append does not change the
    row written."""
    async with AsyncH5Saver.open(h5_path) as saver:
        array = await _scalar_array(saver, saver.raw_group, "e")
        buffer = np.array([1, 1])
        await saver.append(array, buffer)
        buffer[:] = 9
        await saver.append(array, np.array([2, 2]), copy=False)
    np.testing.assert_array_equal(_read(h5_path, "/RawData/E"), [[1, 1], [2, 2]])


async def test_closing_with_hundreds_of_appends_in_flight_loses_none(h5_path: Path) -> None:
    """Leaving ``async with`` right after hundreds of accepted appends writes every one."""
    async with AsyncH5Saver.open(h5_path) as saver:
        array = await _scalar_array(saver, saver.raw_group, "e")
        for row in range(700):
            await saver.append(array, np.array([row, row]))
        assert saver.statistics().rows_appended < 700 or saver.statistics().ops_queued == 0
    np.testing.assert_array_equal(_read(h5_path, "/RawData/E")[:, 0], np.arange(700))


async def test_closing_on_an_exception_in_the_body_still_writes_everything(h5_path: Path) -> None:
    """When the body of ``async with`` raises, accepted rows are still written, the file is
    closed, and the body's exception propagates."""
    with pytest.raises(RuntimeError, match="instrument died"):
        async with AsyncH5Saver.open(h5_path) as saver:
            array = await _scalar_array(saver, saver.raw_group, "e")
            for row in range(50):
                await saver.append(array, np.array([row, 0]))
            raise RuntimeError("instrument died")
    assert _read(h5_path, "/RawData/E").shape == (50, 2)


async def test_back_pressure_bounds_pending_bytes_and_serves_producers_in_order(
    h5_path: Path,
) -> None:
    """With a small budget, queued bytes never exceed it (one oversized op aside) and every
    row still arrives."""
    budget = 64 * 1024
    seen: list[int] = []
    async with AsyncH5Saver.open(h5_path, max_pending_bytes=budget) as saver:
        array = await saver.add_array(
            saver.raw_group,
            "f",
            "data_enlargeable",
            data_shape=(1024,),
            array_type=np.float64,
            enlargeable=True,
            data_dimension="Data1D",
        )

        async def produce(offset: int) -> None:
            for row in range(100):
                await saver.append(array, np.full(1024, offset + row, dtype=np.float64))
                seen.append(saver.statistics().bytes_pending)

        async with anyio.create_task_group() as tg:
            for producer in range(4):
                tg.start_soon(produce, producer * 1000)
    assert max(seen) <= budget
    assert _read(h5_path, "/RawData/F").shape == (400, 1024)


@pytest.mark.parametrize(
    ("options", "seconds_of_writing"),
    [
        ({"flush_period": 0.1, "max_pending_seconds": None}, 0.025),
        ({"max_pending_seconds": 0.04}, 0.04),
        ({"flush_period": 1.0, "max_pending_seconds": 0.03}, 0.03),
    ],
    ids=["a quarter of the flush period", "max_pending_seconds", "the shorter of both"],
)
async def test_the_queue_is_capped_at_what_a_slow_disk_writes_in_the_time_allowed(
    h5_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    options: dict[str, float | None],
    seconds_of_writing: float,
) -> None:
    """Producers that outrun a slow disk (here 100 MB/s) are held back: the queue is capped at
    what that disk writes in the time allowed (a quarter of the flush period, or
    max_pending_seconds, whichever is shorter), not at the 256 MiB budget, so a row never
    waits behind more than that; every row still arrives, in order."""
    disk_bytes_per_s = 100e6
    execute = BatchRunner.execute

    def slow_execute(core: BatchRunner, batch: list[object], deadline: float | None) -> None:
        appended = sum(getattr(op, "cost", 0) for op in batch)
        time.sleep(appended / disk_bytes_per_s)
        execute(core, batch, deadline)  # type: ignore[arg-type]

    monkeypatch.setattr(BatchRunner, "execute", slow_execute)
    allowed_bytes = int(disk_bytes_per_s * seconds_of_writing)
    row_bytes = 64 << 10
    samples: list[tuple[int, int]] = []
    async with AsyncH5Saver.open(h5_path, **options) as saver:  # type: ignore[arg-type]
        assert saver.statistics().max_pending_bytes == 256 << 20
        array = await saver.add_array(
            saver.raw_group,
            "f",
            "data_enlargeable",
            data_shape=(row_bytes // 8,),
            array_type=np.float64,
            enlargeable=True,
            data_dimension="Data1D",
        )

        async def produce(producer: int) -> None:
            for row in range(200):
                await saver.append(array, np.full(row_bytes // 8, producer * 1000 + row, "f8"))
                stats = saver.statistics()
                samples.append((stats.pending_cap_bytes, stats.bytes_pending))

        async with anyio.create_task_group() as tg:
            for producer in range(4):
                tg.start_soon(produce, producer)
    caps = [cap for cap, _ in samples]
    assert min(caps) >= 256 << 10
    assert max(caps) <= allowed_bytes
    assert max(held for _, held in samples) <= allowed_bytes
    rows = _read(h5_path, "/RawData/F")[:, 0].astype(int)
    assert len(rows) == 800
    for producer in range(4):
        mine = rows[rows // 1000 == producer] % 1000
        assert mine.tolist() == list(range(200))


@pytest.mark.parametrize("seconds", [None, float("inf")])
async def test_without_a_finite_time_bound_the_whole_budget_may_be_queued(
    h5_path: Path, seconds: float | None
) -> None:
    """With neither a finite flush period nor a finite max_pending_seconds, nothing bounds the
    queue by time: the cap stays the budget, whatever the writer's rate."""
    async with AsyncH5Saver.open(
        h5_path, flush_period=seconds, max_pending_seconds=seconds, max_pending_bytes=1 << 30
    ) as saver:
        array = await _scalar_array(saver, saver.raw_group, "e")
        for row in range(1000):
            await saver.append(array, np.array([row, row]))
        await saver.flush()
        assert saver.statistics().pending_cap_bytes == 1 << 30


async def test_one_oversized_append_passes_alone(h5_path: Path) -> None:
    """An append larger than the whole budget is accepted when nothing else is pending."""
    async with AsyncH5Saver.open(h5_path, max_pending_bytes=1024) as saver:
        array = await _scalar_array(saver, saver.raw_group, "e")
        await saver.append(array, np.zeros((1000, 2), dtype=np.int64))
        await saver.append(array, np.zeros((1000, 2), dtype=np.int64))
    assert _read(h5_path, "/RawData/E").shape == (2000, 2)


async def test_random_cancellations_leave_whole_rows_and_a_working_saver(h5_path: Path) -> None:
    """Producers cancelled at random points leave only whole rows in the file, every accepted
    row is written once, and the saver keeps working afterwards."""
    rng = random.Random(1234)
    accepted: list[int] = []
    async with AsyncH5Saver.open(h5_path, max_pending_bytes=4096) as saver:
        array = await _scalar_array(saver, saver.raw_group, "e")

        async def produce(base: int) -> None:
            for row in range(10_000):
                value = base + row
                await saver.append(array, np.array([value, value]))
                accepted.append(value)
                if row % 7 == 0:
                    await saver.flush()

        for round_ in range(20):
            with anyio.move_on_after(rng.uniform(0.0, 0.01)):
                await produce(round_ * 100_000)
        await saver.append(array, np.array([-1, -1]))
        await saver.flush()
    rows = _read(h5_path, "/RawData/E")
    assert (rows[:, 0] == rows[:, 1]).all()
    assert sorted(rows[:-1, 0].tolist()) == sorted(accepted)
    assert rows[-1].tolist() == [-1, -1]


async def test_awaited_operation_cancelled_before_its_batch_is_dropped(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group creation queued while the writer is busy, whose caller is cancelled before the
    writer takes it, never happens; the saver works on."""
    writer_busy, release = threading.Event(), threading.Event()
    original = BatchRunner.execute

    def held(self: BatchRunner, batch: list, flush_deadline: float | None) -> None:
        if any(getattr(op, "method", "") == "is_node_in_group" for op in batch):
            writer_busy.set()
            release.wait(10)
        original(self, batch, flush_deadline)

    monkeypatch.setattr(BatchRunner, "execute", held)
    async with AsyncH5Saver.open(h5_path) as saver:
        async with anyio.create_task_group() as tg:
            tg.start_soon(saver.is_node_in_group, saver.raw_group, "x")
            await anyio.to_thread.run_sync(writer_busy.wait, 10)
            with anyio.CancelScope() as scope:
                tg.start_soon(lambda: _cancel_when_queued(saver, scope))
                await saver.add_det_group(saver.raw_group, title="never")
            assert scope.cancelled_caught
            release.set()
        assert await saver.get_groups(saver.raw_group, "detector") == []
        await saver.add_det_group(saver.raw_group, title="yes")
        groups = await saver.get_groups(saver.raw_group, "detector")
        assert [g.path for g in groups] == ["/RawData/Detector000"]


async def _cancel_when_queued(saver: AsyncH5Saver, scope: anyio.CancelScope) -> None:
    while saver.statistics().ops_queued == 0:
        await anyio.lowlevel.checkpoint()
    scope.cancel()


async def test_operation_whose_caller_is_already_cancelled_is_never_queued(
    h5_path: Path,
) -> None:
    """Calling from an already-cancelled scope raises at once and queues nothing."""
    async with AsyncH5Saver.open(h5_path) as saver:
        with anyio.CancelScope() as scope:
            scope.cancel()
            await saver.add_det_group(saver.raw_group, title="never")
        assert scope.cancelled_caught
        assert await saver.get_groups(saver.raw_group, "detector") == []


async def test_flush_interval_flushes_every_n_rows(h5_path: Path) -> None:
    """With flush_interval=10, the writer flushes after each batch reaching 10 unflushed rows."""
    async with AsyncH5Saver.open(h5_path, flush_interval=10) as saver:
        array = await _scalar_array(saver, saver.raw_group, "e")
        for row in range(5):
            await saver.append(array, np.zeros((10, 2), dtype=np.int64) + row)
            await saver.get_node(array)  # a round trip: the writer has run the append's batch
        assert saver.statistics().flushes >= 5


async def test_flush_period_flushes_without_any_new_operation(h5_path: Path) -> None:
    """With flush_period, an accepted row is flushed in time even if nothing else arrives."""
    async with AsyncH5Saver.open(h5_path, flush_period=0.02) as saver:
        array = await _scalar_array(saver, saver.raw_group, "e")
        await saver.get_node(array)
        before = saver.statistics().flushes
        await saver.append(array, np.array([1, 1]))
        with anyio.fail_after(5):
            while saver.statistics().flushes == before:
                await anyio.sleep(0.005)
        assert saver.statistics().flushes == before + 1


async def test_a_writer_with_long_batches_flushes_one_batch_early_not_one_late(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a batch that took 0.2 s, the next batch is told to flush if the flush period's
    deadline comes within 0.2 s of now: waiting for one more batch would miss it."""
    batch_seconds = 0.2
    deadlines: list[float | None] = []
    execute = BatchRunner.execute

    def slow_execute(core: BatchRunner, batch: list[object], deadline: float | None) -> None:
        deadlines.append(deadline)
        execute(core, batch, deadline)  # type: ignore[arg-type]
        time.sleep(batch_seconds)

    async with AsyncH5Saver.open(h5_path, flush_period=10.0) as saver:
        array = await _scalar_array(saver, saver.raw_group, "e")
        await saver.get_node(array)  # a batch of its own: the last one now took 0.2 s
        deadlines.clear()
        monkeypatch.setattr(BatchRunner, "execute", slow_execute)
        await saver.get_node(array)
        await saver.append(array, np.array([1, 1]))
        accepted = time.monotonic()  # the row's flush period started before this
        await saver.get_node(array)  # the append's batch has run
    assert deadlines[1] is not None
    assert deadlines[1] <= accepted + 10.0 - batch_seconds


async def test_no_h5py_call_runs_on_the_event_loop_thread(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every batch runs on a worker thread, never on the thread running the event loop."""
    loop_thread = threading.get_ident()
    threads: set[int] = set()
    original = BatchRunner.execute

    def recording(self: BatchRunner, batch: list, flush_deadline: float | None) -> None:
        threads.add(threading.get_ident())
        original(self, batch, flush_deadline)

    monkeypatch.setattr(BatchRunner, "execute", recording)
    async with AsyncH5Saver.open(h5_path) as saver:
        array = await _scalar_array(saver, saver.raw_group, "e")
        await saver.append(array, np.array([1, 1]))
        await saver.flush()
    assert threads
    assert loop_thread not in threads


async def test_closed_saver_refuses_operations(h5_path: Path) -> None:
    """After close every operation raises SaverClosedError; closing again does nothing."""
    async with AsyncH5Saver.open(h5_path) as saver:
        array = await _scalar_array(saver, saver.raw_group, "e")
    await saver.aclose()
    for call in (
        saver.flush(),
        saver.append(array, np.array([1, 1])),
        saver.add_det_group(saver.raw_group),
    ):
        with pytest.raises(aioh5saver.SaverClosedError, match="closed"):
            await call


async def test_node_refs_are_immutable_hashable_and_print_as_paths(h5_path: Path) -> None:
    """A NodeRef has path and kind, equals another ref of the same path, and str() is its path;
    every ``where`` also takes the path string."""
    async with AsyncH5Saver.open(h5_path) as saver:
        det = await saver.add_det_group("/RawData", title="d")
        assert (det.path, det.kind, str(det)) == ("/RawData/Detector000", "GROUP", det.path)
        assert await saver.get_node(det.path) == det
        assert {det: 1}[await saver.get_node("/RawData/Detector000")] == 1
        with pytest.raises(AttributeError):
            det.path = "/x"  # type: ignore[misc]
        children = await saver.get_children(saver.raw_group)
        assert set(children) == {"Detector000", "Logger"}
        assert children["Logger"].kind == "StringARRAY"
        with pytest.raises(aioh5saver.NodeKindError, match="NodeRef"):
            await saver.get_node(42)  # type: ignore[arg-type]


async def test_logs_and_attributes_reach_a_file_pymodaq_reads(h5_path: Path) -> None:
    """Log lines, attributes and data written through the async saver read back with the
    synchronous saver, in order."""
    async with AsyncH5Saver.open(h5_path, metadata={"sample": "Si"}) as saver:
        scan = await saver.add_scan_group(saver.raw_group, title="scan")
        await saver.set_attr(scan, "energy", 1.5)
        for line in ["a", "b", "ç"]:
            await saver.add_log(line)
        assert await saver.get_attr(scan, "energy") == 1.5
        assert await saver.read_strings("/RawData/Logger") == ["a", "b", "ç"]
    sync = H5SaverLowLevel.from_file(h5_path, mode="r")
    assert sync.get_set_logger().read() == ["a", "b", "ç"]
    assert sync.get_attr("/RawData", "sample") == "Si"
    sync.close_file()


async def test_save_file_writes_a_consistent_copy_while_running(
    h5_path: Path, tmp_path: Path
) -> None:
    """save_file copies the file with every row accepted before it, and the saver continues."""
    copy = tmp_path / "copy.h5"
    async with AsyncH5Saver.open(h5_path, swmr=True) as saver:
        array = await _scalar_array(saver, saver.raw_group, "e")
        await saver.append(array, np.zeros((30, 2), dtype=np.int64))
        await saver.add_log("in the copy")
        await saver.save_file(copy)
        await saver.append(array, np.zeros((5, 2), dtype=np.int64))
    assert _read(copy, "/RawData/E").shape == (30, 2)
    assert _read(h5_path, "/RawData/E").shape == (35, 2)
    copied = H5SaverLowLevel.from_file(copy, mode="r")
    assert copied.get_set_logger().read() == ["in the copy"]
    copied.close_file()


async def test_statistics_report_progress(h5_path: Path) -> None:
    """statistics() counts rows, bytes, batches and flushes, and shows SWMR once on."""
    async with AsyncH5Saver.open(h5_path, swmr=True) as saver:
        array = await _scalar_array(saver, saver.raw_group, "e")
        assert not saver.statistics().swmr_active
        await saver.append(array, np.zeros((4, 2), dtype=np.int64))
        await saver.flush()
        stats = saver.statistics()
    assert (stats.rows_appended, stats.bytes_written) == (4, 64)
    assert stats.swmr_active
    assert stats.flushes >= 1
    assert stats.batches >= 1
    assert (stats.ops_queued, stats.bytes_pending) == (0, 0)


async def test_invalid_options_are_refused() -> None:
    """Bad open() options raise InvalidArgumentError naming the option and the value."""
    for options, word in [
        ({"flush_interval": -1}, "flush_interval"),
        ({"flush_period": 0}, "flush_period"),
        ({"max_pending_bytes": 0}, "max_pending_bytes"),
    ]:
        with pytest.raises(aioh5saver.InvalidArgumentError, match=word):
            AsyncH5Saver.open("x.h5", **options)


def test_a_saver_left_open_emits_a_resource_warning(h5_path: Path) -> None:
    """A saver garbage-collected while open warns with ResourceWarning."""
    saver = AsyncH5Saver(h5_path)
    saver._open = True  # as if entered and never left
    with pytest.warns(ResourceWarning, match="never closed"):
        del saver
        gc.collect()


async def test_add_log_writes_to_the_logger_get_set_logger_returned(h5_path: Path) -> None:
    """As with the synchronous saver, once get_set_logger(where) has returned a Logger, later
    add_log lines go to it, not to the raw group's."""
    async with AsyncH5Saver.open(h5_path) as saver:
        det = await saver.add_det_group(saver.raw_group, title="det")
        logger = await saver.get_set_logger(det)
        await saver.add_log("to the detector's logger")
        await saver.flush()
        assert await saver.read_strings(logger) == ["to the detector's logger"]
        assert await saver.read_strings(f"{saver.raw_group.path}/Logger") == []


async def test_read_strings_under_swmr_includes_lines_still_staged(h5_path: Path) -> None:
    """While SWMR is on, lines wait in a staging array; read_strings gives them all the same,
    after the lines written before SWMR."""
    async with AsyncH5Saver.open(h5_path, swmr=True) as saver:
        await saver.add_log("before SWMR")
        await saver.flush()
        await saver.start_swmr()
        await saver.add_log("under SWMR")
        await saver.flush()
        assert saver.statistics().swmr_active
        assert await saver.read_strings(f"{saver.raw_group.path}/Logger") == [
            "before SWMR",
            "under SWMR",
        ]
