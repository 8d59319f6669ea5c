"""AsyncH5Saver when the file fails underneath it: an injected I/O error or full disk breaks the
writer, every pending and later call raises WriterBrokenError (chained to the failure) and
nothing hangs; a real full disk (RLIMIT_FSIZE) in a child process does the same; an error only
the writer sees is raised by the next flush() and the saver keeps working."""

from __future__ import annotations

import errno
import json
import os
import sys
import textwrap
import threading
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import h5py
import numpy as np
import pytest

import aioh5saver
from aioh5saver import AsyncH5Saver, NodeRef, SaverError, WriterBrokenError
from aioh5saver.aio.batch_runner import BatchRunner
from aioh5saver.engine.h5py_append import ArrayWriter
from aioh5saver.sync.nodes import EARRAY

pytestmark = pytest.mark.anyio

ROW_SHAPE = (4,)


class Gate:
    """A thread-side failure that waits, inside the writer's worker thread, until the test has
    queued its calls behind it, then raises ``error``. The first ``successes`` calls pass."""

    def __init__(self, error: BaseException, successes: int = 0) -> None:
        self.error = error
        self.successes = successes
        self.calls = 0
        self.entered = threading.Event()
        self.release = threading.Event()

    def wrap(self, original: Callable[..., Any]) -> Callable[..., Any]:
        """``original`` with the failure injected after ``successes`` calls."""

        def failing(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls <= self.successes:
                return original(*args, **kwargs)
            self.entered.set()
            if not self.release.wait(10):
                raise TimeoutError("the test never released the injected failure")
            raise self.error

        return failing

    async def wait_entered(self) -> None:
        """Wait until the writer thread is inside the failing call."""
        entered = await anyio.to_thread.run_sync(self.entered.wait, 10)
        assert entered, "the writer never reached the injected failure"


async def _array(saver: AsyncH5Saver, name: str = "data") -> NodeRef:
    return await saver.add_array(
        saver.raw_group,
        name,
        "data_enlargeable",
        data_shape=ROW_SHAPE,
        array_type=np.int64,
        enlargeable=True,
        data_dimension="Data1D",
    )


def _row(value: int) -> np.ndarray:
    return np.full(ROW_SHAPE, value, dtype=np.int64)


async def _wait_until(condition: Callable[[], bool]) -> None:
    while not condition():
        await anyio.lowlevel.checkpoint()


def _raises_at_once(call: Coroutine[Any, Any, Any]) -> WriterBrokenError:
    """Run ``call`` up to its first suspension: it must raise WriterBrokenError before that."""
    try:
        call.send(None)
    except WriterBrokenError as exc:
        return exc
    except StopIteration:
        pytest.fail("expected WriterBrokenError at once, got a call that completed")
    finally:
        call.close()
    pytest.fail("expected WriterBrokenError at once, got a call that waited")


async def _queue_behind_failure(
    saver: AsyncH5Saver, gate: Gate, calls: dict[str, Callable[[], Awaitable[Any]]]
) -> dict[str, BaseException | None]:
    """Start ``calls`` while the writer thread is held in the failing call, wait until all are
    queued, release the failure and collect what each call raised."""
    outcome: dict[str, BaseException | None] = {}

    async def run(name: str, call: Callable[[], Awaitable[Any]]) -> None:
        try:
            await call()
        except Exception as exc:
            outcome[name] = exc
        else:
            outcome[name] = None

    await gate.wait_entered()
    async with anyio.create_task_group() as tg:
        for name, call in calls.items():
            tg.start_soon(run, name, call)
        await _wait_until(lambda: saver.statistics().ops_queued == len(calls))
        gate.release.set()
    return outcome


def _assert_later_calls_raise_at_once(
    saver: AsyncH5Saver, array: NodeRef, cause: BaseException
) -> None:
    later = {
        "append": _raises_at_once(saver.append(array, _row(99))),
        "flush": _raises_at_once(saver.flush()),
        "add_det_group": _raises_at_once(saver.add_det_group(saver.raw_group)),
    }
    for name, exc in later.items():
        assert exc.__cause__ is cause, f"{name}: {exc!r} is not chained to {cause!r}"
    assert saver.statistics().ops_queued == 0


@pytest.mark.timeout(30)
async def test_io_error_in_an_append_breaks_every_pending_and_later_call(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An EIO while writing rows fails the flushes and get_node queued behind it, and every
    later call at once, with WriterBrokenError chained to that OSError; leaving raises it too."""
    gate = Gate(OSError(errno.EIO, "Input/output error (injected)"), successes=3)
    monkeypatch.setattr(ArrayWriter, "append", gate.wrap(ArrayWriter.append))

    async def session() -> None:
        async with AsyncH5Saver.open(h5_path) as saver:
            array = await _array(saver)
            for index in range(3):
                await saver.append(array, _row(index))
                await saver.flush()
            await saver.append(array, _row(3))  # accepted; its write fails
            outcome = await _queue_behind_failure(
                saver,
                gate,
                {
                    "flush 1": saver.flush,
                    "flush 2": saver.flush,
                    "flush 3": saver.flush,
                    "get_node": lambda: saver.get_node(array),
                },
            )
            for name, exc in outcome.items():
                assert isinstance(exc, WriterBrokenError), f"{name} got {exc!r}"
                assert exc.__cause__ is gate.error, name
            _assert_later_calls_raise_at_once(saver, array, gate.error)

    with anyio.fail_after(10), pytest.raises(WriterBrokenError) as left:
        await session()
    assert left.value.__cause__ is gate.error
    assert isinstance(left.value, SaverError)
    assert isinstance(left.value, OSError)
    assert gate.calls == 4


@pytest.mark.timeout(30)
async def test_full_disk_in_a_periodic_flush_breaks_every_pending_and_later_call(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ENOSPC in the flush that flush_period starts (no caller awaits it) fails the calls
    queued behind it and every later call with WriterBrokenError chained to that OSError."""
    gate = Gate(OSError(errno.ENOSPC, "No space left on device (injected)"))
    original_flush = aioh5saver.H5SaverLowLevel.flush

    async def session() -> None:
        async with AsyncH5Saver.open(h5_path, flush_period=0.05) as saver:
            array = await _array(saver)
            await saver.append(array, _row(0))
            await saver.flush()
            monkeypatch.setattr(aioh5saver.H5SaverLowLevel, "flush", gate.wrap(original_flush))
            await saver.append(array, _row(1))  # flushed by the writer within flush_period
            outcome = await _queue_behind_failure(
                saver,
                gate,
                {
                    "flush 1": saver.flush,
                    "flush 2": saver.flush,
                    "get_node": lambda: saver.get_node(array),
                },
            )
            for name, exc in outcome.items():
                assert isinstance(exc, WriterBrokenError), f"{name} got {exc!r}"
                assert exc.__cause__ is gate.error, name
            assert gate.error.errno == errno.ENOSPC
            _assert_later_calls_raise_at_once(saver, array, gate.error)

    with anyio.fail_after(10), pytest.raises(WriterBrokenError) as left:
        await session()
    assert left.value.__cause__ is gate.error


class BodyError(Exception):
    """Raised by a test's ``async with`` body."""


@pytest.mark.timeout(30)
async def test_leaving_a_broken_saver_keeps_the_body_exception(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the body of ``async with`` raises after the writer broke, that exception leaves the
    block, not the WriterBrokenError of closing."""

    def failing_flush(self: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device (injected)")

    async def session() -> None:
        async with AsyncH5Saver.open(h5_path) as saver:
            array = await _array(saver)
            await saver.append(array, _row(0))
            monkeypatch.setattr(aioh5saver.H5SaverLowLevel, "flush", failing_flush)
            with pytest.raises(WriterBrokenError):
                await saver.flush()
            raise BodyError("the body failed after the writer broke")

    with anyio.fail_after(10), pytest.raises(BodyError, match="after the writer broke"):
        await session()


@pytest.mark.timeout(30)
async def test_leaving_a_broken_saver_releases_the_file(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a broken saver has left ``async with``, its file is closed: another process can
    open it, and reads what was flushed before the failure."""

    def failing_flush(self: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device (injected)")

    saver = AsyncH5Saver.open(h5_path)
    with anyio.fail_after(10), pytest.raises(WriterBrokenError):
        async with saver:
            array = await _array(saver)
            await saver.append(array, _row(7))
            await saver.flush()
            monkeypatch.setattr(aioh5saver.H5SaverLowLevel, "flush", failing_flush)
            await saver.flush()
    script = (
        "import sys, h5py\n"
        "with h5py.File(sys.argv[1], 'r') as f:\n"
        "    print(f[sys.argv[2]][()].tolist())\n"
    )
    with anyio.fail_after(30):
        result = await anyio.run_process(
            [sys.executable, "-c", script, str(h5_path), array.path], check=False
        )
    # ``saver`` is still referenced here: the file must be closed by leaving, not by GC.
    assert result.returncode == 0, result.stderr.decode()
    assert json.loads(result.stdout) == [[7] * ROW_SHAPE[0]]
    assert saver.statistics().ops_queued == 0


DISK_FULL_CHILD = textwrap.dedent(
    """
    import json
    import resource
    import signal
    import sys
    import time

    import anyio
    import numpy as np

    from aioh5saver import AsyncH5Saver, WriterBrokenError

    PATH, BACKEND, LIMIT, SWMR = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
    if sys.argv[5] == "unguarded":
        # As if another process filled the disk between two batches: the write really fails.
        from aioh5saver.engine.space import SpaceGuard

        SpaceGuard.fits = lambda self, nbytes: True
        SpaceGuard.claim = lambda self, nbytes, action, kept_for_fold=0: None


    def report(**event):
        sys.stdout.write(json.dumps(event) + "\\n")
        sys.stdout.flush()


    def describe(exc):
        cause = exc.__cause__
        return {
            "type": type(exc).__name__,
            "broken": isinstance(exc, WriterBrokenError),
            "cause": None if cause is None else f"{type(cause).__name__}: {cause}",
            "cause_errno": getattr(cause, "errno", None),
        }


    async def main():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, resource.RLIM_INFINITY))
        start = time.monotonic()
        failure = None
        acked = {"rows": 0, "logs": 0}
        try:
            async with AsyncH5Saver.open(PATH, swmr=SWMR) as saver:
                array = await saver.add_array(
                    saver.raw_group, "big", "data_enlargeable", data_shape=(8192,),
                    array_type="float64", enlargeable=True, data_dimension="Data1D",
                )
                for index in range(4 * LIMIT // 65536):
                    try:
                        await saver.append(array, np.full(8192, float(index)))
                        await saver.add_log(f"row {index}")
                        await saver.flush()
                    except Exception as exc:
                        failure = {"index": index, **describe(exc)}
                        break
                    acked = {"rows": index + 1, "logs": index + 1}
                report(event="first_failure", seconds=time.monotonic() - start,
                       failure=failure, acked=acked)
                later = {}
                for name, call in (
                    ("append", lambda: saver.append(array, np.zeros(8192))),
                    ("flush", saver.flush),
                    ("add_det_group", lambda: saver.add_det_group(saver.raw_group)),
                ):
                    try:
                        await call()
                    except Exception as exc:
                        later[name] = describe(exc)
                    else:
                        later[name] = None
                report(event="later", calls=later)
        except Exception as exc:
            report(event="left", **describe(exc))
        else:
            report(event="left", type=None)
        # The process goes on working with HDF5: a second, small file.
        async with AsyncH5Saver.open(PATH + ".next.h5") as saver:
            array = await saver.add_array(
                saver.raw_group, "small", "data_enlargeable", data_shape=(4,),
                array_type="float64", enlargeable=True, data_dimension="Data1D",
            )
            await saver.append(array, np.arange(4.0))
        report(event="done", seconds=time.monotonic() - start)


    anyio.run(main, backend=BACKEND)
    """
)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("swmr", [False, True], ids=["plain", "swmr"])
async def test_real_full_disk_in_a_child_process_breaks_the_writer_and_the_process_survives(
    tmp_path: Path, anyio_backend: str, swmr: bool
) -> None:
    """With RLIMIT_FSIZE making the disk "full", a child writing with AsyncH5Saver gets
    WriterBrokenError (chained to an EFBIG OSError: the write was refused before it could fail)
    from then on, quickly; it goes on using HDF5 and exits normally (h5py 3.16 / HDF5 2.0
    segfault when a file whose write failed is released). The file is whole without recover:
    every row and log line acknowledged by a flush is there, intact, in order."""
    path = tmp_path / "full.h5"
    limit = 4 * 2**20
    events = await _run_disk_full_child(tmp_path, path, anyio_backend, limit, swmr, "guarded")
    failure = events["first_failure"]["failure"]
    acked = events["first_failure"]["acked"]
    assert failure is not None, "the child filled its limit without any error"
    assert failure["broken"]
    assert failure["cause_errno"] == errno.EFBIG, failure
    assert "refused before writing" in failure["cause"], failure
    assert acked["rows"] > 0, "expected some rows to fit before the disk was full"
    assert events["first_failure"]["seconds"] < 30
    for name, later in events["later"]["calls"].items():
        assert later is not None, f"{name} succeeded on a broken saver"
        assert later["broken"], (name, later)
        assert later["cause"] == failure["cause"], name
    assert events["left"]["broken"]
    assert path.stat().st_size <= limit

    with h5py.File(path, "r") as file:
        rows = file["RawData/Big"][()]
        assert not file.attrs.get("swmr_active", False)
    reader = aioh5saver.H5SaverLowLevel.from_file(path, new_file=False, mode="r")
    try:
        logs = list(reader.get_set_logger().read())
    finally:
        reader.close_file()
    assert rows.shape[0] >= acked["rows"]
    np.testing.assert_array_equal(rows[:, 0], np.arange(rows.shape[0]))
    assert (rows == rows[:, :1]).all(), "a row holds values of another row"
    assert len(logs) >= acked["logs"]
    assert logs == [f"row {index}" for index in range(len(logs))]
    report = aioh5saver.recover(path)
    assert not report.changed, aioh5saver.render_recovery(report)


async def _run_disk_full_child(
    tmp_path: Path, path: Path, backend: str, limit: int, swmr: bool, guard: str
) -> dict[str, Any]:
    """Run DISK_FULL_CHILD; it must exit normally, having reported every step."""
    script = tmp_path / "disk_full_child.py"
    script.write_text(DISK_FULL_CHILD)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, str(script), str(path), backend, str(limit), str(int(swmr)), guard]
    with anyio.fail_after(60):
        result = await anyio.run_process(command, check=False, env=env)
    stdout = result.stdout.decode()
    stderr = result.stderr.decode()
    assert result.returncode == 0, (result.returncode, stdout, stderr[-3000:])
    events = {event["event"]: event for event in map(json.loads, stdout.splitlines())}
    assert list(events) == ["first_failure", "later", "left", "done"], (stdout, stderr[-2000:])
    return events


@pytest.mark.timeout(90)
async def test_a_write_that_really_fails_leaves_the_process_running_and_the_file_recoverable(
    tmp_path: Path, anyio_backend: str
) -> None:
    """When a write fails for real (the disk filled by someone else between two batches), the
    writer breaks, the file is let go of without being closed (closing it would crash the
    process), the child goes on using HDF5 and exits normally; after recover, every row the
    child's flushes acknowledged is there, intact."""
    path = tmp_path / "failed.h5"
    events = await _run_disk_full_child(tmp_path, path, anyio_backend, 4 * 2**20, True, "unguarded")
    failure = events["first_failure"]["failure"]
    acked = events["first_failure"]["acked"]
    assert failure is not None
    assert failure["broken"], failure
    assert "refused before writing" not in failure["cause"]
    assert failure["cause_errno"] == errno.EFBIG or "errno = 27" in failure["cause"], failure
    assert acked["rows"] > 0
    assert events["left"]["broken"]

    report = aioh5saver.recover(path)
    assert report.changed, aioh5saver.render_recovery(report)
    with h5py.File(path, "r") as file:
        rows = file["RawData/Big"][()]
    assert rows.shape[0] >= acked["rows"]
    np.testing.assert_array_equal(rows[: acked["rows"], 0], np.arange(acked["rows"]))
    assert (rows == rows[:, :1]).all(), "a row holds values of another row"
    # A row the failed write was writing is whole or, where its chunk never reached the disk,
    # reads as the fill value (0).
    for index in range(acked["rows"], rows.shape[0]):
        assert rows[index, 0] in (index, 0), (index, rows[index, 0])


class FakeDisk:
    """``os.statvfs`` for a disk of ``capacity`` bytes that holds nothing but the file at
    ``path``."""

    def __init__(self, path: Path, capacity: int) -> None:
        self.path = path
        self.capacity = capacity
        self.real = os.statvfs

    def statvfs(self, where: Any) -> os.statvfs_result:
        real = self.real(where)
        if Path(where) != self.path.parent:
            return real
        used = self.path.stat().st_size if self.path.exists() else 0
        blocks = max(self.capacity - used, 0) // real.f_frsize
        fields = list(real)
        fields[3] = fields[4] = blocks  # f_bfree, f_bavail
        return os.statvfs_result(fields)


@pytest.mark.timeout(30)
async def test_a_disk_about_to_fill_breaks_every_producer_before_any_write_fails(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the disk has too little room left for the next write, the writer refuses it with
    ENOSPC before HDF5 writes anything: every producer, pending or later, gets
    WriterBrokenError chained to that OSError, and the file closes whole within the disk,
    holding every row the producers' acknowledged flushes covered."""
    capacity = 4 * 2**20
    monkeypatch.setattr(os, "statvfs", FakeDisk(h5_path, capacity).statvfs)
    row_shape = (256,)  # 2 KiB rows, in 64 KiB chunks: the disk fills after a few hundred
    acked: dict[int, int] = {}
    outcome: dict[int, BaseException] = {}

    async def produce(saver: AsyncH5Saver, array: NodeRef, producer: int) -> None:
        try:
            for index in range(10_000):
                await saver.append(array, np.full(row_shape, producer * 100_000 + index))
                if index % 10 == 9:
                    await saver.flush()
                    acked[producer] = index + 1
        except WriterBrokenError as exc:
            outcome[producer] = exc

    saver = AsyncH5Saver.open(h5_path)
    with anyio.fail_after(20), pytest.raises(WriterBrokenError) as left:
        async with saver:
            arrays = [
                await saver.add_array(
                    saver.raw_group,
                    f"data{producer}",
                    "data_enlargeable",
                    data_shape=row_shape,
                    array_type=np.int64,
                    enlargeable=True,
                    data_dimension="Data1D",
                )
                for producer in range(8)
            ]
            async with anyio.create_task_group() as tg:
                for producer, array in enumerate(arrays):
                    tg.start_soon(produce, saver, array, producer)
    cause = left.value.__cause__
    assert isinstance(cause, OSError)
    assert cause.errno == errno.ENOSPC
    assert "refused before writing" in str(cause)
    assert sorted(outcome) == list(range(8)), "every producer must see the writer break"
    assert all(exc.__cause__ is cause for exc in outcome.values())
    assert h5_path.stat().st_size <= capacity
    with h5py.File(h5_path, "r") as file:
        for producer, array in enumerate(arrays):
            rows = file[array.path][()]
            assert rows.shape[0] >= acked.get(producer, 0) > 0
            np.testing.assert_array_equal(rows[:, 0], producer * 100_000 + np.arange(rows.shape[0]))
            assert (rows == rows[:, :1]).all()
    assert not aioh5saver.recover(h5_path).changed


@pytest.mark.timeout(30)
async def test_append_error_only_the_writer_sees_is_raised_by_the_next_flush(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer-side failure to write one array's rows leaves the other arrays' rows written,
    is raised by the next flush() (once, as it was raised), and the saver keeps working."""
    original = BatchRunner._append_rows
    failing_paths: set[str] = set()
    injected: list[ValueError] = []

    def append_rows(self: BatchRunner, node: EARRAY, ops: list[Any]) -> None:
        if node.path in failing_paths:
            injected.append(ValueError(f"injected failure writing {node.path}"))
            raise injected[-1]
        original(self, node, ops)

    monkeypatch.setattr(BatchRunner, "_append_rows", append_rows)
    with anyio.fail_after(10):
        async with AsyncH5Saver.open(h5_path) as saver:
            first, bad, second = [await _array(saver, name) for name in ("first", "bad", "second")]
            failing_paths.add(bad.path)
            for index in range(5):
                for array in (first, bad, second):
                    await saver.append(array, _row(index))
            with pytest.raises(ValueError, match="injected failure writing") as raised:
                await saver.flush()
            assert raised.value is injected[0]
            assert not isinstance(raised.value, WriterBrokenError)
            expected = np.stack([_row(index) for index in range(5)])
            np.testing.assert_array_equal(await saver.read(first), expected)
            np.testing.assert_array_equal(await saver.read(second), expected)
            assert (await saver.read(bad)).shape == (0, *ROW_SHAPE)

            await saver.flush()  # the error was raised once
            failing_paths.clear()
            await saver.append(bad, _row(42))
            await saver.append(first, _row(5))
            await saver.flush()
            np.testing.assert_array_equal(await saver.read(bad), _row(42)[np.newaxis])
            assert saver.statistics().rows_appended == 5 + 5 + 1 + 1
    with h5py.File(h5_path, "r") as file:
        assert file[first.path].shape == (6, *ROW_SHAPE)
        assert file[second.path].shape == (5, *ROW_SHAPE)
        assert file[bad.path].shape == (1, *ROW_SHAPE)
