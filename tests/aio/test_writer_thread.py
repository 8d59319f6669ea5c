"""The writer thread: one named thread runs every call of a saver's life, in order; it answers
the caller still waiting (after its function has ended, even if the caller was cancelled), with
the exception as raised; and it ends with the saver, on every path, on asyncio and trio."""

from __future__ import annotations

import gc
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import h5py
import numpy as np
import pytest

from aioh5saver import AsyncH5Saver, CorruptFileError, NodeRef, SaverClosedError
from aioh5saver.aio.batch_runner import BatchRunner
from aioh5saver.aio.ops import FlushOp, Op
from aioh5saver.aio.writer_thread import WriterThread, _Job

pytestmark = pytest.mark.anyio

NAME = "aioh5saver writer test"


class _InjectedError(Exception):
    """Raised by a function on the writer thread."""


async def _array(saver: AsyncH5Saver) -> NodeRef:
    return await saver.add_array(
        saver.raw_group,
        "e",
        "data_enlargeable",
        data_shape=(2,),
        array_type=np.int64,
        enlargeable=True,
        data_dimension="Data1D",
    )


def _record_threads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, threading.Thread]]:
    """Patch the batch runner's thread-side entry points to record (entry, thread) and call
    through."""
    calls: list[tuple[str, threading.Thread]] = []

    def recording(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def record(*args: Any) -> Any:
            calls.append((name, threading.current_thread()))
            return original(*args)

        return record

    for name in ("open", "execute", "reopen_after_copy"):
        monkeypatch.setattr(BatchRunner, name, recording(name, getattr(BatchRunner, name)))
    return calls


def _alive_named(name: str) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == name]


# -- the saver's thread ---------------------------------------------------------------------------


async def test_every_call_of_a_savers_life_runs_on_one_thread_named_for_its_file_gone_after_close(
    h5_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The open, every batch, the reopen after a copy and the close run on one thread, not the
    event loop's, named "aioh5saver writer <file>"; once the saver is closed it has ended."""
    calls = _record_threads(monkeypatch)
    async with AsyncH5Saver.open(h5_path) as saver:
        array = await _array(saver)
        for row in range(5):
            await saver.append(array, np.array([row, row]))
            await saver.flush()
        await saver.save_file(tmp_path / "copy.h5")
        await saver.append(array, np.array([5, 5]))
    entries = [entry for entry, _ in calls]
    assert entries[0] == "open"
    assert "reopen_after_copy" in entries
    assert entries.count("execute") >= 7  # add_array, 5 flushes, the copy, the close
    threads = {thread for _, thread in calls}
    assert len(threads) == 1
    (writer,) = threads
    assert writer is not threading.current_thread()
    assert writer.name == f"aioh5saver writer {h5_path}"
    assert not writer.is_alive()
    assert _alive_named(writer.name) == []
    with h5py.File(h5_path, "r") as file:
        assert file["RawData/E"].shape == (6, 2)


async def test_a_failed_open_raises_its_error_and_ends_the_thread(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An open that fails on the writer thread (a file that is not HDF5) raises its own error
    to ``async with``, and the thread has ended by then."""
    h5_path.write_bytes(b"not an HDF5 file" * 64)
    calls = _record_threads(monkeypatch)
    with pytest.raises(CorruptFileError, match="expected an HDF5 file"):
        async with AsyncH5Saver.open(h5_path, new_file=False):
            pytest.fail("a saver of a file that is not HDF5 opened")
    ((entry, writer),) = calls
    assert entry == "open"
    assert writer.name == f"aioh5saver writer {h5_path}"
    assert not writer.is_alive()


async def test_a_writer_cancelled_from_outside_closes_the_file_on_its_thread_then_ends_it(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancellation from outside the saver that reaches the idle writer task first: the
    writer closes the file itself, on its thread, and the thread has ended once ``async with``
    is left."""
    calls = _record_threads(monkeypatch)
    with anyio.fail_after(20), anyio.CancelScope() as outside:
        async with AsyncH5Saver.open(h5_path) as saver:
            array = await _array(saver)
            await saver.append(array, np.array([1, 1]))
            await saver.flush()
            outside.cancel()
            with anyio.CancelScope(shield=True):
                while not saver._writer.stopped:  # the writer saw its cancellation first
                    await anyio.lowlevel.checkpoint()
    assert outside.cancelled_caught
    assert saver._writer.runner.closed
    threads = {thread for _, thread in calls}
    assert len(threads) == 1
    assert not threads.pop().is_alive()
    with h5py.File(h5_path, "r") as file:
        assert file["RawData/E"].shape == (1, 2)


async def test_calls_queued_when_the_saver_is_cancelled_from_outside_all_get_answers(
    h5_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Calls from tasks outside the cancelled scope, queued behind a batch still running when
    the saver's scope is cancelled, all get an answer (a result or SaverClosedError) and the
    writer thread ends once ``async with`` is left."""
    entered, release = threading.Event(), threading.Event()
    threads: list[threading.Thread] = []
    original = BatchRunner.execute

    def held(self: BatchRunner, batch: list[Op], flush_deadline: float | None) -> None:
        threads.append(threading.current_thread())
        if not entered.is_set() and any(isinstance(op, FlushOp) for op in batch):
            entered.set()
            release.wait(20)
        original(self, batch, flush_deadline)

    monkeypatch.setattr(BatchRunner, "execute", held)
    outcomes: dict[str, object] = {}

    async def call(name: str, function: Callable[[], Awaitable[object]]) -> None:
        try:
            outcomes[name] = await function()
        except SaverClosedError as exc:
            outcomes[name] = exc

    with anyio.fail_after(20):
        async with anyio.create_task_group() as callers:
            with anyio.CancelScope() as outside:
                async with AsyncH5Saver.open(h5_path) as saver:
                    array = await _array(saver)
                    await saver.append(array, np.array([1, 1]))
                    callers.start_soon(call, "held flush", saver.flush)
                    await anyio.to_thread.run_sync(entered.wait)
                    callers.start_soon(call, "queued flush", saver.flush)
                    callers.start_soon(call, "queued get_node", lambda: saver.get_node(array))
                    while saver.statistics().ops_queued < 2:
                        await anyio.lowlevel.checkpoint()
                    outside.cancel()
                    release.set()
                    await anyio.sleep_forever()
    assert outside.cancelled_caught
    assert outcomes.keys() == {"held flush", "queued flush", "queued get_node"}
    assert outcomes["held flush"] is None
    assert outcomes["queued flush"] is None or isinstance(
        outcomes["queued flush"], SaverClosedError
    )
    assert outcomes["queued get_node"] == array or isinstance(
        outcomes["queued get_node"], SaverClosedError
    )
    assert len(set(threads)) == 1
    assert not threads[0].is_alive()
    with h5py.File(h5_path, "r") as file:
        assert file["RawData/E"].shape == (1, 2)


# -- WriterThread itself --------------------------------------------------------------------------


async def test_jobs_run_in_submission_order_on_one_thread() -> None:
    """Jobs submitted by many tasks while the thread is busy run in the order submitted, all on
    the thread, and each caller gets its own job's result."""
    started, release = threading.Event(), threading.Event()
    submitted: list[int] = []
    ran: list[tuple[int, int]] = []
    results: dict[int, int] = {}

    def hold() -> None:
        started.set()
        release.wait(20)

    def job(index: int) -> int:
        ran.append((index, threading.get_ident()))
        return index * 10

    async def submit(index: int) -> None:
        submitted.append(index)  # run() queues its job before it first yields
        results[index] = await writer.run(job, index)

    writer = WriterThread(NAME)
    writer.start()
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(writer.run, hold)
            await anyio.to_thread.run_sync(started.wait)
            for index in range(20):
                group.start_soon(submit, index)
            await anyio.wait_all_tasks_blocked()
            release.set()
        assert [index for index, _ in ran] == submitted
        assert {ident for _, ident in ran} == {writer.ident}
        assert results == {index: index * 10 for index in range(20)}
    finally:
        await writer.aclose()


async def test_a_cancelled_caller_waits_for_its_function_to_end_then_is_cancelled() -> None:
    """A caller cancelled while its function runs goes on waiting; once the function has ended
    it gets the result, and the cancellation is raised at its next checkpoint."""
    started, release = threading.Event(), threading.Event()
    events: list[str] = []
    scopes: list[anyio.CancelScope] = []

    def slow() -> int:
        started.set()
        release.wait(20)
        events.append("function ended")
        return 42

    async def caller() -> None:
        with anyio.CancelScope() as scope:
            scopes.append(scope)
            result = await writer.run(slow)
            events.append(f"caller got {result}")
            await anyio.lowlevel.checkpoint()
            events.append("caller not cancelled")
        events.append(f"cancellation caught: {scope.cancelled_caught}")

    writer = WriterThread(NAME)
    writer.start()
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(caller)
            await anyio.to_thread.run_sync(started.wait)
            scopes[0].cancel()
            await anyio.wait_all_tasks_blocked()
            assert events == []  # cancelled, and still waiting for the function
            release.set()
        assert events == ["function ended", "caller got 42", "cancellation caught: True"]
    finally:
        await writer.aclose()


async def test_an_exception_on_the_thread_reaches_the_caller_as_raised() -> None:
    """The exception a function raises on the thread is raised to its caller, the same object
    with its type; the thread goes on running later jobs."""
    error = _InjectedError("from the writer thread")

    def fail() -> None:
        raise error

    writer = WriterThread(NAME)
    writer.start()
    try:
        with pytest.raises(_InjectedError) as raised:
            await writer.run(fail)
        assert raised.value is error
        assert await writer.run(threading.get_ident) == writer.ident
    finally:
        await writer.aclose()


async def test_functions_run_outside_the_callers_event_loop_context() -> None:
    """A function on the thread runs in the thread's own context, not a copy of the caller's:
    anyio finds no event loop there (with the caller's context it would take the thread for
    the loop's and fail otherwise)."""

    def find_event_loop() -> object:
        return anyio.lowlevel.current_token()

    writer = WriterThread(NAME)
    writer.start()
    try:
        with pytest.raises(anyio.NoEventLoopError):
            await writer.run(find_event_loop)
    finally:
        await writer.aclose()


async def test_aclose_ends_the_thread_and_later_runs_raise_saver_closed() -> None:
    """aclose() returns once the thread has ended; run() afterwards raises SaverClosedError
    instead of queueing a job nothing would run."""
    writer = WriterThread(NAME)
    writer.start()
    thread = writer._thread
    assert thread is not None
    assert thread.is_alive()
    await writer.aclose()
    assert not thread.is_alive()
    assert _alive_named(NAME) == []
    with pytest.raises(SaverClosedError, match="expected a running writer thread"):
        await writer.run(threading.get_ident)
    await writer.aclose()  # closing again does nothing


async def test_a_writer_thread_collected_without_aclose_still_ends() -> None:
    """A WriterThread dropped without aclose() ends its thread when it is collected."""
    writer = WriterThread(NAME)
    writer.start()
    thread = writer._thread
    assert thread is not None
    del writer
    gc.collect()
    await anyio.to_thread.run_sync(thread.join, 20.0)
    assert not thread.is_alive()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_job_ending_after_its_event_loop_has_gone_ends_the_thread_quietly(backend: str) -> None:
    """A job still running when its event loop ends (the run left without closing) drops its
    answer and ends the thread, without an exception in the thread or a thread left waiting.
    A plain test that starts its own runs, one per backend: the loop must end under the job."""
    release = threading.Event()
    kept: list[WriterThread] = []  # kept alive: only the loop's end may stop the thread

    async def leave_a_job_running() -> None:
        writer = WriterThread(NAME)
        writer.start()
        kept.append(writer)
        writer._jobs.put(_Job(release.wait, (20.0,)))  # queued, and never awaited

    anyio.run(leave_a_job_running, backend=backend)
    thread = kept[0]._thread
    assert thread is not None
    assert thread.is_alive()
    release.set()
    thread.join(20)
    assert not thread.is_alive()
