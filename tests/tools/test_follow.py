"""follow(): a live view of the enlargeable arrays of a file another writer appends to under
SWMR, read by a child process: rows as they arrive, arrays created mid-run, the writer's close,
clear errors for what cannot be followed, and nothing left running once it is closed."""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path

import anyio
import h5py
import numpy as np
import pytest

import aioh5saver as h5s
from aioh5saver.tools import follow as reader
from helpers import child_processes

pytestmark = pytest.mark.anyio

Update = h5s.ArrayUpdate | h5s.WriterClosed


async def _next(updates: AsyncIterator[Update], seconds: float = 20.0) -> Update:
    with anyio.fail_after(seconds):
        return await updates.__anext__()


async def _until(updates: AsyncIterator[Update], path: str, rows: int) -> list[h5s.ArrayUpdate]:
    """Updates up to the one that shows ``path`` with ``rows`` rows."""
    seen: list[h5s.ArrayUpdate] = []
    while True:
        update = await _next(updates)
        assert isinstance(update, h5s.ArrayUpdate), update
        seen.append(update)
        if update.path == path and update.rows == rows:
            return seen


async def _new_array(saver: h5s.AsyncH5Saver, where: object, name: str) -> h5s.NodeRef:
    return await saver.add_array(
        where,
        name,
        "data_enlargeable",
        data_shape=(2,),
        array_type=np.float64,
        enlargeable=True,
        data_dimension="Data1D",
    )


LOGGER = "/RawData/Logger"


@pytest.mark.timeout(60)
async def test_follow_reports_new_rows_late_arrays_and_the_writer_closing(h5_path: Path) -> None:
    """Each array appears once (appeared=True), then one update per change with the rows
    added and their rate; an array created mid-run appears; staged log lines count as Logger
    rows; the writer's close ends the stream with the final counts."""
    async with h5s.AsyncH5Saver.open(h5_path, swmr=True) as saver:
        det = await saver.add_det_group(saver.raw_group, title="det")
        first = await _new_array(saver, det, "first")
        await saver.append(first, np.zeros((3, 2)))
        await saver.add_log("line 1")
        await saver.flush()
        async with aclosing(reader.follow(h5_path, poll_interval=0.05)) as updates:
            seen = await _until(updates, first.path, 3)
            appeared = {u.path: u for u in seen if u.appeared}
            assert appeared[first.path].new_rows == 3
            assert appeared[first.path].rows_per_s == 0.0
            if LOGGER not in appeared:
                seen += await _until(updates, LOGGER, 1)
            assert [u.appeared for u in seen if u.path == first.path] == [True]

            for total in (8, 20):
                await saver.append(first, np.ones((total - _rows(seen, first.path), 2)))
                await saver.flush()
                step = await _until(updates, first.path, total)
                growth = [u for u in step if u.path == first.path]
                assert not any(u.appeared for u in growth)
                assert all(u.new_rows > 0 for u in growth)
                # The first change after the array appeared has no rate (since when the count
                # it was found with was there is not known); every later one has.
                rates = [u.rows_per_s for u in growth]
                if total == 8:
                    assert math.isnan(rates[0])
                    assert all(rate > 0 for rate in rates[1:])
                else:
                    assert all(rate > 0 for rate in rates)
                assert sum(u.new_rows for u in growth) == total - _rows(seen, first.path)
                seen += step

            late = await _new_array(saver, det, "late")
            await saver.append(late, np.ones((4, 2)))
            await saver.add_log("line 2")
            await saver.flush()
            step = await _until(updates, late.path, 4)
            late_updates = [u for u in step if u.path == late.path]
            assert late_updates[0].appeared
            seen += step
            if _rows(seen, LOGGER) != 2:
                seen += await _until(updates, LOGGER, 2)
            assert [u.rows for u in seen if u.path == LOGGER] == [1, 2]

            await saver.aclose()
            end = await _next(updates)
            while isinstance(end, h5s.ArrayUpdate):
                end = await _next(updates)
            assert isinstance(end, h5s.WriterClosed)
            assert end.arrays == {first.path: 20, late.path: 4, LOGGER: 2}
            assert end.elapsed >= seen[-1].elapsed
            with pytest.raises(StopAsyncIteration):
                await _next(updates)


def _rows(seen: list[h5s.ArrayUpdate], path: str) -> int:
    return next((u.rows for u in reversed(seen) if u.path == path), 0)


async def test_follow_on_a_closed_file_shows_its_arrays_then_writer_closed(h5_path: Path) -> None:
    """A file no writer has: every array appears once with its rows, then WriterClosed."""
    async with h5s.AsyncH5Saver.open(h5_path, swmr=True) as saver:
        array = await _new_array(saver, saver.raw_group, "data")
        await saver.append(array, np.zeros((6, 2)))
        await saver.add_log("done")
    async with aclosing(reader.follow(h5_path, poll_interval=0.05)) as updates:
        got = [update async for update in updates]
    assert got[:-1] == [
        h5s.ArrayUpdate(array.path, 6, 6, 0.0, True, got[0].elapsed),
        h5s.ArrayUpdate(LOGGER, 1, 1, 0.0, True, got[0].elapsed),
    ]
    assert isinstance(got[-1], h5s.WriterClosed)
    assert got[-1].arrays == {array.path: 6, LOGGER: 1}


@pytest.mark.timeout(60)
async def test_follow_ends_after_the_seconds_asked_for(h5_path: Path) -> None:
    """With seconds=S, following a file whose writer stays open ends after about S seconds,
    without WriterClosed."""
    async with h5s.AsyncH5Saver.open(h5_path, swmr=True) as saver:
        await saver.append(await _new_array(saver, saver.raw_group, "data"), np.zeros((1, 2)))
        await saver.flush()
        started = time.monotonic()
        async with aclosing(reader.follow(h5_path, seconds=1.0, poll_interval=0.05)) as updates:
            got = [update async for update in updates]
        took = time.monotonic() - started
    assert 1.0 <= took < 3.0
    assert not any(isinstance(update, h5s.WriterClosed) for update in got)


@pytest.mark.timeout(60)
async def test_closing_or_cancelling_follow_leaves_no_process_behind(h5_path: Path) -> None:
    """aclose() after an update, and a cancellation while waiting for one, both kill and reap
    the reading process."""
    before = child_processes()
    async with h5s.AsyncH5Saver.open(h5_path, swmr=True) as saver:
        await saver.append(await _new_array(saver, saver.raw_group, "data"), np.zeros((1, 2)))
        await saver.flush()
        updates = reader.follow(h5_path, poll_interval=0.05)
        first = await _next(updates)
        assert isinstance(first, h5s.ArrayUpdate)
        assert child_processes() - before
        await updates.aclose()
        assert child_processes() == before

        cancelled = reader.follow(h5_path, poll_interval=0.05)
        async with aclosing(cancelled):
            await _until(cancelled, LOGGER, 0)  # the data array, then the empty Logger
            with anyio.move_on_after(0.3) as scope:
                await cancelled.__anext__()  # nothing changes: it waits until cancelled
            assert scope.cancelled_caught
        assert child_processes() == before


@pytest.mark.parametrize("libver", ["earliest", "latest"])
async def test_follow_refuses_a_file_written_without_swmr(h5_path: Path, libver: str) -> None:
    """A file written without SWMR (HDF5's lock held, or the write flag set past
    wait_for_swmr) raises FileInUseError, and no process is left behind."""
    before = child_processes()
    with h5py.File(h5_path, "w", libver=libver) as file:
        file.create_dataset("x", shape=(0,), maxshape=(None,), dtype="f8")
        file.flush()
        follower = reader.follow(h5_path, poll_interval=0.05, wait_for_swmr=0.3)
        with pytest.raises(h5s.FileInUseError, match=r"test\.h5.*without SWMR"):
            async with aclosing(follower) as updates:
                await _next(updates)
    assert child_processes() == before


async def test_follow_refuses_missing_and_non_hdf5_files(tmp_path: Path) -> None:
    """A missing file raises MissingFileError, a file that is not HDF5 CorruptFileError."""
    with pytest.raises(h5s.MissingFileError, match=r"absent\.h5"):
        await _next(reader.follow(tmp_path / "absent.h5"))
    text = tmp_path / "text.h5"
    text.write_bytes(b"not HDF5\n" * 100)
    with pytest.raises(h5s.CorruptFileError, match=r"text\.h5.*not an HDF5 file"):
        await _next(reader.follow(text))


@pytest.mark.timeout(60)
async def test_follow_refuses_a_damaged_file_no_writer_has(h5_path: Path) -> None:
    """A file with a sound superblock that HDF5 cannot open, with no writer, raises
    CorruptFileError after a few retries instead of retrying forever."""
    with h5py.File(h5_path, "w", libver="latest") as file:
        file.create_dataset("x", data=np.arange(10_000.0))
    data = h5_path.read_bytes()
    h5_path.write_bytes(data[:48] + bytes(len(data) - 48))
    started = time.monotonic()
    expected = r"test\.h5: expected a readable HDF5 file.*kept failing"
    with pytest.raises(h5s.CorruptFileError, match=expected):
        async with aclosing(reader.follow(h5_path, poll_interval=0.05)) as updates:
            await _next(updates)
    assert time.monotonic() - started < 10


@pytest.mark.timeout(60)
async def test_follow_kills_a_reading_process_that_stops_answering(
    h5_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reading process silent for `timeout` seconds (HDF5 hung) is killed, and
    CorruptFileError names the file and the timeout."""
    with h5py.File(h5_path, "w") as file:
        file.create_dataset("x", data=[1])
    pid_file = tmp_path / "child.pid"
    hang = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(600)"

    def hanging_child(arguments: list[str], max_memory: int) -> tuple[list[str], dict[str, str]]:
        return [sys.executable, "-c", hang, str(pid_file)], dict(os.environ)

    monkeypatch.setattr(reader, "child_command", hanging_child)
    with pytest.raises(h5s.CorruptFileError, match=r"test\.h5.*timeout of 1 s"):
        async with aclosing(reader.follow(h5_path, timeout=1.0)) as updates:
            await _next(updates)
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


@pytest.mark.parametrize(
    ("argument", "value"),
    [("seconds", 0), ("poll_interval", -1.0), ("timeout", float("inf")), ("seconds", True)],
)
async def test_follow_rejects_bad_arguments(h5_path: Path, argument: str, value: object) -> None:
    """Bad durations raise InvalidArgumentError naming the argument, before anything starts."""
    with pytest.raises(h5s.InvalidArgumentError, match=argument):
        await _next(reader.follow(h5_path, **{argument: value}))  # type: ignore[arg-type]
