"""The writer's thread side: runs batches of operations on the synchronous saver.

Synchronous and single-threaded: the writer task hands it one batch at a time on one worker
thread. It merges runs of appends to the same array into one resize and one write, treats every
other operation as a barrier, keeps SWMR rules (no structure change and no variable-length write
while SWMR is on), and decides when to flush. A bad operation fails alone; a failure of the file
itself (an I/O error, a full disk) breaks the writer: that operation and every later one get
:class:`WriterBrokenError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from aioh5saver.aio.crossing import node_ref
from aioh5saver.aio.new_file import claimed_new_file
from aioh5saver.aio.noderef import NodeRef, RefOrigin
from aioh5saver.aio.ops import (
    AppendOp,
    CallOp,
    CloseOp,
    FlushOp,
    Op,
    OpState,
    RowsAppend,
    SaveCopyOp,
    SwmrOp,
    TextAppend,
)
from aioh5saver.aio.thread_arrays import OpenArrays
from aioh5saver.aio.thread_disk import DiskWatch
from aioh5saver.aio.thread_swmr import SwmrSwitch
from aioh5saver.aio.tuning import WriterTuning
from aioh5saver.engine.objects import is_open
from aioh5saver.errors import (
    ClosedFileError,
    ExternalDataError,
    NodeKindError,
    ShapeMismatchError,
    SwmrModeError,
    UncastableDTypeError,
    WriterBrokenError,
)
from aioh5saver.sync.nodes import EARRAY, Node, StringARRAY
from aioh5saver.sync.saver import H5SaverLowLevel
from aioh5saver.sync.staging import append_staged

__all__ = ["BatchRunner"]

# Exceptions that say an operation's input was wrong; anything else raised while writing is a
# failure of the file.
# ExternalDataError is an OSError, but the file is sound: only the append to that array fails.
_CALLER_ERRORS = (ValueError, TypeError, KeyError, LookupError, ExternalDataError)


class BatchRunner:
    """Runs on the writer thread: owns the synchronous saver, and with it the file."""

    def __init__(
        self,
        path: Path | str,
        *,
        save_type: Any,
        new_file: bool | None,
        metadata: dict[str, Any] | None,
        swmr: bool,
        flush_interval: int,
        tuning: WriterTuning,
    ) -> None:
        self.saver = H5SaverLowLevel(save_type=save_type)
        self.tuning = tuning
        # What the NodeRefs this runner hands out carry, so that the saver knows its own.
        self.origin = RefOrigin(str(path))
        self._open_args = (path, new_file, metadata, swmr)
        self.flush_interval = flush_interval
        self.broken: WriterBrokenError | None = None
        self.append_errors: list[BaseException] = []
        self.rows_appended = 0  # rows of enlargeable arrays
        self.strings_appended = 0  # strings of string arrays: log lines and the like
        self.bytes_written = 0
        self.flushes = 0
        self.batches = 0
        self.closed = False
        self.last_flush = time.monotonic()
        self._appends_since_flush = 0
        self._unflushed = False
        self._disk = DiskWatch(self.saver, Path(path))
        self._swmr = SwmrSwitch(
            self.saver, self._disk, capable=swmr, resume_delay_s=tuning.swmr_resume_delay_s
        )
        self._open = OpenArrays(self.saver, self._disk, self._swmr, tuning.max_open_chunk_bytes)
        self._closing = False
        self._copied: tuple[int, int] | None = None  # the file closed for a copy

    # -- lifecycle ----------------------------------------------------------------------------

    def open(self) -> NodeRef:
        """Open or create the file; returns the raw group."""
        path, new_file, metadata, swmr = self._open_args
        if new_file is None:
            with claimed_new_file(path) as exclusive:
                self.saver.init_file(
                    path, new_file=True, metadata=metadata, swmr_mode=swmr, exclusive=exclusive
                )
        else:
            self.saver.init_file(path, new_file=new_file, metadata=metadata, swmr_mode=swmr)
        # An engine without SWMR (HSDS) opened the file without it: SWMR calls are no-ops.
        swmr = self._swmr.capable = swmr and self.saver.swmr_mode
        if swmr:
            # Opened again through the rollback journal: from here on, whatever is written
            # outside SWMR can be undone after a kill (the journal module says why).
            self.saver.reopen()
        self._disk.note_written()
        raw = self.saver.raw_group
        assert isinstance(raw, Node)
        return node_ref(raw, self.origin)

    def reopen_after_copy(self) -> None:
        """Open the file again after :class:`SaveCopyOp` closed it: the same file, or none
        (the writer breaks) if its path names another file now or reopening fails (the rows
        accepted since have no file to go to)."""
        try:
            if self._copied is not None:
                engine = self.saver.engine
                engine.check_path_names(self._open_args[0], self._copied, "reopen after the copy")
            self.saver.reopen()
        except Exception as exc:
            self._break(exc)
            return
        self.closed = False
        self._disk.note_written()

    # -- batches ------------------------------------------------------------------------------

    def execute(self, batch: list[Op], flush_deadline: float | None) -> None:
        """Run one batch in order, answering every operation in it (``result`` or ``error``);
        flush after it if the monotonic clock has reached ``flush_deadline`` by then (checked
        at the end, so that a long batch does not delay the flush by one more batch).

        A :class:`SaveCopyOp` or :class:`CloseOp` closes the file, so it must be the last
        operation of its batch (:meth:`.writer_task.WriterTask._take_batch` ends batches
        there); an operation that finds the file closed anyway breaks the writer
        rather than failing as if its caller were wrong."""
        self.batches += 1
        if self.broken is None and not self.closed:
            self._guard(self._disk.measure)
        # The appends since the last barrier, by array.
        run: dict[str, list[AppendOp]] = {}
        for op in batch:
            if op.state is OpState.DROPPED:
                continue
            if isinstance(op, AppendOp):
                run.setdefault(op.path, []).append(op)
                continue
            self._write_appends(run)
            run = {}
            # Shapes are due at a barrier (a read, an attribute, a flush sees them current);
            # a creation is none, and leaves them for the next one.
            creates = isinstance(op, CallOp) and op.creates
            if self.broken is None and not self.closed and not creates:
                self._guard(self._open.record_shapes)
            self._run(op)
        self._write_appends(run)
        if self.broken is None and not self.closed:
            self._guard(self._after_batch, flush_deadline)

    def _after_batch(self, flush_deadline: float | None) -> None:
        interval_reached = 0 < self.flush_interval <= self._appends_since_flush
        period_reached = flush_deadline is not None and time.monotonic() >= flush_deadline
        if self._unflushed and (period_reached or interval_reached):
            self._flush()
        if self._swmr.wanted and not self._swmr.active and self._swmr.may_resume():
            self._start_swmr()

    def _run(self, op: Op) -> None:
        if self.broken is not None:
            if isinstance(op, CloseOp) and not self.closed:
                self.abandon()
            op.error = self.broken
            return
        try:
            op.result = self._dispatch(op)
        except WriterBrokenError as exc:
            op.error = exc
        except ClosedFileError as exc:
            # The writer's own file is gone: not the caller's doing.
            op.error = self._break(exc)
        except _CALLER_ERRORS as exc:
            op.error = exc
        except Exception as exc:
            # A read that fails (a damaged or hostile file, an absurd shape) fails alone; only
            # a failed write means the file failed underneath the writer.
            reading = isinstance(op, CallOp) and not op.structural
            op.error = exc if reading else self._break(exc)

    def _guard(self, action: Callable[..., object], *args: Any) -> None:
        """Run a write that belongs to no caller; its failure breaks the writer."""
        try:
            action(*args)
        except Exception as exc:
            self._break(exc)

    def _break(self, cause: BaseException) -> WriterBrokenError:
        if self.broken is None:
            broken = WriterBrokenError(
                f"the file {self._open_args[0]} failed underneath the writer: expected writes to "
                f"succeed, got {type(cause).__name__}: {cause}; no further operation is possible"
            )
            broken.__cause__ = cause
            self.broken = broken
            if self._disk.truncated:
                self._let_go_of_file()  # damaged by another program: HDF5 touches it no more
            elif not self._disk.guard.refused:
                self._secure_file()
        return self.broken

    def _secure_file(self) -> None:
        """After a failure: a file that still flushes is sound and closes as usual at the end;
        one that does not is let go of at once, before any of its objects is released (HDF5
        would crash releasing them)."""
        file = self.saver.h5file
        if self.closed or file is None or not is_open(file):
            return
        try:
            file.flush()  # HDF5's own answer: can the file still be written out?
        except Exception:
            self._let_go_of_file()

    def _let_go_of_file(self) -> None:
        self.saver.let_go_of_file()
        self._open.forget()
        self._swmr.staging = {}
        self.closed = True

    def _dispatch(self, op: Op) -> Any:
        if isinstance(op, CallOp):
            if op.structural:
                self._claim_space(self._call_growth(op), op.method)
                self._swmr.structure_changed_at = self._swmr.clock()
                if self._swmr.active:
                    self._pause_swmr()
                try:
                    result = op.function(self.saver, *op.args, **op.kwargs)
                finally:
                    # The resume delay runs from the answer: the caller's next change (a late
                    # instrument's next node) can only come after it.
                    self._swmr.structure_changed_at = self._swmr.clock()
            else:
                result = op.function(self.saver, *op.args, **op.kwargs)
            if op.with_staged_strings and self._swmr.active:
                result = [*result, *self._swmr.staged_strings(op.args[0])]
            if op.structural:
                if not op.creates:
                    # Another change may have replaced or changed the arrays held open; a
                    # creation leaves them as they are (reopening them costs their chunks).
                    self._open.forget()
                self._swmr.note_string_array(result)
            op.value = op.cross(result, self.origin)
            return None
        if isinstance(op, FlushOp):
            self._raise_append_errors()
            self._flush()
            return None
        if isinstance(op, SwmrOp):
            if not self.saver.is_swmr_capable:
                return False  # no SWMR in this engine: a no-op (statistics() says so)
            if not self._swmr.capable:
                raise SwmrModeError(
                    "start_swmr: expected a saver opened with swmr=True, got one opened without"
                )
            self._swmr.wanted = op.start
            if op.start:
                self._start_swmr()
            elif self._swmr.active:
                self._pause_swmr()
            return self._swmr.active
        if isinstance(op, SaveCopyOp):
            file = self.saver.h5file
            self._copied = None if file is None else self.saver.engine.identity(file)
            self._close_file()
            return self.saver.file_path
        if isinstance(op, CloseOp):
            self._close_file()
            self._raise_append_errors()
            return None
        raise TypeError(f"expected a writer operation, got {type(op).__name__}")

    @property
    def swmr_switch(self) -> SwmrSwitch:
        """SWMR's switch; the event loop reads its pause figures (plain numbers)."""
        return self._swmr

    @property
    def unflushed(self) -> bool:
        """True if rows were written since the last flush."""
        return self._unflushed

    def _raise_append_errors(self) -> None:
        if self.append_errors:
            first, *rest = self.append_errors
            self.append_errors = []
            if rest:
                first.add_note(f"and {len(rest)} more appends failed the same way or otherwise")
            raise first

    # -- appends ------------------------------------------------------------------------------

    def _write_appends(self, run: dict[str, list[AppendOp]]) -> None:
        if not run:
            return
        swmr = self._swmr
        if self.broken is None and swmr.capable and not swmr.active:
            swmr.wanted = True  # with swmr=True, SWMR starts before the first append
            if swmr.may_resume():
                self._guard(self._start_swmr)
        for path, ops in run.items():
            if self.broken is not None:
                for op in ops:
                    op.error = self.broken
                continue
            try:
                node = self._open.node(path)
                if isinstance(node, StringARRAY):
                    self._append_strings(node, ops)
                elif isinstance(node, EARRAY) and node.kind == "EARRAY":
                    self._append_rows(node, ops)
                else:
                    raise NodeKindError(
                        f"append to {path}: expected an enlargeable array, got a {node.kind}"
                    )
            except ClosedFileError as exc:
                # The writer's own file is gone: not the callers' doing.
                self._break(exc)
            except _CALLER_ERRORS as exc:
                self.append_errors.append(exc)
                for op in ops:
                    op.error = op.error or exc
            except Exception as exc:
                self._break(exc)
            for op in ops:
                op.error = op.error or self.broken
            self._open.appended(path)
        if self.broken is None:
            self._guard(self._open.limit)

    def _append_rows(self, node: EARRAY, ops: list[AppendOp]) -> None:
        writer = self._open.writer(node)
        row_shape, dtype = writer.row_shape, writer.dtype
        parts: list[np.ndarray] = []
        for op in ops:
            if not isinstance(op, RowsAppend):
                # Checked against a string array since replaced: this append fails alone.
                op.error = UncastableDTypeError(
                    f"append to {node.path}: expected rows of shape {row_shape} and dtype "
                    f"{dtype}, got a str (checked against a string array since replaced, or "
                    "of another file)"
                )
                self.append_errors.append(op.error)
                continue
            if op.dtype != dtype or op.row_shape != row_shape:
                # The array was replaced after the rows were checked: this append fails alone.
                mismatch = ShapeMismatchError if op.row_shape != row_shape else UncastableDTypeError
                op.error = mismatch(
                    f"append to {node.path}: expected rows of shape {row_shape} and dtype "
                    f"{dtype}, got {op.row_shape} and {op.dtype} (checked against an array "
                    "since replaced, or of another file)"
                )
                self.append_errors.append(op.error)
                continue
            parts.extend(op.parts())
        if not parts:
            return
        nbytes = sum(part.nbytes for part in parts)
        self._claim_space(
            nbytes + writer.chunk_bytes + self.tuning.array_growth_bytes, f"append to {node.path}"
        )
        writer.append(parts)
        rows = sum(part.shape[0] for part in parts)
        self.rows_appended += rows
        self._count_written(rows, nbytes)

    def _append_strings(self, node: StringARRAY, ops: list[AppendOp]) -> None:
        texts: list[str] = []
        for op in ops:
            if isinstance(op, TextAppend):
                texts.extend(op.texts)
                continue
            # Checked against an array since replaced: this append fails alone.
            op.error = UncastableDTypeError(
                f"append to {node.path}: expected a str, got rows of an array (checked "
                "against an array since replaced, or of another file)"
            )
            self.append_errors.append(op.error)
        if not texts:
            return
        tuning = self.tuning
        growth = (
            sum(len(text) * 4 + tuning.string_growth_bytes for text in texts)
            + tuning.array_growth_bytes
        )
        if self._swmr.active:
            self._claim_space(growth, f"append to {node.path}", kept_for_fold=growth)
            append_staged(self._swmr.staging[node.path], texts)
        else:
            self._claim_space(growth, f"append to {node.path}")
            node.extend(texts)
        self.strings_appended += len(texts)
        self._count_written(len(texts), sum(len(text) for text in texts))

    def _count_written(self, rows: int, nbytes: int) -> None:
        """Count rows or strings written, towards the next flush by count too."""
        self.bytes_written += nbytes
        self._appends_since_flush += rows
        self._unflushed = True

    def _flush(self) -> None:
        self._open.record_shapes()
        self._disk.check_intact("flush")
        self.saver.flush()
        self._disk.note_written()
        self._disk.flushed()
        self.flushes += 1
        self._appends_since_flush = 0
        self._unflushed = False
        self.last_flush = time.monotonic()

    # -- room on disk, SWMR ---------------------------------------------------------------

    def _claim_space(self, nbytes: int, action: str, *, kept_for_fold: int = 0) -> None:
        """Claim room for a write, or raise OSError before making it. Claims are upper bounds
        that stay counted until a flush places them in the file: when one does not fit, a
        flush makes the account exact before it is refused."""
        space = self._disk.guard
        if not space.fits(nbytes + kept_for_fold) and space.unflushed_bytes:
            self._flush()
        space.claim(nbytes, action, kept_for_fold=kept_for_fold)

    def _call_growth(self, op: CallOp[Any]) -> int:
        """Room for a structural call: its own metadata, and the arrays it is given to store."""
        values = [*op.args, *op.kwargs.values()]
        return self.tuning.call_growth_bytes + sum(
            value.nbytes for value in values if isinstance(value, np.ndarray)
        )

    def swmr_resume_at(self) -> float | None:
        """When (monotonic clock) SWMR, paused by structure changes, is due to start again;
        None if it is on, not wanted, or the file is closed or broken."""
        if self.closed or self.broken is not None:
            return None
        return self._swmr.resume_at()

    def _start_swmr(self) -> None:
        """Record the shapes due, give every string array a staging array, turn SWMR on."""
        if self._swmr.active:
            return
        self._open.record_shapes()
        self._swmr.start(self._claim_space, self.tuning.call_growth_bytes)

    def _pause_swmr(self) -> None:
        """Turn SWMR off and fold the staged strings in (see :meth:`SwmrSwitch.pause`)."""
        self._swmr.pause(self._open.shapes_due(), self._open.forget, closing=self._closing)

    def _close_file(self) -> None:
        if self.closed:
            return
        if self._swmr.active:
            self._closing = True
            try:
                self._pause_swmr()
            finally:
                self._closing = False
        self._open.record_shapes()
        self._swmr.give_back_reservation()
        self.saver.close_file()
        self.flushes += 1
        self._unflushed = False
        self._open.forget()
        self.closed = True
        self._swmr.end_pause()

    def abandon(self) -> None:
        """Close the file after a failure, keeping whatever can still be kept: after a write
        refused for want of room, or a path that names another file now, nothing has failed,
        so it closes as usual, with its staged strings folded in if there is room."""
        try:
            if self._disk.guard.refused or self._swmr.close_whole:
                self._close_file()  # knows which arrays grew under SWMR: their shapes are due
            else:
                self._open.forget()
                self.saver.close_file()
                self._swmr.end_pause()
        except Exception as exc:
            self._break(exc)
        self.closed = True
