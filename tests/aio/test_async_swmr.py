"""AsyncH5Saver under SWMR, seen by a plain-h5py reader in another process: rows become visible
while they are written, a structure change (a new detector and array) is picked up, no read
fails, log lines never reach the reader as variable-length writes, and pymodaq_data 5.3.0
reads the final file.

The reader is a script written to the test's folder and run with ``sys.executable``. It talks
JSON lines on stdout ("ready" once the file is open, "rows" whenever an array's row count
changes, a "summary" when told to stop) and takes commands on stdin ("stop", then "exit"), so
that the test orders every step on what the reader has reported, never on sleeps; sleeps only
pace the producer.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import h5py
import numpy as np
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from aioh5saver import AsyncH5Saver, NodeRef
from helpers import pymodaq_read

pytestmark = pytest.mark.anyio

STAGING_SUFFIX = "__swmr_staging"
ROW_SHAPE = (3,)

# What experiment showed here (h5py 3.16, HDF5 2.0.0), and why the reader works as it does:
# - an already-open SWMR reader keeps reading the datasets it has open across the writer's
#   SWMR pause (end SWMR, create nodes, restart SWMR): ``ds.id.refresh()`` and reads of them
#   never failed;
# - but it does not see the new groups and datasets: listing the tree on that handle after the
#   pause fails ("Object visitation failed (incorrect cache entry type)"), and a second
#   ``h5py.File`` opened on the same path in the same process shares HDF5's file object and
#   its stale metadata cache, so it fails the same way;
# - closing the handle and opening the file again shows the new nodes. While the writer has
#   SWMR paused, that open fails (the file is open for writing without SWMR) and is retried:
#   retries are counted apart from read errors.
# So the reader keeps one handle, refreshes and reads its arrays on every poll, and closes and
# reopens the file every REOPEN_PERIOD seconds to list the tree again.
READER_SCRIPT = textwrap.dedent(
    '''
    """Follow an HDF5 file that another process writes under SWMR; report JSON lines."""
    import json
    import queue
    import sys
    import threading
    import time

    import h5py
    import numpy as np

    PATH = sys.argv[1]
    FOLLOW_LOGGER = "--logger" in sys.argv[2:]
    REOPEN_PERIOD = 0.05
    OPEN_DEADLINE = 30.0
    STAGING_SUFFIX = "__swmr_staging"
    LOGGER = "/RawData/Logger"


    def out(**event):
        sys.stdout.write(json.dumps(event) + "\\n")
        sys.stdout.flush()


    commands = queue.Queue()


    def read_commands():
        for line in sys.stdin:
            commands.put(line.strip())
        commands.put("eof")


    threading.Thread(target=read_commands, daemon=True).start()

    stats = {"reads": 0, "read_errors": 0, "open_retries": 0, "opens": 0}
    errors = []
    seen = {}
    logger_shapes = []
    staged = []


    def error(message):
        stats["read_errors"] += 1
        if len(errors) < 20:
            errors.append(message)


    def open_file():
        deadline = time.monotonic() + OPEN_DEADLINE
        while True:
            try:
                handle = h5py.File(PATH, "r", swmr=True)
            except OSError as exc:  # not SWMR yet, or SWMR paused for a structure change
                stats["open_retries"] += 1
                if time.monotonic() > deadline:
                    out(event="open_failed", error=repr(exc))
                    sys.exit(2)
                time.sleep(0.005)
                continue
            stats["opens"] += 1
            return handle


    def list_arrays(handle):
        found = {}

        def visit(name, obj):
            if (
                isinstance(obj, h5py.Dataset)
                and obj.attrs.get("CLASS") == "EARRAY"
                and not name.endswith(STAGING_SUFFIX)
            ):
                found[obj.name] = obj

        handle.visititems(visit)
        return found


    def decode_staged(rows):
        """The staged strings (fixed-width rows: size, more, text), as staging.py writes them."""
        texts, pieces = [], []
        for size, more, text in rows.tolist():
            pieces.append(bytes(text).ljust(size, b"\\0")[:size])
            if not more:
                texts.append(b"".join(pieces).decode("utf-8", "surrogatepass"))
                pieces = []
        return texts


    def poll(handle, arrays):
        global staged
        for path, dataset in arrays.items():
            try:
                dataset.id.refresh()
                rows = dataset.shape[0]
                if rows:
                    last = dataset[rows - 1]
                    if not np.all(last == rows - 1):
                        error(f"{path}: row {rows - 1} holds {last.tolist()}")
                        continue
            except Exception as exc:
                error(f"{path}: {exc!r}")
                continue
            stats["reads"] += 1
            if seen.get(path) != rows:
                seen[path] = rows
                out(event="rows", path=path, n=rows)
        if not FOLLOW_LOGGER:
            return
        try:
            logger = handle[LOGGER]
            logger.id.refresh()
            shape = logger.shape[0]
            staging = handle[LOGGER + STAGING_SUFFIX]
            staging.id.refresh()
            texts = decode_staged(staging[()])
        except Exception as exc:
            error(f"Logger: {exc!r}")
            return
        stats["reads"] += 1
        if shape not in logger_shapes:
            logger_shapes.append(shape)
            out(event="logger", n=shape)
        if texts[: len(staged)] != staged:
            error(f"staged strings changed: had {staged!r}, now {texts!r}")
        if len(texts) != len(staged):
            staged = texts
            out(event="staged", n=len(texts))


    handle = open_file()
    arrays = list_arrays(handle)
    opened_at = time.monotonic()
    out(event="ready")
    while True:
        try:
            command = commands.get_nowait()
        except queue.Empty:
            command = None
        if command in ("exit", "eof"):
            handle.close()
            sys.exit(3)  # told to go before "stop": the test failed
        if command == "stop":
            poll(handle, arrays)
            out(event="summary", **stats, errors=errors, final=seen,
                logger_shapes=logger_shapes, staged=staged)
            break
        if time.monotonic() - opened_at >= REOPEN_PERIOD:
            handle.close()
            handle = open_file()
            opened_at = time.monotonic()
            try:
                arrays = list_arrays(handle)
            except Exception as exc:
                error(f"list the tree: {exc!r}")
                arrays = {}
                opened_at = 0.0
        poll(handle, arrays)
        time.sleep(0.002)

    # Keep the file open until told to exit: the writer closes while this reader holds it.
    while commands.get() not in ("exit", "eof"):
        pass
    handle.close()
    out(event="closed")
    '''
)


class ReaderLink:
    """The reader process's JSON lines, as they arrive, and waits on what it has reported."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.rows: dict[str, list[int]] = {}
        self.staged_counts: list[int] = []
        self.summary: dict[str, Any] | None = None
        self.eof = False
        self.ready = anyio.Event()
        self._changed = anyio.Event()

    async def pump(self, stream: anyio.abc.ByteReceiveStream) -> None:
        """Read the reader's stdout to its end."""
        lines = BufferedByteReceiveStream(stream)
        while True:
            try:
                line = await lines.receive_until(b"\n", 1 << 26)
            except (anyio.EndOfStream, anyio.IncompleteRead):
                break
            event = json.loads(line)
            self.events.append(event)
            kind = event["event"]
            if kind == "ready":
                self.ready.set()
            elif kind == "rows":
                self.rows.setdefault(event["path"], []).append(event["n"])
            elif kind == "staged":
                self.staged_counts.append(event["n"])
            elif kind == "summary":
                self.summary = event
            self._notify()
        self.eof = True
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    def last_rows(self, path: str) -> int:
        """The last row count the reader reported for ``path`` (0 if none)."""
        counts = self.rows.get(path)
        return counts[-1] if counts else 0

    async def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        """Wait until the reader has reported enough for ``condition``."""
        while not condition():
            if self.eof:
                raise AssertionError(
                    f"the reader exited before {what}; its last lines: {self.events[-5:]}"
                )
            await self._changed.wait()


def _row(index: int) -> np.ndarray:
    return np.full(ROW_SHAPE, float(index))


async def _enlargeable(saver: AsyncH5Saver, where: NodeRef, name: str) -> NodeRef:
    return await saver.add_array(
        where,
        name,
        "data_enlargeable",
        data_shape=ROW_SHAPE,
        array_type=np.float64,
        enlargeable=True,
        data_dimension="Data1D",
    )


def _reader_command(tmp_path: Path, h5_path: Path, *flags: str) -> list[str]:
    script = tmp_path / "swmr_reader.py"
    script.write_text(READER_SCRIPT)
    return [sys.executable, str(script), str(h5_path), *flags]


def _staging_arrays(path: Path) -> list[str]:
    found: list[str] = []
    with h5py.File(path, "r") as file:
        file.visit(lambda name: found.append(name) if name.endswith(STAGING_SUFFIX) else None)
    return found


@pytest.mark.timeout(60)
async def test_swmr_reader_in_another_process_follows_rows_and_a_late_array(
    tmp_path: Path, h5_path: Path
) -> None:
    """A plain-h5py SWMR reader in another process sees rows grow without a read error, picks
    up an array created mid-run, and pymodaq_data reads every row and log line at the end."""
    rounds_before, rounds_after, rows_per_round = 4, 4, 12
    counts: dict[str, int] = {}
    logs = ["run starts"]
    link = ReaderLink()
    with (tmp_path / "reader.err").open("wb") as reader_err:
        async with AsyncH5Saver.open(h5_path, swmr=True, flush_period=0.05) as saver:
            scan = await saver.add_scan_group(saver.raw_group, title="swmr run")
            camera = await _enlargeable(saver, await saver.add_det_group(scan, title="cam"), "f")
            spectro = await _enlargeable(saver, await saver.add_det_group(scan, title="spec"), "s")
            arrays = [camera, spectro]
            counts.update({camera.path: 0, spectro.path: 0})
            await saver.add_log(logs[0])
            await saver.start_swmr()
            assert saver.statistics().swmr_active

            async def produce(round_index: int) -> None:
                for _ in range(rows_per_round):
                    for array in arrays:
                        await saver.append(array, _row(counts[array.path]))
                        counts[array.path] += 1
                    if counts[camera.path] % 4 == 0:
                        logs.append(f"round {round_index} row {counts[camera.path]} é")
                        await saver.add_log(logs[-1])
                    await anyio.sleep(0.002)  # pacing only
                # flush_period makes the rows visible without a flush() call
                with anyio.fail_after(10):
                    await link.wait_for(
                        lambda: all(link.last_rows(a.path) >= counts[a.path] for a in arrays),
                        f"it saw round {round_index}: {counts}",
                    )

            command = _reader_command(tmp_path, h5_path)
            async with (
                await anyio.open_process(
                    command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=reader_err
                ) as reader,
                anyio.create_task_group() as tg,
            ):
                assert reader.stdin is not None
                assert reader.stdout is not None
                tg.start_soon(link.pump, reader.stdout)
                with anyio.fail_after(30):
                    await link.ready.wait()
                for round_index in range(rounds_before):
                    await produce(round_index)
                # A structure change while SWMR is on: the writer ends SWMR, creates, restarts.
                late_group = await saver.add_det_group(scan, title="late")
                logs.append("late detector added")
                await saver.add_log(logs[-1])
                late = await _enlargeable(saver, late_group, "late")
                arrays.append(late)
                counts[late.path] = 0
                # SWMR resumes by itself once structure changes stop coming.
                with anyio.fail_after(10):
                    while not saver.statistics().swmr_active:
                        await anyio.sleep(0.01)  # polling the writer's state
                for round_index in range(rounds_before, rounds_before + rounds_after):
                    await produce(round_index)
                await saver.flush()
                await reader.stdin.send(b"stop\n")
                with anyio.fail_after(10):
                    await link.wait_for(lambda: link.summary is not None, "its summary")
                # The writer closes while the reader process still holds the file open.
                with anyio.fail_after(10):
                    await saver.aclose()
                await reader.stdin.send(b"exit\n")
                with anyio.fail_after(10):
                    returncode = await reader.wait()

    summary = link.summary
    assert summary is not None
    stderr = (tmp_path / "reader.err").read_text()
    assert returncode == 0, stderr
    assert link.events[-1] == {"event": "closed"}
    assert summary["read_errors"] == 0, summary["errors"]
    assert summary["final"] == counts
    for path, seen in link.rows.items():
        assert seen == sorted(seen), f"{path}: row counts went down: {seen}"
    for array in arrays[:2]:
        assert len(link.rows[array.path]) >= rounds_before + rounds_after, link.rows
    assert late.path in link.rows
    assert len(link.rows[late.path]) >= rounds_after

    assert _staging_arrays(h5_path) == []
    data, file_logs = pymodaq_read(h5_path, [array.path for array in arrays])
    for array in arrays:
        expected = np.repeat(np.arange(counts[array.path], dtype=np.float64), ROW_SHAPE[0])
        np.testing.assert_array_equal(data[array.path], expected.reshape(-1, *ROW_SHAPE))
    assert counts[late.path] == rounds_after * rows_per_round
    assert file_logs == logs


@pytest.mark.timeout(60)
async def test_swmr_reader_sees_staged_log_lines_and_a_logger_that_never_grows(
    tmp_path: Path, h5_path: Path
) -> None:
    """While SWMR is on, log lines go to the fixed-width Logger staging array, where another
    process reads them as they come; the variable-length Logger keeps its shape until close."""
    # With swmr=True the first append, a log line too, turns SWMR on: these are staged as well.
    before = ["before start_swmr 1", "before start_swmr 2"]
    during = [
        f"line {index}: " + "ü" * (index * 17) + ("\0tail" if index % 7 == 0 else "")
        for index in range(30)
    ]
    link = ReaderLink()
    with (tmp_path / "reader.err").open("wb") as reader_err:
        async with AsyncH5Saver.open(h5_path, swmr=True, flush_period=0.05) as saver:
            for line in before:
                await saver.add_log(line)
            await saver.start_swmr()
            command = _reader_command(tmp_path, h5_path, "--logger")
            async with (
                await anyio.open_process(
                    command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=reader_err
                ) as reader,
                anyio.create_task_group() as tg,
            ):
                assert reader.stdin is not None
                assert reader.stdout is not None
                tg.start_soon(link.pump, reader.stdout)
                with anyio.fail_after(30):
                    await link.ready.wait()
                for written, line in enumerate(during, start=1):
                    await saver.add_log(line)
                    await anyio.sleep(0.002)  # pacing only
                    if written % 6 == 0:
                        staged = len(before) + written
                        with anyio.fail_after(10):
                            await link.wait_for(
                                lambda n=staged: (
                                    bool(link.staged_counts) and link.staged_counts[-1] >= n
                                ),
                                f"it saw {staged} staged lines",
                            )
                await saver.flush()
                await reader.stdin.send(b"stop\n")
                with anyio.fail_after(10):
                    await link.wait_for(lambda: link.summary is not None, "its summary")
                await saver.aclose()
                await reader.stdin.send(b"exit\n")
                with anyio.fail_after(10):
                    returncode = await reader.wait()

    summary = link.summary
    assert summary is not None
    assert returncode == 0, (tmp_path / "reader.err").read_text()
    assert summary["read_errors"] == 0, summary["errors"]
    assert summary["logger_shapes"] == [0]
    assert summary["staged"] == before + during
    assert len(set(link.staged_counts)) >= len(during) // 6
    assert link.staged_counts == sorted(link.staged_counts)
    assert _staging_arrays(h5_path) == []
    _, file_logs = pymodaq_read(h5_path, [])
    assert file_logs == before + during
