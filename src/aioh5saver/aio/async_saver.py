"""AsyncH5Saver: the async writer service's public face, one coroutine per saver method.

Appends go to the intake (:class:`~.intake.AppendIntake`), which checks them at the call and
accepts them into the queue without waiting for the disk; everything else is a typed hop to the
writer thread (:class:`~.saver_calls.SaverCalls`) that waits for its answer. NodeRefs belong to
the saver that made them: one made by another saver is refused (its path string is not).
"""

from __future__ import annotations

import enum
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import anyio
import anyio.lowlevel

from aioh5saver.aio.batch_runner import BatchRunner
from aioh5saver.aio.caller_checks import CallerChecks
from aioh5saver.aio.crossing import plain_value
from aioh5saver.aio.intake import AppendIntake
from aioh5saver.aio.new_file import check_new_file
from aioh5saver.aio.node_creation import NodeCreation
from aioh5saver.aio.noderef import NodeRef
from aioh5saver.aio.ops import CloseOp, FlushOp, SaveCopyOp, SwmrOp
from aioh5saver.aio.saver_calls import Where
from aioh5saver.aio.statistics import SaverStatistics
from aioh5saver.aio.switch_interval import SwitchIntervalLease
from aioh5saver.aio.tuning import WriterTuning, check_tuning
from aioh5saver.aio.writer_task import WriterTask
from aioh5saver.errors import (
    InvalidArgumentError,
    MissingFileError,
    SaverClosedError,
    UnsupportedBackendError,
    describe,
)
from aioh5saver.format.checks import check_count, check_positive_int, check_seconds
from aioh5saver.format.enums import SaveType
from aioh5saver.sync.file_access import as_location, engine_for
from aioh5saver.sync.saver import H5SaverLowLevel

__all__ = ["AsyncH5Saver", "SaverStatistics"]

# The GIL switch interval while a saver is open: see switch_interval.py.
DEFAULT_SWITCH_INTERVAL_S = 0.001


class EngineDefault(enum.Enum):
    """The default of an option whose value depends on the file's engine."""

    ENGINE = "the engine's default"


#: ``max_pending_seconds`` unless the caller gives one: the engine's
#: ``capabilities.default_queue_seconds`` (see WriterTask._bound_backlog).
ENGINE_DEFAULT = EngineDefault.ENGINE


def _check_file_path(path: object) -> Path | str:
    """``path`` as a Path (or the str of an ``hsds://`` location), if it is a str or
    path-like object that names a file (not empty, not ending in a separator)."""
    text = os.fspath(path) if isinstance(path, str | os.PathLike) else None
    if not isinstance(text, str):
        raise InvalidArgumentError(
            f"path: expected a file path (str or os.PathLike), got {describe(path)}"
        )
    if Path(text).name in ("", ".", "..") or text.endswith(("/", os.sep)):
        raise InvalidArgumentError(f"path: expected the path of a file, got {describe(path)}")
    return as_location(text)


def _check_optional_seconds(value: object, name: str) -> None:
    check_seconds(
        value, name, allow_none=True, allow_infinity=True, expected="a positive number of seconds"
    )


class AsyncH5Saver(NodeCreation):
    """A PyMoDAQ HDF5 file written by one writer task for many concurrent producers.

    Open it with ``async with AsyncH5Saver.open(path, ...) as saver``: once, in one task. It
    serves the event loop that entered it; other threads call it through
    ``anyio.from_thread.run``, given the loop's ``anyio.lowlevel.current_token()`` when anyio
    did not start the thread (anything else raises :class:`ForeignEventLoopError`).
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
        max_pending_seconds: float | EngineDefault | None = ENGINE_DEFAULT,
        switch_interval: float | None = DEFAULT_SWITCH_INTERVAL_S,
        tuning: WriterTuning | None = None,
    ) -> None:
        file_path = _check_file_path(path)
        new_file = check_new_file(new_file)
        check_count(flush_interval, "flush_interval", expected="a non-negative int")
        _check_optional_seconds(switch_interval, "switch_interval")
        _check_optional_seconds(flush_period, "flush_period")
        capabilities = engine_for(file_path).capabilities
        if max_pending_seconds is ENGINE_DEFAULT:
            max_pending_seconds = capabilities.default_queue_seconds
        _check_optional_seconds(max_pending_seconds, "max_pending_seconds")
        if flush_period is not None and flush_period < capabilities.min_flush_period:
            raise InvalidArgumentError(
                f"flush_period: expected at least {capabilities.min_flush_period:g} s for "
                f"{file_path} (a durable flush there takes about that long), got "
                f"{describe(flush_period)}"
            )
        check_positive_int(max_pending_bytes, "max_pending_bytes")
        if metadata is not None and not (
            isinstance(metadata, Mapping) and all(isinstance(key, str) for key in metadata)
        ):
            raise InvalidArgumentError(
                f"metadata: expected None or a mapping with str keys, got {describe(metadata)}"
            )
        runner = BatchRunner(
            file_path,
            save_type=save_type,
            new_file=new_file,
            metadata=dict(metadata) if metadata is not None else None,
            swmr=swmr,
            flush_interval=flush_interval,
            tuning=check_tuning(tuning),
        )
        self._writer = WriterTask(
            runner,
            max_pending_bytes=max_pending_bytes,
            flush_period=flush_period,
            max_pending_seconds=max_pending_seconds,
            batch_fill_seconds=capabilities.batch_fill_seconds,
        )
        self._checks = CallerChecks(self._writer, runner.origin, file_path)
        self._intake = AppendIntake(self._writer, self._checks)
        # The intake's methods, bound once: append is the hot path.
        self._raw_group: NodeRef | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self._open = False
        self._switch_interval = SwitchIntervalLease(switch_interval)
        # A saver is entered once, by one task: True from the start of __aenter__ (back to
        # False only if opening the file fails).
        self._entered = False
        self._closing: anyio.Event | None = None
        self._path = file_path
        self._logger_path = None

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
        max_pending_seconds: float | EngineDefault | None = ENGINE_DEFAULT,
        switch_interval: float | None = DEFAULT_SWITCH_INTERVAL_S,
        tuning: WriterTuning | None = None,
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
        - ``flush_period``: no appended row stays unflushed longer than this many seconds (on
          HSDS at least 2 s, the service's flush: a shorter one raises). To
          keep that promise when producers outrun the disk, the queue then holds at most what
          the writer writes in a quarter of the period.
        - ``max_pending_bytes``: the back-pressure budget of queued data.
        - ``max_pending_seconds``: the queue also holds at most what the writer writes in this
          many seconds, at its recent rate (256 KiB at least; ``None``: the whole budget).
          By default, the engine's: 0.05 s on a local disk, ``None`` on HSDS (a request
          there costs a round trip: large batches pay).
          More only makes producers wait later, and costs memory and event-loop time. The cap
          in force is ``statistics().pending_cap_bytes``.
        - ``switch_interval``: while the saver is open, the interpreter's thread switch interval
          is at most this many seconds (process-wide, given back at close), so that the writer
          thread and the event loop share the GIL in short turns; ``None`` leaves it alone.
        - ``tuning``: the writer's tuning constants (:class:`~.tuning.WriterTuning`; ``None``:
          the defaults).
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
            tuning=tuning,
        )

    async def __aenter__(self) -> Self:
        if self._entered:
            if self._checks.thread is not None and not self._open and self._task_group is None:
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
        self._checks.take_ownership()
        self._open = True
        self._switch_interval.take()
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        task_group.start_soon(self._writer.turns.run)
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
                self._checks.owner("aclose")
                await self._closing.wait()
            return
        self._checks.owner("aclose")
        self._open = False
        self._writer.closing = True
        closing = self._closing = anyio.Event()
        try:
            with anyio.CancelScope(shield=True):
                await self._intake.all_appends_finished()
                if not self._writer.stopped:
                    await self._writer.call(CloseOp())
        finally:
            closing.set()

    def _check_folder(self) -> None:
        # A domain's folder is looked for on the writer thread (a request to its service).
        if isinstance(self._path, Path) and not self._path.parent.is_dir():
            raise MissingFileError(
                f"path: expected a file in an existing folder, got {self._path}, whose folder "
                "does not exist"
            )

    def __del__(self) -> None:
        if getattr(self, "_open", False):
            warnings.warn(
                f"AsyncH5Saver for {self._writer.file_path} was never closed: "
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
        return self._writer.statistics()

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
        intake = self._intake
        if not intake.accept_at_once(where, data, copy):
            await intake.append(where, data, copy)

    async def add_log(self, msg: str) -> None:
        """Append a line to the ``Logger`` (accepted like an append)."""
        self._checks.open("add_log")
        await self.append(self._logger_path or f"{self.raw_group.path}/Logger", msg)

    # -- barriers -----------------------------------------------------------------------------

    async def flush(self) -> None:
        """Return once everything accepted before this call is written and flushed to the OS."""
        self._checks.open("flush")
        self._checks.owner("flush")
        await self._writer.call(FlushOp())

    async def start_swmr(self) -> None:
        """Turn SWMR on now (the saver must be opened with ``swmr=True``)."""
        self._checks.open("start_swmr")
        self._checks.owner("start_swmr")
        await self._writer.call(SwmrOp(start=True))

    async def enable_swmr(self) -> None:
        """Turn SWMR on now: :meth:`start_swmr`, under the synchronous saver's name."""
        await self.start_swmr()

    async def save_file(self, filename: Path | str | None = None) -> None:
        """Write a consistent copy of the file, with everything accepted so far, to
        ``filename`` (copied with aiofiles while the writer waits)."""
        self._checks.open("save_file")
        self._checks.owner("save_file")
        if not isinstance(self._path, Path):
            raise UnsupportedBackendError(
                f"save_file: expected a local file to copy, got the domain {self._path}; copy "
                "it with 'aioh5saver export'"
            )
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
        source = self._writer.file_path
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
        self._checks.open("finalize_swmr")
        self._checks.owner("finalize_swmr")
        await self._writer.call(SwmrOp(start=False))
        if not keep_open:
            await self.aclose()

    async def close_file(self) -> None:
        """:meth:`aclose`, under the synchronous saver's name."""
        await self.aclose()

    def isopen(self) -> bool:
        """True until the saver is closed (or its file broke)."""
        return self._open and not self._writer.stopped and self._writer.broken is None

    async def set_swmr_flush_interval(self, interval: int) -> None:
        """Flush every ``interval`` appended rows from now on (0: not by count)."""
        check_count(interval, "interval", expected="a non-negative int")
        self._checks.open("set_swmr_flush_interval")
        self._writer.set_flush_interval(interval)

    async def tick_flush(self) -> None:
        """Nothing to do: the writer counts appended rows itself and flushes every
        ``flush_interval`` of them. Kept so that code written for the synchronous saver runs."""
        self._checks.open("tick_flush")

    async def reconcile_swmr_attrs(self) -> None:
        """Record each enlargeable array's real shape in its ``shape`` attribute."""
        await self._change(plain_value, H5SaverLowLevel.reconcile_swmr_attrs)
