"""AsyncH5Saver: the async facade. Every method is a thin hop to the writer.

Appends are checked here, on the event-loop thread, against the array's row shape and dtype
(a bad row raises at the call), copied, and accepted into the queue without waiting for the
disk; everything else waits for its answer from the writer thread. NodeRefs belong to the
saver that made them: one made by another saver is refused (its path string is not).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import anyio
import anyio.lowlevel
import numpy as np

from aioh5saver.aio.new_file import check_new_file
from aioh5saver.aio.noderef import NodeRef, where_path
from aioh5saver.aio.ops import (
    CALL_OVERHEAD_BYTES,
    CallOp,
    CloseOp,
    FlushOp,
    SaveCopyOp,
    SwmrOp,
    bytes_alike,
)
from aioh5saver.aio.switch_interval import SwitchIntervalLease
from aioh5saver.aio.worker import WriterCore
from aioh5saver.aio.writer import Writer
from aioh5saver.errors import (
    ForeignEventLoopError,
    InvalidArgumentError,
    MissingFileError,
    NodeKindError,
    SaverClosedError,
    UncastableDTypeError,
    describe,
)
from aioh5saver.format.enums import DataDim, DataType, GroupType, SaveType
from aioh5saver.format.rows import as_rows, check_rows
from aioh5saver.sync.backend import check_count
from aioh5saver.sync.channels import ChannelAxis

__all__ = ["AsyncH5Saver", "SaverStatistics"]

# The GIL switch interval while a saver is open: see switch_interval.py.
DEFAULT_SWITCH_INTERVAL_S = 0.001

# The queue holds at most what the writer writes in this many seconds: see Writer._bound_backlog.
DEFAULT_MAX_PENDING_SECONDS = 0.05

# A producer whose appends are all accepted at once yields to the event loop after this long,
# so that it cannot starve the other producers, the writer or the loop.
_YIELD_INTERVAL_S = 0.00004

# Rows at least this large (camera frames) are copied a piece at a time, yielding to the event
# loop between pieces: a frame copied in one go stalls every other task for as long as the copy
# takes (4 ms for 2 MiB at the 0.5 GB/s this VM writes memory it has not touched for a while),
# and a copy on a worker thread costs a thread hop per frame (half the MB/s of W3, seen here).
_LARGE_COPY_BYTES = 1 << 20
_COPY_PIECE_BYTES = 256 << 10

Where = NodeRef | str


def _copy_pieces(segment: np.ndarray, rows: np.ndarray) -> Iterator[tuple[Any, Any]]:
    """(target, source) pairs of about :data:`_COPY_PIECE_BYTES` that copy ``rows`` into
    ``segment`` with ``target[:] = source``: as bytes when both are laid out alike (see
    :func:`~.ops.copy_rows`), else as rows converted to the segment's dtype (their values
    were checked by :func:`~.nodes.check_cast`)."""
    if bytes_alike(segment, rows):
        target_bytes, source_bytes = segment.data.cast("B"), rows.data.cast("B")
        for start in range(0, rows.nbytes, _COPY_PIECE_BYTES):
            stop = start + _COPY_PIECE_BYTES
            yield target_bytes[start:stop], source_bytes[start:stop]
        return
    step = max(1, _COPY_PIECE_BYTES // max(1, rows[:1].nbytes))
    for start in range(0, rows.shape[0], step):
        yield segment[start : start + step], rows[start : start + step]


def _check_seconds(value: object, name: str) -> None:
    """Raise unless ``value`` is None or a positive number of seconds (infinity included)."""
    if value is not None and not (
        isinstance(value, int | float) and not isinstance(value, bool) and value > 0
    ):
        raise InvalidArgumentError(
            f"{name}: expected None or a positive number of seconds, got {describe(value)}"
        )


def _check_file_path(path: object) -> Path:
    """``path`` as a Path, if it is a str or path-like object that names a file (not empty,
    not ending in a separator)."""
    text = os.fspath(path) if isinstance(path, str | os.PathLike) else None
    if not isinstance(text, str):
        raise InvalidArgumentError(
            f"path: expected a file path (str or os.PathLike), got {describe(path)}"
        )
    if Path(text).name in ("", ".", "..") or text.endswith(("/", os.sep)):
        raise InvalidArgumentError(f"path: expected the path of a file, got {describe(path)}")
    return Path(text)


def _current_loop() -> tuple[object, object]:
    """What identifies the event loop running this call: anyio's token for it (None if anyio
    finds none) and the running asyncio loop (None if none). Both are needed: inside an
    asyncio loop started within a trio run, anyio still reports the trio run."""
    try:
        token: object = anyio.lowlevel.current_token()
    except Exception:  # no event loop that anyio knows runs here
        token = None
    # The low-level form answers None instead of raising, which on trio costs an exception
    # per call.
    return token, asyncio._get_running_loop()


def _is_trio(token: object) -> bool:
    native = getattr(token, "native_token", token)
    return type(native).__module__.startswith("trio")


def _loop_name(loop: tuple[object, object], owner: tuple[object, object]) -> str:
    token, running = loop
    if running is not None and running is not owner[1]:
        return "an asyncio loop"
    if token is None:
        return "no event loop anyio knows"
    return "a trio run" if _is_trio(token) else "an asyncio loop"


@dataclass(frozen=True, slots=True)
class SaverStatistics:
    """A snapshot of the saver's state, cheap enough to take for every progress-bar refresh."""

    ops_queued: int
    bytes_pending: int
    max_pending_bytes: int
    pending_cap_bytes: int
    producers_waiting: int
    rows_appended: int
    bytes_written: int
    batches: int
    flushes: int
    swmr_active: bool


class AsyncH5Saver:
    """A PyMoDAQ HDF5 file written by one writer task for many concurrent producers.

    Open it with ``async with AsyncH5Saver.open(path, ...) as saver``: once, in one task. It
    serves the event loop that entered it; other threads call it through
    ``anyio.from_thread.run`` (anything else raises :class:`ForeignEventLoopError`).
    """

    def __init__(
        self,
        path: Path | str,
        *,
        save_type: SaveType | str = "scan",
        new_file: bool | None = None,
        metadata: Mapping[str, Any] | None = None,
        swmr: bool = False,
        flush_interval: int = 0,
        flush_period: float | None = None,
        max_pending_bytes: int = 256 * 2**20,
        max_pending_seconds: float | None = DEFAULT_MAX_PENDING_SECONDS,
        switch_interval: float | None = DEFAULT_SWITCH_INTERVAL_S,
    ) -> None:
        file_path = _check_file_path(path)
        new_file = check_new_file(new_file)
        check_count(flush_interval, "flush_interval")
        _check_seconds(switch_interval, "switch_interval")
        _check_seconds(flush_period, "flush_period")
        _check_seconds(max_pending_seconds, "max_pending_seconds")
        if (
            isinstance(max_pending_bytes, bool)
            or not isinstance(max_pending_bytes, int)
            or (max_pending_bytes <= 0)
        ):
            raise InvalidArgumentError(
                f"max_pending_bytes: expected a positive int, got {describe(max_pending_bytes)}"
            )
        if metadata is not None and not (
            isinstance(metadata, Mapping) and all(isinstance(key, str) for key in metadata)
        ):
            raise InvalidArgumentError(
                f"metadata: expected None or a mapping with str keys, got {describe(metadata)}"
            )
        core = WriterCore(
            file_path,
            save_type=save_type,
            new_file=new_file,
            metadata=dict(metadata) if metadata is not None else None,
            swmr=swmr,
            flush_interval=flush_interval,
        )
        self._writer = Writer(
            core,
            max_pending_bytes=max_pending_bytes,
            flush_period=flush_period,
            max_pending_seconds=max_pending_seconds,
        )
        self._raw_group: NodeRef | None = None
        self._origin = core.origin
        self._arrays: dict[str, NodeRef] = {}
        # Appends under way that await (a checkpoint, room in the budget, a large copy, a
        # look-up): a graceful close lets them finish first, and is told when the last one has.
        self._appends_under_way = 0
        self._appends_finished: anyio.Event | None = None
        self._next_yield = 0.0
        self._task_group: anyio.abc.TaskGroup | None = None
        self._open = False
        self._switch_interval = SwitchIntervalLease(switch_interval)
        # A saver is entered once, by one task: True from the start of __aenter__ (back to
        # False only if opening the file fails).
        self._entered = False
        # The thread and event loop that opened the saver: its writer task, queue and events
        # belong to them (None until opened).
        self._owner_thread: int | None = None
        self._owner_thread_name = ""
        self._owner_loop: tuple[object, object] = (None, None)
        self._closing: anyio.Event | None = None
        self._path = file_path
        # Where add_log writes: the raw group's Logger until get_set_logger names another.
        self._logger_path: str | None = None

    @classmethod
    def open(
        cls,
        path: Path | str,
        *,
        save_type: SaveType | str = "scan",
        new_file: bool | None = None,
        metadata: Mapping[str, Any] | None = None,
        swmr: bool = False,
        flush_interval: int = 0,
        flush_period: float | None = None,
        max_pending_bytes: int = 256 * 2**20,
        max_pending_seconds: float | None = DEFAULT_MAX_PENDING_SECONDS,
        switch_interval: float | None = DEFAULT_SWITCH_INTERVAL_S,
    ) -> AsyncH5Saver:
        """A saver for ``path``, to be entered with ``async with``: the file is opened on entry
        and drained, flushed and closed on exit.

        - ``new_file``: ``None`` (the default) creates a new file and refuses an existing one
          with :class:`ExistingFileError` (a ``FileExistsError``), leaving it untouched;
          ``True`` replaces an existing file with a new one; ``False`` continues an existing
          file (and creates it if missing). As in PyMoDAQ, a suffix without ``h5`` becomes
          ``.h5``.
        - ``swmr``: create the file SWMR-capable; SWMR starts at :meth:`start_swmr` or before
          the first append.
        - ``flush_interval``: flush every N appended rows (0: not by count).
        - ``flush_period``: no appended row stays unflushed longer than this many seconds. To
          keep that promise when producers outrun the disk, the queue then holds at most what
          the writer writes in a quarter of the period.
        - ``max_pending_bytes``: the back-pressure budget of queued data.
        - ``max_pending_seconds``: the queue also holds at most what the writer writes in this
          many seconds, at its recent rate (256 KiB at least; ``None``: the whole budget).
          More only makes producers wait later, and costs memory and event-loop time. The cap
          in force is ``statistics().pending_cap_bytes``.
        - ``switch_interval``: while the saver is open, the interpreter's thread switch interval
          is at most this many seconds (process-wide, given back at close), so that the writer
          thread and the event loop share the GIL in short turns; ``None`` leaves it alone.
        """
        return cls(
            path,
            save_type=save_type,
            new_file=new_file,
            metadata=metadata,
            swmr=swmr,
            flush_interval=flush_interval,
            flush_period=flush_period,
            max_pending_bytes=max_pending_bytes,
            max_pending_seconds=max_pending_seconds,
            switch_interval=switch_interval,
        )

    async def __aenter__(self) -> Self:
        if self._entered:
            if self._owner_thread is not None and not self._open and self._task_group is None:
                raise SaverClosedError(
                    "async with: expected a saver not yet entered, got a closed one; "
                    "open a new one with AsyncH5Saver.open(...)"
                )
            raise InvalidArgumentError(
                "async with: expected a saver not yet entered, got one already entered "
                "(a saver is entered once, by one task)"
            )
        self._entered = True
        try:
            self._check_folder()
            self._raw_group = await self._writer.open()
        except BaseException:
            self._entered = False
            raise
        self._owner_thread = threading.get_ident()
        self._owner_thread_name = threading.current_thread().name
        self._owner_loop = _current_loop()
        self._open = True
        self._switch_interval.take()
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        task_group.start_soon(self._writer.run)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            with anyio.CancelScope(shield=True):
                await self.aclose()
        except Exception as close_error:
            if exc is None:
                raise
            exc.add_note(f"and closing the saver failed too: {close_error!r}")
        finally:
            task_group, self._task_group = self._task_group, None
            try:
                if task_group is not None:
                    await task_group.__aexit__(None, None, None)
            finally:
                self._switch_interval.give_back()

    async def aclose(self) -> None:
        """Stop taking calls, let every call already made finish, write everything accepted,
        end SWMR, fold staged strings in and close the file.

        Calls made once the close has begun raise :class:`SaverClosedError`. Appends made
        before it that still wait for room in the budget or copy a large batch are accepted
        and written first (cancel such an append to drop its rows). Closing again waits for
        the first close to finish, then does nothing. A cancelled close still completes
        (shielded): the file is never left half-closed."""
        if not self._open:
            if self._closing is not None:
                self._check_owner("aclose")
                await self._closing.wait()
            return
        self._check_owner("aclose")
        self._open = False
        self._writer.closing = True
        closing = self._closing = anyio.Event()
        try:
            with anyio.CancelScope(shield=True):
                while self._appends_under_way:
                    self._appends_finished = anyio.Event()
                    await self._appends_finished.wait()
                if not self._writer.stopped:
                    await self._writer.call(CloseOp())
        finally:
            closing.set()

    def _check_folder(self) -> None:
        if not self._path.parent.is_dir():
            raise MissingFileError(
                f"path: expected a file in an existing folder, got {self._path}, whose folder "
                "does not exist"
            )

    def __del__(self) -> None:
        if getattr(self, "_open", False):
            warnings.warn(
                f"AsyncH5Saver for {self._writer.core.saver.file_path} was never closed: "
                "use 'async with AsyncH5Saver.open(...)' or await aclose()",
                ResourceWarning,
                stacklevel=2,
            )

    # -- state --------------------------------------------------------------------------------

    @property
    def raw_group(self) -> NodeRef:
        """The raw-data group (``/RawData``)."""
        if self._raw_group is None:
            raise SaverClosedError(
                "raw_group: expected an open saver, got one not yet opened (enter it first: "
                "'async with AsyncH5Saver.open(...) as saver')"
            )
        return self._raw_group

    def statistics(self) -> SaverStatistics:
        """Queue depth, pending bytes and their limits (``max_pending_bytes``, and the cap in
        force, ``pending_cap_bytes``), waiting producers, rows and bytes written, batches,
        flushes, and whether SWMR is on."""
        budget = self._writer.budget.statistics()
        core = self._writer.core
        return SaverStatistics(
            ops_queued=self._writer.ops_queued,
            bytes_pending=budget.held,
            max_pending_bytes=budget.limit,
            pending_cap_bytes=budget.cap,
            producers_waiting=budget.waiting,
            rows_appended=core.rows_appended,
            bytes_written=core.bytes_written,
            batches=core.batches,
            flushes=core.flushes,
            swmr_active=core.swmr_active,
        )

    def _check_open(self, action: str) -> None:
        broken = self._writer.core.broken
        if broken is not None:
            raise broken
        if not self._open or self._writer.closing or self._writer.stopped:
            if self._owner_thread is None:
                raise SaverClosedError(
                    f"{action}: expected an open saver, got one not yet opened (enter it "
                    "first: 'async with AsyncH5Saver.open(...) as saver')"
                )
            raise SaverClosedError(f"{action}: expected an open saver, got a closed one")
        if threading.get_ident() != self._owner_thread:
            self._foreign_thread(action)

    def _check_running(self, action: str) -> None:
        """After a wait inside a call made while the saver was open: raise only if the writer
        can no longer take it (broken, or stopped); a close that began meanwhile waits for
        the call instead."""
        broken = self._writer.core.broken
        if broken is not None:
            raise broken
        if self._writer.stopped:
            raise SaverClosedError(
                f"{action}: expected an open saver, got one whose writer stopped meanwhile"
            )

    def _where(self, where: object, argument: str = "where") -> str:
        """The path ``where`` names in this saver's file: a path string, or a NodeRef made by
        this saver (or by hand); a NodeRef made by another saver is refused."""
        if isinstance(where, NodeRef):
            origin = where.origin
            if origin is not None and origin is not self._origin:
                raise InvalidArgumentError(
                    f"{argument}: expected a NodeRef made by this saver (of {self._path}) or a "
                    f"node path (str), got NodeRef {where.path!r} made by another saver (of "
                    f"{origin.file}); NodeRefs belong to the saver that made them: pass "
                    f"{where.path!r} to use this file's node"
                )
        return where_path(where, argument)

    def _check_owner(self, action: str) -> None:
        """Raise unless called from the thread and event loop that opened the saver. Run before
        every call that waits: a wait in a foreign loop would never end."""
        if threading.get_ident() != self._owner_thread:
            self._foreign_thread(action)
        owner = self._owner_loop
        loop = _current_loop()
        if loop[0] != owner[0] or loop[1] is not owner[1]:
            raise ForeignEventLoopError(
                f"{action}: expected a call from the event loop that opened the saver "
                f"({_loop_name(owner, owner)}), got one from another event loop "
                f"({_loop_name(loop, owner)}) in the same thread; a saver serves one event loop"
            )

    def _foreign_thread(self, action: str) -> None:
        raise ForeignEventLoopError(
            f"{action}: expected a call from the event loop that opened the saver, in thread "
            f"{self._owner_thread_name!r}, got one from thread "
            f"{threading.current_thread().name!r}; from a worker thread, call it through "
            "anyio.from_thread.run()"
        )

    # -- appends ------------------------------------------------------------------------------

    async def append(self, where: Where, data: Any, *, copy: bool = True) -> None:
        """Append one row (data of the row shape) or a batch ``(n, *row)`` to an enlargeable
        array, or one ``str`` to a string array.

        Checked now (a bad row raises here), then accepted: queued in order and owned by the
        saver (copied, unless ``copy=False`` hands the buffer over). Waits only for room in the
        back-pressure budget; :meth:`flush` is the barrier after which it is in the file. An
        append made before :meth:`aclose` began is accepted and written even if it still waits
        then; cancelling it while it waits drops its rows.
        """
        self._check_open("append")
        now = time.perf_counter()
        if now >= self._next_yield:
            self._next_yield = now + _YIELD_INTERVAL_S
            if asyncio._get_running_loop() is not self._owner_loop[1]:
                self._check_owner("append")  # cheaply caught here: an asyncio run in a trio run
            self._appends_under_way += 1
            try:
                # Before anything is accepted, so that a cancellation delivered here truthfully
                # means that nothing was.
                await anyio.lowlevel.checkpoint()
            finally:
                self._append_done()
            # A close that began meanwhile waits for this call: it resumes only at this task's
            # next await, and an append that awaits again counts itself in again first.
            self._check_running("append")
        # The common case takes no await and no coroutine call beyond a wait for room (either
        # is a sizeable share of a scalar append's cost): one small row of the array's own
        # dtype, through this saver's ref or a path looked up before.
        ref = self._known_array(where)
        if (
            ref is not None
            and ref.kind == "EARRAY"
            and copy
            and isinstance(data, np.ndarray | np.generic)
            and data.shape == ref.row_shape
            and data.dtype == ref.dtype
            and data.nbytes < _LARGE_COPY_BYTES
        ):
            assert ref.dtype is not None
            writer = self._writer
            cost = data.nbytes + CALL_OVERHEAD_BYTES
            if not writer.budget.try_acquire(cost):
                self._appends_under_way += 1
                try:
                    await self._wait_for_budget(cost)
                finally:
                    self._append_done()
            try:
                writer.accept_row(ref.path, data, ref.dtype, cost)
            except BaseException:
                writer.budget.release(cost)
                raise
            return
        self._appends_under_way += 1
        try:
            await self._append(where, data, copy)
        finally:
            self._append_done()

    def _append_done(self) -> None:
        self._appends_under_way -= 1
        if not self._appends_under_way and self._appends_finished is not None:
            self._appends_finished.set()

    def _accept(self, accept: Any, cost: int, *args: Any) -> None:
        """``accept(*args)`` with ``cost`` bytes of the budget held: given back if it fails."""
        try:
            accept(*args)
        except BaseException:
            self._writer.budget.release(cost)
            raise

    async def _append(self, where: Where, data: Any, copy: bool) -> None:
        """The rest of :meth:`append`, in the count of appends under way."""
        ref = self._known_array(where) or await self._look_up_array(where)
        writer = self._writer
        budget = writer.budget
        if ref.kind == "EARRAY":
            assert ref.row_shape is not None
            assert ref.dtype is not None
            if (
                copy
                and isinstance(data, np.ndarray | np.generic)
                and data.shape == ref.row_shape
                and data.dtype == ref.dtype
                and data.nbytes < _LARGE_COPY_BYTES
            ):
                # One small row of the array's own dtype: no conversion.
                cost = data.nbytes + CALL_OVERHEAD_BYTES
                if not budget.try_acquire(cost):
                    await self._wait_for_budget(cost)
                self._accept(writer.accept_row, cost, ref.path, data, ref.dtype, cost)
                return
            if copy:
                rows = check_rows(data, ref.row_shape, ref.dtype, ref.path)
            else:
                rows = as_rows(data, ref.row_shape, ref.dtype, ref.path)
            cost = rows.nbytes + CALL_OVERHEAD_BYTES
            if not budget.try_acquire(cost):
                await self._wait_for_budget(cost)
            if not copy:
                self._accept(writer.accept_handed_over, cost, ref.path, rows, cost)
            elif rows.nbytes < _LARGE_COPY_BYTES:
                self._accept(writer.accept_rows, cost, ref.path, rows, ref.dtype, cost)
            else:
                await self._accept_large_copy(ref.path, rows, ref.dtype, cost)
        elif ref.kind == "StringARRAY":
            if not isinstance(data, str):
                raise UncastableDTypeError(
                    f"append to {ref.path}: expected a str, got {describe(data)}"
                )
            cost = len(data) + CALL_OVERHEAD_BYTES
            if not budget.try_acquire(cost):
                await self._wait_for_budget(cost)
            self._accept(writer.accept_text, cost, ref.path, data, cost)
        else:
            raise NodeKindError(
                f"append to {ref.path}: expected an enlargeable array (EARRAY) or a string "
                f"array, got a {ref.kind}"
            )

    async def _accept_large_copy(
        self, path: str, rows: np.ndarray, dtype: np.dtype[Any], cost: int
    ) -> None:
        """Copy rows of a megabyte or more into a segment a piece at a time, yielding to the
        event loop between pieces; then queue the copy as it is. The budget ``cost`` is
        already held: it is given back if this does not complete."""
        writer = self._writer
        segment: np.ndarray | None = None
        try:
            self._check_owner("append")
            segment = writer.segments.take(rows.shape[0], rows.shape[1:], dtype)
            for target, source in _copy_pieces(segment, rows):
                target[:] = source
                # A cancellation that comes between pieces is honoured: nothing is accepted.
                await anyio.lowlevel.checkpoint()
            self._check_running("append")
            writer.accept_handed_over(path, segment, cost, pool=writer.segments)
        except BaseException:
            writer.budget.release(cost)
            if segment is not None:
                writer.segments.give(segment)
            raise

    async def _wait_for_budget(self, cost: int) -> None:
        """Take ``cost`` bytes of the budget, waiting for room; the writer must still be
        running once they are granted (a close that began meanwhile waits for this call)."""
        budget = self._writer.budget
        self._check_owner("append")
        await budget.acquire(cost)
        try:
            self._check_running("append")
        except BaseException:
            budget.release(cost)
            raise

    def _known_array(self, where: Where) -> NodeRef | None:
        """The ref to append to, if known without asking the writer: a NodeRef made by this
        saver, or one looked up before by path."""
        if isinstance(where, NodeRef):
            # This saver's refs are complete (an EARRAY's carries its row shape and dtype).
            return where if where.origin is self._origin else None
        return self._arrays.get(where) if isinstance(where, str) else None

    async def _look_up_array(self, where: Where) -> NodeRef:
        """The ref of this file's node at the path ``where`` names (asked once per path)."""
        path = self._where(where)
        ref = self._arrays.get(path)
        if ref is None:
            # Not through _call: an append made before a close began still looks its array
            # up once the close has begun (the look-up is queued before the close).
            self._check_owner("append")
            found = await self._writer.call(CallOp("get_node", (path, None), {}, False))
            assert isinstance(found, NodeRef)
            ref = self._arrays[path] = found
        return ref

    async def add_log(self, msg: str) -> None:
        """Append a line to the ``Logger`` (accepted like an append)."""
        self._check_open("add_log")
        await self.append(self._logger_path or f"{self.raw_group.path}/Logger", msg)

    # -- barriers -----------------------------------------------------------------------------

    async def flush(self) -> None:
        """Return once everything accepted before this call is written and flushed to the OS."""
        self._check_open("flush")
        self._check_owner("flush")
        await self._writer.call(FlushOp())

    async def start_swmr(self) -> None:
        """Turn SWMR on now (the saver must be opened with ``swmr=True``)."""
        self._check_open("start_swmr")
        self._check_owner("start_swmr")
        await self._writer.call(SwmrOp(start=True))

    async def enable_swmr(self) -> None:
        """Turn SWMR on now: :meth:`start_swmr`, under the synchronous saver's name."""
        await self.start_swmr()

    async def save_file(self, filename: Path | str | None = None) -> None:
        """Write a consistent copy of the file, with everything accepted so far, to
        ``filename`` (copied with aiofiles while the writer waits)."""
        self._check_open("save_file")
        self._check_owner("save_file")
        if not isinstance(filename, str | Path) or str(filename) == "":
            raise InvalidArgumentError(
                f"filename: expected the path of the copy to write, got {describe(filename)}"
            )
        target = Path(filename)
        if target.is_dir():
            raise InvalidArgumentError(
                f"filename: expected the path of a file to write the copy to, got {target}, "
                "a folder"
            )
        source = self._writer.core.saver.file_path
        if source is not None and target.exists() and os.path.samefile(source, target):
            raise InvalidArgumentError(
                f"filename: expected a path other than the open file, got {target}"
            )
        await self._writer.call(SaveCopyOp(target))

    async def save_file_as(self, filenamepath: Path | str = "h5copy.txt") -> None:
        """:meth:`save_file` under the synchronous saver's other name."""
        await self.save_file(filenamepath)

    async def finalize_swmr(self, keep_open: bool = False) -> None:
        """End SWMR now (staged strings are folded in, shapes reconciled); close the saver too
        unless ``keep_open``. Appends after it start SWMR again if the saver was opened with
        ``swmr=True``."""
        self._check_open("finalize_swmr")
        self._check_owner("finalize_swmr")
        await self._writer.call(SwmrOp(start=False))
        if not keep_open:
            await self.aclose()

    async def close_file(self) -> None:
        """:meth:`aclose`, under the synchronous saver's name."""
        await self.aclose()

    def isopen(self) -> bool:
        """True until the saver is closed (or its file broke)."""
        return self._open and not self._writer.stopped and self._writer.core.broken is None

    async def set_swmr_flush_interval(self, interval: int) -> None:
        """Flush every ``interval`` appended rows from now on (0: not by count)."""
        check_count(interval, "interval")
        self._check_open("set_swmr_flush_interval")
        self._writer.core.flush_interval = interval

    async def tick_flush(self) -> None:
        """Nothing to do: the writer counts appended rows itself and flushes every
        ``flush_interval`` of them. Kept so that code written for the synchronous saver runs."""
        self._check_open("tick_flush")

    async def reconcile_swmr_attrs(self) -> None:
        """Record each enlargeable array's real shape in its ``shape`` attribute."""
        await self._call("reconcile_swmr_attrs", structural=True)

    # -- hops to the synchronous saver --------------------------------------------------------

    async def _call(self, method: str, *args: Any, structural: bool = False, **kwargs: Any) -> Any:
        self._check_open(method)
        self._check_owner(method)
        return await self._writer.call(CallOp(method, args, kwargs, structural))

    async def _create(self, method: str, *args: Any, **kwargs: Any) -> NodeRef:
        ref = await self._call(method, *args, structural=True, **kwargs)
        assert isinstance(ref, NodeRef)
        return ref

    async def get_node(self, where: Where, name: str | None = None) -> NodeRef:
        """The node at ``where``, or its child ``name``."""
        return await self._call("get_node", self._where(where), name)  # type: ignore[no-any-return]

    async def get_children(self, where: Where) -> dict[str, NodeRef]:
        """The nodes directly under ``where``, by name."""
        return await self._call("get_children", self._where(where))  # type: ignore[no-any-return]

    async def walk_nodes(
        self, where: Where, depth: int | None = None, only_groups: bool = False
    ) -> list[NodeRef]:
        """The nodes from ``where`` down, in PyMoDAQ's order (a list, not a generator)."""
        return await self._call("walk_nodes", self._where(where), depth, only_groups)  # type: ignore[no-any-return]

    async def walk_groups(self, where: Where) -> list[NodeRef]:
        """``where`` and the groups below it, in PyMoDAQ's order."""
        return await self._call("walk_groups", self._where(where))  # type: ignore[no-any-return]

    async def get_node_name(self, node: Where) -> str:
        """The name of ``node``."""
        return await self._call("get_node_name", self._where(node))  # type: ignore[no-any-return]

    async def get_node_path(self, node: Where) -> str:
        """The path of ``node``."""
        return await self._call("get_node_path", self._where(node))  # type: ignore[no-any-return]

    async def get_parent_node(self, node: Where) -> NodeRef | None:
        """The group holding ``node``, or None for the root."""
        return await self._call("get_parent_node", self._where(node))  # type: ignore[no-any-return]

    async def is_node_in_group(self, where: Where, name: str) -> bool:
        """True if ``where`` has a child called ``name`` (case-insensitive)."""
        return await self._call("is_node_in_group", self._where(where), name)  # type: ignore[no-any-return]

    async def get_group_by_title(self, where: Where, title: str) -> NodeRef | None:
        """The first child group of ``where`` titled ``title``, or None."""
        return await self._call("get_group_by_title", self._where(where), title)  # type: ignore[no-any-return]

    async def get_groups(self, where: Where, group_type: GroupType | str) -> list[NodeRef]:
        """The children of ``where`` of type ``group_type``."""
        return await self._call("get_groups", self._where(where), group_type)  # type: ignore[no-any-return]

    async def get_last_group(self, where: Where, group_type: GroupType | str) -> NodeRef | None:
        """The last child of ``where`` of type ``group_type``, or None."""
        return await self._call("get_last_group", self._where(where), group_type)  # type: ignore[no-any-return]

    async def get_node_from_attribute_match(
        self, where: Where, attr_name: str, attr_value: Any
    ) -> NodeRef | None:
        """The first node under ``where`` whose attribute ``attr_name`` is ``attr_value``."""
        return await self._call(  # type: ignore[no-any-return]
            "get_node_from_attribute_match", self._where(where), attr_name, attr_value
        )

    async def get_node_from_title(self, where: Where, title: str) -> NodeRef | None:
        """The first node under ``where`` titled ``title``, or None."""
        return await self._call("get_node_from_title", self._where(where), title)  # type: ignore[no-any-return]

    async def read(self, array: Where, *args: Any, **kwargs: Any) -> Any:
        """The data of an array node (written appends included once flushed by a barrier:
        reads are queued behind every append accepted before them)."""
        return await self._call("read", self._where(array, "array"), *args, **kwargs)

    async def read_strings(self, where: Where) -> list[str]:
        """The strings of a string array (the ``Logger`` included), decoded safely."""
        return await self._call("read_strings", self._where(where))  # type: ignore[no-any-return]

    async def get_attr(self, node: Where, attr_name: str | None = None) -> Any:
        """One decoded attribute of ``node``, or all of them as a dict."""
        return await self._call("get_attr", self._where(node, "node"), attr_name)

    async def has_attr(self, node: Where, attr_name: str) -> bool:
        """True if ``node`` has the attribute ``attr_name``."""
        return await self._call("has_attr", self._where(node, "node"), attr_name)  # type: ignore[no-any-return]

    async def set_attr(self, node: Where, attr_name: str, attr_value: Any) -> None:
        """Set an attribute of ``node``."""
        await self._call(
            "set_attr", self._where(node, "node"), attr_name, attr_value, structural=True
        )

    async def root(self) -> NodeRef:
        """The root group."""
        return await self._call("get_node", "/")  # type: ignore[no-any-return]

    async def add_array(
        self,
        where: Where,
        name: str,
        data_type: DataType | str,
        array_to_save: np.ndarray | None = None,
        data_shape: tuple[int, ...] | None = None,
        array_type: Any = None,
        fill_value: Any = None,
        data_dimension: DataDim | str | None = None,
        scan_shape: tuple[int, ...] = (),
        add_scan_dim: bool = False,
        enlargeable: bool = False,
        title: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> NodeRef:
        """An array under ``where``; see :meth:`H5SaverLowLevel.add_array`."""
        if array_to_save is not None:
            array_to_save = np.array(array_to_save, copy=True)
        return await self._create(
            "add_array",
            self._where(where),
            name,
            data_type,
            array_to_save,
            data_shape,
            array_type,
            fill_value,
            data_dimension,
            scan_shape,
            add_scan_dim,
            enlargeable,
            title,
            metadata,
        )

    async def add_enlargeable_channel(
        self,
        where: Where,
        data_dim: DataDim | str,
        *,
        data_shape: tuple[int, ...] | None = None,
        dtype: Any = "float64",
        name: str | None = None,
        label: str | None = None,
        units: str = "",
        axes: Sequence[ChannelAxis] = (),
        origin: str | None = None,
        source: str = "raw",
        timestamp: float | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> NodeRef:
        """A channel of enlargeable data under ``where`` (a detector or actuator group) that
        pymodaq_data's ``DataLoader`` loads: the async counterpart of its
        ``DataToExportEnlargeableSaver`` (and ``DataEnlargeableSaver``). Returns the empty
        array; :meth:`append` one row of ``data_shape`` per acquisition (or a batch)::

            det = await saver.add_det_group(scan, title="spectrometer")
            spectra = await saver.add_enlargeable_channel(
                det, "Data1D", data_shape=(2048,), label="counts", units="count",
                axes=[ChannelAxis("wavelength", "nm", np.linspace(400, 800, 2048))])
            await saver.append(spectra, spectrum)            # one row: shape (2048,)

        It writes ``<where>/<data_dim>/CHnn/EnlData00`` (the next free ``CHnn``) with the
        attributes DataLoader reads (``label``, ``units``, ``source``, ``distribution``,
        ``origin``, ``nav_indexes``, ``timestamp``), and each signal axis beside it as
        ``Axis00``, ``Axis01``... Loaded, the data has the rows along its navigation
        dimension 0, then the row's dimensions, each with its axis.

        - ``data_dim``: ``"Data0D"`` (rows of shape ``(1,)``, the default ``data_shape``),
          ``"Data1D"`` (``(n,)``) or ``"Data2D"`` (``(rows, columns)``).
        - ``dtype``: the rows' numeric dtype.
        - ``name``: the data's name (the arrays' ``TITLE``); ``origin``: the instrument it
          comes from; both default to the title of ``where``. ``label``: the channel's label
          (default: ``CHnn``). ``units``: read with pint by PyMoDAQ, as ``""`` if pint does
          not know them.
        - ``axes``: :class:`~aioh5saver.ChannelAxis` objects, at most one per row dimension.
        - ``source``: ``"raw"`` or ``"calculated"``; ``timestamp``: seconds since the epoch
          (default: now); ``metadata``: more attributes of the data array, which DataLoader
          gives back as extra attributes of the data.

        A navigation axis that grows with the rows (a time stamp per row) is
        :meth:`add_nav_axis`. Everything is checked before anything is written.
        """
        return await self._create(
            "add_enlargeable_channel",
            where_path(where),
            data_dim,
            data_shape=data_shape,
            dtype=dtype,
            name=name,
            label=label,
            units=units,
            axes=tuple(axes) if isinstance(axes, list | tuple) else axes,
            origin=origin,
            source=source,
            timestamp=timestamp,
            metadata=dict(metadata) if isinstance(metadata, Mapping) else metadata,
        )

    async def add_nav_axis(
        self, where: Where, label: str, units: str = "", dtype: Any = "float64"
    ) -> NodeRef:
        """A navigation axis of the enlargeable data under ``where``: the enlargeable array
        ``<where>/NavAxes/AxisNN`` of one value per row (a time, a stage position), which
        pymodaq_data's ``DataLoader`` loads as the axis of the rows of every channel under
        ``where`` (DataToExportTimedSaver's ``time`` axis is one). :meth:`append` one value
        per row, in step with the channels' rows (a numpy scalar, or ``(n,)`` values for a
        batch)::

            times = await saver.add_nav_axis(det, "time", "s")
            await saver.append(spectra, spectrum)
            await saver.append(times, np.float64(time.time()))

        Several navigation axes (the x and y of an adaptive scan) are numbered in the order
        they are added. The ``size`` attribute stays 0, as pymodaq_data leaves it under SWMR:
        the array's length is its ``shape``.
        """
        return await self._create("add_nav_axis", where_path(where), label, units, dtype)

    async def add_string_array(
        self, where: Where, name: str, title: str = "", metadata: dict[str, Any] | None = None
    ) -> NodeRef:
        """An enlargeable array of strings under ``where``."""
        return await self._create("add_string_array", self._where(where), name, title, metadata)

    async def get_set_logger(self, where: Where | None = None) -> NodeRef:
        """The ``Logger`` string array under ``where`` (the raw group), created if absent; later
        :meth:`add_log` lines go to it, as with the synchronous saver."""
        logger = await self._create("get_set_logger", None if where is None else self._where(where))
        self._logger_path = logger.path
        return logger

    async def add_scan_group(
        self,
        where: Where = "/RawData",
        title: str = "",
        settings_as_xml: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> NodeRef:
        """A new ``ScanNNN`` group."""
        return await self._create(
            "add_scan_group", self._where(where), title, settings_as_xml, metadata
        )

    async def add_det_group(
        self,
        where: Where,
        title: str = "",
        settings_as_xml: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> NodeRef:
        """A new ``DetectorNNN`` group."""
        return await self._create(
            "add_det_group", self._where(where), title, settings_as_xml, metadata
        )

    async def add_act_group(
        self,
        where: Where,
        title: str = "",
        settings_as_xml: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> NodeRef:
        """A new ``ActuatorNNN`` group."""
        return await self._create(
            "add_act_group", self._where(where), title, settings_as_xml, metadata
        )

    async def add_move_group(
        self,
        where: Where,
        title: str = "",
        settings_as_xml: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> NodeRef:
        """A new ``ActuatorNNN`` group for a move."""
        return await self._create(
            "add_move_group", self._where(where), title, settings_as_xml, metadata
        )

    async def add_ch_group(
        self,
        where: Where,
        title: str = "",
        settings_as_xml: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> NodeRef:
        """A new ``ChNNN`` channel group."""
        return await self._create(
            "add_ch_group", self._where(where), title, settings_as_xml, metadata
        )

    async def add_data_group(
        self,
        where: Where,
        data_dim: DataDim | str,
        title: str = "",
        settings_as_xml: str = "",
        metadata: dict[str, Any] | None = None,
        group_name: str | None = None,
    ) -> NodeRef:
        """A data group (``Data0D``...) under ``where``."""
        return await self._create(
            "add_data_group",
            self._where(where),
            data_dim,
            title,
            settings_as_xml,
            metadata,
            group_name,
        )

    async def add_generic_group(
        self,
        where: Where = "/RawData",
        title: str = "",
        settings_as_xml: str = "",
        metadata: dict[str, Any] | None = None,
        group_type: GroupType | str = GroupType.scan,
    ) -> NodeRef:
        """A new incremental group of ``group_type``."""
        return await self._create(
            "add_generic_group", self._where(where), title, settings_as_xml, metadata, group_type
        )

    async def add_incremental_group(
        self,
        group_type: GroupType | str,
        where: Where,
        title: str = "",
        settings_as_xml: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> NodeRef:
        """A new group ``<Type>NNN`` under ``where``."""
        return await self._create(
            "add_incremental_group",
            group_type,
            self._where(where),
            title,
            settings_as_xml,
            metadata,
        )

    async def add_group(
        self,
        group_name: str,
        group_type: GroupType | str,
        where: Where,
        title: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> NodeRef:
        """The group ``group_name`` under ``where``, created if absent."""
        return await self._create(
            "add_group", group_name, group_type, self._where(where), title, metadata
        )

    async def get_set_group(
        self, where: Where, name: str, title: str = "", **kwargs: Any
    ) -> NodeRef:
        """The group ``name`` under ``where``, created if absent."""
        return await self._create("get_set_group", self._where(where), name, title, **kwargs)

    async def create_carray(
        self, where: Where, name: str, obj: Any = None, title: str = ""
    ) -> NodeRef:
        """A fixed array holding ``obj``."""
        if obj is not None:
            obj = np.array(obj, copy=True)
        return await self._create("create_carray", self._where(where), name, obj, title)

    async def create_earray(
        self, where: Where, name: str, dtype: Any, data_shape: Any = None, title: str = ""
    ) -> NodeRef:
        """An enlargeable array with rows of ``data_shape``."""
        return await self._create(
            "create_earray", self._where(where), name, dtype, data_shape, title
        )

    async def create_vlarray(self, where: Where, name: str, dtype: Any, title: str = "") -> NodeRef:
        """An enlargeable array of variable-length rows."""
        return await self._create("create_vlarray", self._where(where), name, dtype, title)

    async def define_compression(self, compression: str, compression_opts: int) -> None:
        """Compress arrays created from now on."""
        await self._call("define_compression", compression, compression_opts)
