"""The contenders: aioh5saver and the three baselines, each running one workload once.

- ``aioh5saver``: one :class:`~aioh5saver.AsyncH5Saver`, each producer awaiting ``append``.
- ``pymodaq_data``: pymodaq_data 5.3.0's ``EARRAY.append``, one row per call, called from the
  producers as PyMoDAQ does today (synchronously, on the thread that acquires).
- ``lock+to_thread``: what a user would write: an async lock around an h5py resize-and-write of
  one row, run on a worker thread.
- ``raw os.write``: the same bytes written with ``os.write`` to one file per producer in the same
  folder, with nothing else: the limit.
- ``idle loop``: the lag ticker alone on an event loop with nothing else to do, for a second:
  the machine's own lag, measured beside the others (on a VM it varies by an order of
  magnitude from one hour to the next).
"""

from __future__ import annotations

import functools
import itertools
import os
import time
from array import array
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import h5py
import numpy as np

from aioh5saver.aio.async_saver import AsyncH5Saver
from aioh5saver.engine.h5py_engine import LIBVER_SWMR
from aioh5saver.tools.bench.probes import LagTicker, RssSampler, SwmrReader
from aioh5saver.tools.bench.workloads import Workload

__all__ = ["CONTENDERS", "RunResult", "pymodaq_available", "run"]

AppendRow = Callable[[Any], Awaitable[None]]

# The flush period of the SWMR runs: a reader sees a row at most this long after it was
# accepted (the target allows 50 ms more).
SWMR_FLUSH_PERIOD_S = 0.1

CONTENDERS = ("aioh5saver", "pymodaq_data", "lock+to_thread", "raw os.write", "idle loop")

# How long the idle loop's ticker runs (at most the workload's time limit).
IDLE_SECONDS = 1.0


async def add_workload_array(saver: AsyncH5Saver, detector: Any, workload: Workload) -> Any:
    """The enlargeable ``data`` array of ``workload``'s rows under ``detector``: its NodeRef."""
    return await saver.add_array(
        detector,
        "data",
        "data_enlargeable",
        data_shape=workload.row_shape,
        array_type=workload.dtype,
        enlargeable=True,
        data_dimension=workload.data_dimension,
    )


@dataclass
class RunResult:
    """What one run of one contender on one workload measured."""

    contender: str
    workload: str
    swmr: bool
    rows: int
    nbytes: int
    seconds: float
    # Arrays of numbers, not lists of floats: see _AsyncContender.
    lag_ms: Sequence[float] = field(default_factory=lambda: array("d"))
    append_ms: Sequence[float] = field(default_factory=lambda: array("d"))
    visible_ms: Sequence[float] = field(default_factory=lambda: array("d"))
    rss_growth_bytes: int = 0

    @property
    def rows_per_s(self) -> float:
        """Rows written per second."""
        return self.rows / self.seconds

    @property
    def mb_per_s(self) -> float:
        """Megabytes (10^6 bytes) written per second."""
        return self.nbytes / self.seconds / 1e6


def pymodaq_available() -> bool:
    """True if pymodaq_data (the ``bench`` extra) can be imported."""
    try:
        import pymodaq_data.h5modules.saving  # noqa: F401
    except ImportError:
        return False
    return True


def run(contender: str, workload: Workload, folder: Path, *, swmr: bool, backend: str) -> RunResult:
    """Run ``contender`` once on ``workload`` in a new file of ``folder``, then delete it."""
    path = folder / f"{workload.name}-{contender.replace(' ', '_').replace('+', '_')}.h5"
    try:
        if contender == "raw os.write":
            return _run_raw(workload, folder)
        if contender == "idle loop":
            idle: RunResult = anyio.run(_run_idle, workload, backend=backend)
            return idle
        runner = {
            "aioh5saver": _AioH5Saver,
            "pymodaq_data": _Pymodaq,
            "lock+to_thread": _LockToThread,
        }[contender](workload, path, swmr)
        result: RunResult = anyio.run(runner.run, backend=backend)
        return result
    finally:
        path.unlink(missing_ok=True)


class _AsyncContender:
    """Runs the producers of a workload as tasks, with a lag ticker, and times them."""

    name = ""

    def __init__(self, workload: Workload, path: Path, swmr: bool) -> None:
        self.workload = workload
        self.path = path
        self.swmr = swmr
        # Producer 0's rows after each append and the monotonic time it returned, for SWMR
        # latency. Records are arrays of numbers, not lists, which the cyclic GC traverses
        # whole: a young list of 50,000 floats, or one left by the run before, made a rare
        # collection stall the loop for 3-11 ms, counted in the contender's lag.
        self.appended_rows = array("q")
        self.appended_at = array("d")
        self.reader: SwmrReader | None = None

    async def open(self) -> list[AppendRow]:
        """Create the file and one array per producer; return each producer's append."""
        raise NotImplementedError

    async def finish(self) -> None:
        """Make everything written durable to the OS (inside the timing)."""

    async def close(self) -> None:
        """Close the file (outside the timing)."""

    def reader_dataset(self) -> str | None:
        """The dataset a SWMR reader follows, once the file is SWMR-active."""
        return None

    async def run(self) -> RunResult:
        workload = self.workload
        rows_written = [0] * workload.producers
        append_ms = [array("d") for _ in range(workload.producers)]
        ticker = LagTicker()
        appends = await self.open()
        try:
            dataset = self.reader_dataset()
            if dataset is not None:
                self.reader = SwmrReader(
                    self.path,
                    dataset,
                    expected_rows=workload.rows,
                    timeout_s=workload.max_seconds + 10,
                )
            deadline = time.perf_counter() + workload.max_seconds

            async def produce(index: int) -> None:
                append = appends[index]
                row = workload.make_row(index)
                clock = time.perf_counter
                latencies = append_ms[index]
                record_visibility = index == 0 and self.reader is not None
                for count in range(1, workload.rows + 1):
                    start = clock()
                    await append(row)
                    end = clock()
                    latencies.append((end - start) * 1e3)
                    rows_written[index] = count
                    if record_visibility:
                        self.appended_rows.append(count)
                        self.appended_at.append(time.monotonic())
                    if end > deadline:
                        break

            with RssSampler() as rss:
                async with anyio.create_task_group() as ticking:
                    ticking.start_soon(ticker.run)
                    started = time.perf_counter()
                    async with anyio.create_task_group() as producers:
                        for index in range(workload.producers):
                            producers.start_soon(produce, index)
                    await self.finish()
                    seconds = time.perf_counter() - started
                    ticker.stop()
        finally:
            await self.close()
        visible: Sequence[float] = array("d")
        if self.reader is not None:
            appended = zip(self.appended_rows, self.appended_at, strict=True)
            visible = SwmrReader.latencies_ms(appended, self.reader.visible_times())
        rows = sum(rows_written)
        return RunResult(
            contender=self.name,
            workload=workload.name,
            swmr=self.swmr,
            rows=rows,
            nbytes=rows * workload.row_nbytes,
            seconds=seconds,
            lag_ms=ticker.lags_ms,
            append_ms=array("d", itertools.chain.from_iterable(append_ms)),
            visible_ms=visible,
            rss_growth_bytes=rss.growth_bytes,
        )


class _AioH5Saver(_AsyncContender):
    name = "aioh5saver"

    async def open(self) -> list[AppendRow]:
        self.saver = AsyncH5Saver.open(
            self.path,
            new_file=True,  # replaces a file left by an aborted run, as the other contenders do
            swmr=self.swmr,
            flush_period=SWMR_FLUSH_PERIOD_S if self.swmr else None,
        )
        saver = await self.saver.__aenter__()
        workload = self.workload
        scan = await saver.add_scan_group(saver.raw_group, title="benchmark")
        self.arrays = []
        for index in range(workload.producers):
            detector = await saver.add_det_group(scan, title=f"producer {index}")
            self.arrays.append(await add_workload_array(saver, detector, workload))
        if self.swmr:
            await saver.start_swmr()
        # The producers await saver.append itself, as a driver would: no wrapper coroutine.
        return [functools.partial(saver.append, array) for array in self.arrays]

    def reader_dataset(self) -> str | None:
        return self.arrays[0].path if self.swmr else None

    async def finish(self) -> None:
        await self.saver.flush()

    async def close(self) -> None:
        await self.saver.__aexit__(None, None, None)


class _Pymodaq(_AsyncContender):
    name = "pymodaq_data"

    async def open(self) -> list[AppendRow]:
        from pymodaq_data.h5modules.saving import H5SaverLowLevel  # the bench extra

        workload = self.workload
        saver = H5SaverLowLevel(save_type="scan", backend="h5py")
        saver.init_file(self.path, new_file=True)
        self.saver = saver
        scan = saver.add_scan_group(saver.raw_group, title="benchmark")
        arrays = []
        for index in range(workload.producers):
            detector = saver.add_det_group(scan, title=f"producer {index}")
            arrays.append(
                saver.add_array(
                    detector,
                    "data",
                    "data_enlargeable",
                    data_shape=workload.row_shape or (1,),
                    array_type=np.dtype(workload.dtype),
                    enlargeable=True,
                    data_dimension=workload.data_dimension,
                )
            )
        if self.swmr:
            saver.enable_swmr()

        def appender(array: Any) -> AppendRow:
            scalar = not workload.row_shape

            async def append_row(row: Any) -> None:
                # What PyMoDAQ does today: a synchronous append on the acquiring thread; the
                # checkpoint only lets the other producers and the ticker take turns.
                array.append(np.array([row]) if scalar else row)
                await anyio.lowlevel.checkpoint()

            return append_row

        return [appender(array) for array in arrays]

    def reader_dataset(self) -> str | None:
        return None

    async def finish(self) -> None:
        self.saver.flush()

    async def close(self) -> None:
        self.saver.close_file()


class _LockToThread(_AsyncContender):
    name = "lock+to_thread"

    async def open(self) -> list[AppendRow]:
        workload = self.workload
        file = h5py.File(self.path, "w", libver=LIBVER_SWMR)
        self.file = file
        datasets = [
            file.create_dataset(
                f"producer{index}",
                shape=(0, *workload.row_shape),
                maxshape=(None, *workload.row_shape),
                dtype=workload.dtype,
                chunks=True,
            )
            for index in range(workload.producers)
        ]
        if self.swmr:
            file.swmr_mode = True
        self.datasets = datasets
        lock = anyio.Lock()

        def write_row(dataset: h5py.Dataset, row: Any) -> None:
            size = dataset.shape[0]
            dataset.resize(size + 1, axis=0)
            dataset[size] = row

        def appender(dataset: h5py.Dataset) -> AppendRow:
            async def append_row(row: Any) -> None:
                async with lock:
                    await anyio.to_thread.run_sync(write_row, dataset, row)

            return append_row

        return [appender(dataset) for dataset in datasets]

    def reader_dataset(self) -> str | None:
        return self.datasets[0].name if self.swmr else None

    async def finish(self) -> None:
        await anyio.to_thread.run_sync(self.file.flush)

    async def close(self) -> None:
        self.file.close()


async def _run_idle(workload: Workload) -> RunResult:
    """The lag ticker alone: how late a 1 ms sleep wakes up when nothing else runs."""
    ticker = LagTicker()
    seconds = min(IDLE_SECONDS, workload.max_seconds)
    with RssSampler() as rss:
        started = time.perf_counter()
        async with anyio.create_task_group() as ticking:
            ticking.start_soon(ticker.run)
            await anyio.sleep(seconds)
            ticker.stop()
        elapsed = time.perf_counter() - started
    return RunResult(
        contender="idle loop",
        workload=workload.name,
        swmr=False,
        rows=0,
        nbytes=0,
        seconds=elapsed,
        lag_ms=ticker.lags_ms,
        rss_growth_bytes=rss.growth_bytes,
    )


def _run_raw(workload: Workload, folder: Path) -> RunResult:
    """Each producer's rows as bytes, written with os.write to a file of its own, round robin,
    on one thread: no event loop, no HDF5, no copy."""
    rows = [workload.make_row(index) for index in range(workload.producers)]
    payloads = [np.ascontiguousarray(row).tobytes() for row in rows]
    paths = [folder / f"{workload.name}-raw-{index}.bin" for index in range(workload.producers)]
    descriptors = [os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644) for path in paths]
    written = 0
    try:
        with RssSampler() as rss:
            started = time.perf_counter()
            deadline = started + workload.max_seconds
            for _ in range(workload.rows):
                for descriptor, payload in zip(descriptors, payloads, strict=True):
                    os.write(descriptor, payload)
                written += workload.producers
                if time.perf_counter() > deadline:
                    break
            for descriptor in descriptors:
                os.close(descriptor)
            descriptors = []
            seconds = time.perf_counter() - started
    finally:
        for descriptor in descriptors:
            os.close(descriptor)
        for path in paths:
            path.unlink(missing_ok=True)
    return RunResult(
        contender="raw os.write",
        workload=workload.name,
        swmr=False,
        rows=written,
        nbytes=written * workload.row_nbytes,
        seconds=seconds,
        rss_growth_bytes=rss.growth_bytes,
    )
