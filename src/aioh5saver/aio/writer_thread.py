"""WriterThread: the one thread that runs the writer's synchronous calls, for a saver's life.

The event loop side submits functions with :meth:`WriterThread.run`; the thread runs them in
order and answers on the event loop with a callback it schedules there (``call_soon_threadsafe``
on asyncio, the trio token's ``run_sync_soon`` on trio), so it never waits for the loop. One
thread keeps the writer's thread identity and its memory arena the same from batch to batch, as
a worker pool would not.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, TypeVar, TypeVarTuple, Unpack, cast

import anyio
import anyio.lowlevel

from aioh5saver.errors import SaverClosedError

__all__ = ["WriterThread"]

R = TypeVar("R")
Ts = TypeVarTuple("Ts")

# The loop's thread-safe way to schedule a callback on it: (callback, *args) -> None.
_Scheduler = Callable[..., object]


class _Job:
    """One function for the thread, and its answer once the thread has run it."""

    __slots__ = ("answered", "args", "error", "function", "last", "result", "waiting")

    def __init__(
        self, function: Callable[..., Any], args: tuple[Any, ...], *, last: bool = False
    ) -> None:
        self.function = function
        self.args = args
        # The thread ends once it has answered this job.
        self.last = last
        self.answered = anyio.Event()
        # False once the awaiting coroutine is gone: its answer is then dropped.
        self.waiting = True
        self.result: Any = None
        self.error: BaseException | None = None


def _answer(job: _Job, result: object, error: BaseException | None) -> None:
    """On the event loop: give the job its answer if its caller still waits for it."""
    if job.waiting:
        job.result = result
        job.error = error
        job.answered.set()


def _serve(jobs: SimpleQueue[_Job | None], schedule: _Scheduler) -> None:
    """On the writer thread: run the jobs in order until the last one (or ``None``)."""
    while (job := jobs.get()) is not None:
        result: object = None
        error: BaseException | None = None
        try:
            # In the thread's own context, not the caller's: the caller's says which async
            # library runs, and the thread runs none.
            result = job.function(*job.args)
        except BaseException as exc:  # crosses to the caller as it is
            error = exc
        try:
            schedule(_answer, job, result, error)
        except RuntimeError:
            # The event loop has closed (a run ended without closing the saver): nobody is
            # left to answer, and nobody will send another job.
            return
        if job.last:
            return
        # Hold nothing of this job while waiting for the next one.
        del job, result, error


def _current_scheduler() -> _Scheduler:
    """The running event loop's thread-safe way to schedule a callback on it: the loop that
    anyio runs on, so that the callback can set anyio's events."""
    native = anyio.lowlevel.current_token().native_token
    if isinstance(native, asyncio.AbstractEventLoop):
        return native.call_soon_threadsafe
    import trio  # only here: the saver runs on trio

    return cast(trio.lowlevel.TrioToken, native).run_sync_soon


class WriterThread:
    """A thread named ``name``, started by :meth:`start` on the event loop that will await its
    answers, and ended by :meth:`aclose`; also ended if this object is collected unclosed."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs: SimpleQueue[_Job | None] = SimpleQueue()
        self._thread: threading.Thread | None = None
        self._ender: weakref.finalize[..., Any] | None = None

    @property
    def ident(self) -> int | None:
        """The thread's identifier (None before :meth:`start`)."""
        return None if self._thread is None else self._thread.ident

    def start(self) -> None:
        """Start the thread; call it on the event loop that will await :meth:`run`."""
        # Daemon: a thread left waiting by an event loop abandoned without closing the saver
        # must not keep the process from exiting.
        thread = threading.Thread(
            target=_serve, args=(self._jobs, _current_scheduler()), name=self.name, daemon=True
        )
        thread.start()
        self._thread = thread
        # The thread holds the queue, not this object: collected unclosed, it still ends.
        self._ender = weakref.finalize(self, self._jobs.put, None)

    async def run(self, function: Callable[[Unpack[Ts]], R], *args: *Ts) -> R:
        """Run ``function(*args)`` on the thread after the jobs before it; return its result or
        raise its exception.

        As ``anyio.to_thread.run_sync`` without abandoning: a caller cancelled before this call
        raises at once; cancelled while the function runs, it waits for the function to end and
        returns its result, and the cancellation is raised at its next checkpoint (a cancel
        that bypasses anyio's scopes is raised once the function has ended).
        """
        await anyio.lowlevel.checkpoint_if_cancelled()
        if self._thread is None:
            name = getattr(function, "__name__", repr(function))
            raise SaverClosedError(
                f"{name}: expected a running writer thread, got one not started or already "
                "stopped (the saver is closed)"
            )
        job = _Job(function, args)
        self._jobs.put(job)
        await _wait_for(job)
        error = job.error
        if error is not None:
            try:
                raise error
            finally:
                # The traceback holds this frame: drop the cycle through it.
                del error, job
        return cast(R, job.result)

    async def aclose(self) -> None:
        """Let the jobs submitted so far run, then end the thread; return once it has ended.
        Shielded from cancellation, and does nothing if the thread is not running."""
        thread, self._thread = self._thread, None
        if self._ender is not None:
            self._ender.detach()
        if thread is None or not thread.is_alive():
            return
        job = _Job(_nothing, (), last=True)
        self._jobs.put(job)
        await _wait_for(job)
        # The thread has answered its last job: what is left of it takes microseconds.
        thread.join()


async def _wait_for(job: _Job) -> None:
    """Wait for the job's answer, even if cancelled meanwhile: its function is never cut
    short, so its caller never runs on while the writer still works for it."""
    try:
        with anyio.CancelScope(shield=True):
            await job.answered.wait()
    except GeneratorExit:
        # The coroutine is being closed unfinished: it can await nothing more.
        job.waiting = False
        raise
    except BaseException:
        # Cancelled by a native asyncio cancel or interrupted: wait, then raise it.
        with anyio.CancelScope(shield=True):
            await job.answered.wait()
        raise


def _nothing() -> None:
    """The thread's last job: everything queued before it has run."""
