"""The writer's thread side: runs batches of operations on the synchronous saver.

Synchronous and single-threaded: the writer task hands it one batch at a time on one worker
thread. It merges runs of appends to the same array into one resize and one write, treats every
other operation as a barrier, keeps SWMR rules (no structure change and no variable-length write
while SWMR is on), and decides when to flush. A bad operation fails alone; a failure of the file
itself (an I/O error, a full disk) breaks the writer: that operation and every later one get
:class:`WriterBrokenError`.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import resource
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np

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
from aioh5saver.engine.external import check_stored_in_file
from aioh5saver.engine.h5py_append import ArrayWriter
from aioh5saver.engine.h5py_engine import (
    check_file_intact,
    check_path_names,
    file_descriptor,
    file_identity,
)
from aioh5saver.engine.space import RESERVE_BYTES, SpaceGuard
from aioh5saver.errors import (
    ClosedFileError,
    ExternalDataError,
    FileChangedError,
    NodeKindError,
    NodeNotFoundError,
    ShapeMismatchError,
    SwmrModeError,
    UncastableDTypeError,
    WriterBrokenError,
)
from aioh5saver.sync.backend import reconcile_swmr_attrs_of
from aioh5saver.sync.nodes import CARRAY, EARRAY, Node, StringARRAY
from aioh5saver.sync.saver import H5SaverLowLevel
from aioh5saver.sync.staging import append_staged, create_staging, fold_staged_strings, read_staged

__all__ = ["WriterCore"]

# After a structure change ends SWMR, SWMR starts again only once no other change has come for
# this long: a late instrument that creates its groups and arrays one after the other costs one
# SWMR pause, not one per node (each pause closes and reopens the file). Rows appended meanwhile
# are written all the same, without SWMR.
SWMR_RESUME_DELAY_S = 0.25

# Exceptions that say an operation's input was wrong; anything else raised while writing is a
# failure of the file.
# ExternalDataError is an OSError, but the file is sound: only the append to that array fails.
_CALLER_ERRORS = (ValueError, TypeError, KeyError, LookupError, ExternalDataError)

# Room claimed for a call that changes the file's structure or attributes (object headers,
# links, attribute storage), on top of the arrays it is given to store; and for the index
# entries and part-filled last chunk of an array that grows.
CALL_GROWTH_BYTES = 64 << 10
ARRAY_GROWTH_BYTES = 4 << 10
# Each staged or folded string costs this much beyond its text (heap and staging overhead).
STRING_GROWTH_BYTES = 64
# Each array appended to keeps about one chunk in memory (HDF5's chunk cache holds its
# part-filled last chunk; up to 1 MiB, see backend.chunk_shape), whatever the queue's budget.
# Past this many bytes of chunks, the arrays appended to least recently are flushed and closed;
# the next append opens them again.
MAX_OPEN_CHUNK_BYTES = 64 << 20


class WriterCore:
    """Owns the synchronous saver, and with it the file, on the writer thread."""

    def __init__(
        self,
        path: Path,
        *,
        save_type: Any,
        new_file: bool | None,
        metadata: dict[str, Any] | None,
        swmr: bool,
        flush_interval: int,
    ) -> None:
        self.saver = H5SaverLowLevel(save_type=save_type)
        # What the NodeRefs this core hands out carry, so that the saver knows its own.
        self.origin = RefOrigin(str(path))
        self._open_args = (path, new_file, metadata, swmr)
        self.swmr_wanted = False
        self.swmr_capable = swmr
        self.flush_interval = flush_interval
        self.broken: WriterBrokenError | None = None
        self.append_errors: list[BaseException] = []
        self.rows_appended = 0
        self.bytes_written = 0
        self.flushes = 0
        self.batches = 0
        self.swmr_active = False
        self.closed = False
        self.last_flush = time.monotonic()
        self._appends_since_flush = 0
        self._unflushed = False
        self._arrays: dict[str, Node] = {}
        self._writers: dict[str, ArrayWriter] = {}  # least recently appended to first
        self._grown_under_swmr: set[str] = set()  # closed since SWMR started: shapes due
        self._structure_changed_at = -math.inf
        self._swmr_started_once = False
        self._staging: dict[str, h5py.Dataset] = {}
        self._string_arrays: set[str] | None = None
        self._space = SpaceGuard(Path(path))
        # Bytes of the file known to be written (its size after the last flush): fewer on disk
        # means another program truncated it.
        self._written = 0
        self._fd = -1  # the open file's descriptor, noted with _written
        # After a failure that left the file whole (no room to end SWMR, the path renamed or
        # replaced): close it as usual at the end, SWMR ended and strings folded if possible.
        self._close_whole = False
        self._truncated = False
        self._closing = False
        self._copied: tuple[int, int] | None = None  # the file closed for a copy

    # -- lifecycle ----------------------------------------------------------------------------

    def open(self) -> NodeRef:
        """Open or create the file; returns the raw group."""
        path, new_file, metadata, swmr = self._open_args
        if new_file is None:
            with claimed_new_file(path):
                self.saver.init_file(path, new_file=True, metadata=metadata, swmr_mode=swmr)
        else:
            self.saver.init_file(path, new_file=new_file, metadata=metadata, swmr_mode=swmr)
        if swmr:
            # Opened again through the rollback journal: from here on, whatever is written
            # outside SWMR can be undone after a kill (the journal module says why).
            self.saver.reopen()
        self._note_written()
        raw = self.saver.raw_group
        assert isinstance(raw, Node)
        return NodeRef.of(raw, self.origin)

    def reopen_after_copy(self) -> None:
        """Open the file again after :class:`SaveCopyOp` closed it: the same file, or none
        (the writer breaks) if its path names another file now or reopening fails (the rows
        accepted since have no file to go to)."""
        try:
            if self._copied is not None:
                check_path_names(Path(self._open_args[0]), self._copied, "reopen after the copy")
            self.saver.reopen()
        except Exception as exc:
            self._break(exc)
            return
        self.closed = False
        self._note_written()

    # -- batches ------------------------------------------------------------------------------

    def execute(self, batch: list[Op], flush_deadline: float | None) -> None:
        """Run one batch in order, answering every operation in it (``result`` or ``error``);
        flush after it if the monotonic clock has reached ``flush_deadline`` by then (checked
        at the end, so that a long batch does not delay the flush by one more batch).

        A :class:`SaveCopyOp` or :class:`CloseOp` closes the file, so it must be the last
        operation of its batch (:meth:`Writer._take_batch <.writer.Writer._take_batch>` ends
        batches there); an operation that finds the file closed anyway breaks the writer
        rather than failing as if its caller were wrong."""
        self.batches += 1
        if self.broken is None and not self.closed:
            self._guard(self._measure_space)
        segment: dict[str, list[AppendOp]] = {}
        for op in batch:
            if op.state is OpState.DROPPED:
                continue
            if isinstance(op, AppendOp):
                segment.setdefault(op.path, []).append(op)
                continue
            self._write_appends(segment)
            segment = {}
            if self.broken is None and not self.closed:
                self._guard(self._record_shapes)
            self._run(op)
        self._write_appends(segment)
        if self.broken is None and not self.closed:
            self._guard(self._after_batch, flush_deadline)

    def _after_batch(self, flush_deadline: float | None) -> None:
        interval_reached = 0 < self.flush_interval <= self._appends_since_flush
        period_reached = flush_deadline is not None and time.monotonic() >= flush_deadline
        if self._unflushed and (period_reached or interval_reached):
            self._flush()
        if self.swmr_wanted and not self.swmr_active and self._may_resume_swmr():
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

    def _guard(self, action: Any, *args: Any) -> None:
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
            if self._truncated:
                self._let_go_of_file()  # damaged by another program: HDF5 touches it no more
            elif not self._space.refused:
                self._secure_file()
        return self.broken

    def _secure_file(self) -> None:
        """After a failure: a file that still flushes is sound and closes as usual at the end;
        one that does not is let go of at once, before any of its objects is released (HDF5
        would crash releasing them)."""
        file = self.saver.h5file
        if self.closed or file is None or not file.id.valid:
            return
        try:
            file.flush()  # HDF5's own answer: can the file still be written out?
        except Exception:
            self._let_go_of_file()

    def _let_go_of_file(self) -> None:
        self.saver.let_go_of_file()
        self._forget_arrays()
        self._staging = {}
        self.closed = True

    def _dispatch(self, op: Op) -> Any:
        if isinstance(op, CallOp):
            if op.structural:
                self._claim_space(_call_growth(op), f"{op.method}")
                self._structure_changed_at = time.monotonic()
                if self.swmr_active:
                    self._pause_swmr()
            result = getattr(self.saver, op.method)(*op.args, **op.kwargs)
            if op.method == "read_strings" and self.swmr_active:
                result = [*result, *self._staged_strings(op.args[0])]
            if op.structural:
                self._forget_arrays()
                self._note_string_array(result)
            return to_wire(result, self.origin)
        if isinstance(op, FlushOp):
            self._raise_append_errors()
            self._flush()
            return None
        if isinstance(op, SwmrOp):
            if not self.swmr_capable:
                raise SwmrModeError(
                    "start_swmr: expected a saver opened with swmr=True, got one opened without"
                )
            self.swmr_wanted = op.start
            if op.start:
                self._start_swmr()
            elif self.swmr_active:
                self._pause_swmr()
            return self.swmr_active
        if isinstance(op, SaveCopyOp):
            file = self.saver.h5file
            self._copied = None if file is None else file_identity(file)
            self._close_file()
            return self.saver.file_path
        if isinstance(op, CloseOp):
            self._close_file()
            self._raise_append_errors()
            return None
        raise TypeError(f"expected a writer operation, got {type(op).__name__}")

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

    def _write_appends(self, segment: dict[str, list[AppendOp]]) -> None:
        if not segment:
            return
        if self.broken is None and self.swmr_capable and not self.swmr_active:
            self.swmr_wanted = True  # with swmr=True, SWMR starts before the first append
            if self._may_resume_swmr():
                self._guard(self._start_swmr)
        for path, ops in segment.items():
            if self.broken is not None:
                for op in ops:
                    op.error = self.broken
                continue
            try:
                node = self._array(path)
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
            writer = self._writers.pop(path, None)
            if writer is not None:
                self._writers[path] = writer  # the most recently appended to, last
        if self.broken is None:
            self._guard(self._limit_open_arrays)

    def _limit_open_arrays(self) -> None:
        """Close the arrays appended to least recently while their chunks in memory exceed
        :data:`MAX_OPEN_CHUNK_BYTES` (flushing them first: nothing is lost)."""
        held = sum(writer.chunk_bytes for writer in self._writers.values())
        while held > MAX_OPEN_CHUNK_BYTES and len(self._writers) > 1:
            path = next(iter(self._writers))
            writer = self._writers[path]
            if writer.shape_due:
                if self.swmr_active:
                    self._grown_under_swmr.add(path)
                else:
                    writer.record_shape()
            writer.release()
            del self._writers[path]
            self._arrays.pop(path, None)
            held -= writer.chunk_bytes
            self._note_written()

    def _array(self, path: str) -> Node:
        node = self._arrays.get(path)
        if node is None:
            node = self.saver.get_node(path)
            if isinstance(node, CARRAY):
                # Appends below go through ArrayWriter, not the node's own checked append:
                # data stored in other files must not be written there either.
                check_stored_in_file(node.node, f"append to {path}")
            self._arrays[path] = node
        return node

    def _append_rows(self, node: EARRAY, ops: list[AppendOp]) -> None:
        writer = self._writers.get(node.path)
        if writer is None:
            writer = self._writers[node.path] = ArrayWriter(node)
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
        growth = sum(part.nbytes for part in parts) + writer.chunk_bytes + ARRAY_GROWTH_BYTES
        self._claim_space(growth, f"append to {node.path}")
        writer.append(parts)
        self._count_rows(sum(part.shape[0] for part in parts), sum(part.nbytes for part in parts))

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
        growth = sum(len(text) * 4 + STRING_GROWTH_BYTES for text in texts) + ARRAY_GROWTH_BYTES
        if self.swmr_active:
            self._claim_space(growth, f"append to {node.path}", kept_for_fold=growth)
            append_staged(self._staging[node.path], texts)
        else:
            self._claim_space(growth, f"append to {node.path}")
            node.extend(texts)
        self._count_rows(len(texts), sum(len(text) for text in texts))

    def _count_rows(self, rows: int, nbytes: int) -> None:
        self.rows_appended += rows
        self.bytes_written += nbytes
        self._appends_since_flush += rows
        self._unflushed = True

    def _record_shapes(self) -> None:
        """Bring the ``shape`` attributes of the arrays appended to up to date (deferred to
        barriers and flushes: one attribute write per array, not per batch; SWMR forbids them,
        and its end reconciles every shape)."""
        if self.swmr_active:
            return
        for writer in self._writers.values():
            if writer.shape_due:
                writer.record_shape()

    def _forget_arrays(self) -> None:
        self._arrays.clear()
        self._writers.clear()

    def _flush(self) -> None:
        self._record_shapes()
        self._check_intact("flush")
        self.saver.flush()
        self._note_written()
        self._space.flushed(self._file_size())
        self.flushes += 1
        self._appends_since_flush = 0
        self._unflushed = False
        self.last_flush = time.monotonic()

    # -- room on disk -------------------------------------------------------------------------

    def _file_size(self) -> int:
        file = self.saver.h5file
        assert file is not None
        return int(file.id.get_filesize())

    def _measure_space(self) -> None:
        size = self._file_size()
        self._check_intact("write", size)
        self._space.measure(size)

    def _handle(self) -> int:
        file = self.saver.h5file
        assert file is not None
        return file_descriptor(file)

    def _note_written(self) -> None:
        """Record how many bytes the file holds now, written and flushed: up to its first
        hole (the unused end of a reservation reads as one). Called after each HDF5 call that
        may flush: HDF5 shortens the file to its end of allocation when it flushes, so only a
        file shorter than at the last such call was truncated by someone else."""
        handle = self._fd = self._handle()  # the same while the file stays open
        size = os.fstat(handle).st_size
        with contextlib.suppress(OSError, AttributeError):  # no SEEK_HOLE here: size it is
            size = min(size, os.lseek(handle, 0, os.SEEK_HOLE))
        self._written = size

    def _check_intact(self, action: str, hdf5_size: int | None = None) -> None:
        """Raise :class:`FileChangedError` if another program truncated the file: writing on
        would mix new bytes with lost ones, and HDF5 can block for good reading them back
        (seen: ``swmr_mode = True`` on a truncated file never returned)."""
        # HDF5 itself shrinks the file to its end of allocation at some flushes (a flush
        # that starts SWMR, for one): bytes past that end were never the file's.
        written = min(self._written, self._file_size() if hdf5_size is None else hdf5_size)
        try:
            check_file_intact(self._fd, Path(self._open_args[0]), written, action)
        except FileChangedError:
            self._truncated = True
            raise

    def _reserve(self, nbytes: int, action: str) -> int:
        """Make the disk hold ``nbytes`` more for the file (``posix_fallocate``) before
        writes that must not fail halfway: HDF5 then writes them into room already taken,
        whatever another program does to the disk meanwhile. Returns the file's size before,
        for :meth:`_trim`; raises :class:`OSError` (the file untouched) if there is no room."""
        handle = self._handle()
        size = os.fstat(handle).st_size
        end = max(size, self._file_size()) + nbytes
        soft, _hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        error: OSError | None = None
        if soft != resource.RLIM_INFINITY and end > soft:
            # Checked here: going past the limit would also raise SIGXFSZ, which kills.
            error = OSError(errno.EFBIG, "over the process's file-size limit (RLIMIT_FSIZE)")
        else:
            try:
                os.posix_fallocate(handle, size, end - size)
            except OSError as exc:
                if exc.errno in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                    return size  # no reservation on this file system: write as before
                error = exc
        if error is not None:
            raise OSError(
                error.errno,
                f"{action}: expected room for {nbytes / 2**20:.1f} MiB more on the disk of "
                f"{self._open_args[0]}, got none ({error.strerror}); nothing was written",
                str(self._open_args[0]),
            ) from error
        return size

    def _trim(self, size_before: int) -> None:
        """Give back the part of a reservation HDF5 did not use."""
        handle = self._handle()
        end = max(size_before, self._file_size())
        if os.fstat(handle).st_size > end:
            os.ftruncate(handle, end)

    def _claim_space(self, nbytes: int, action: str, *, kept_for_fold: int = 0) -> None:
        """Claim room for a write, or raise OSError before making it. Claims are upper bounds
        that stay counted until a flush places them in the file: when one does not fit, a
        flush makes the account exact before it is refused."""
        if not self._space.fits(nbytes + kept_for_fold) and self._space.unflushed_bytes:
            self._flush()
        self._space.claim(nbytes, action, kept_for_fold=kept_for_fold)

    # -- SWMR ---------------------------------------------------------------------------------

    def swmr_resume_at(self) -> float | None:
        """When (monotonic clock) SWMR, paused by structure changes, is due to start again;
        None if it is on, not wanted, or the file is closed or broken."""
        if self.swmr_active or not self.swmr_wanted or self.closed or self.broken is not None:
            return None
        if not self._swmr_started_once:
            return -math.inf
        return self._structure_changed_at + SWMR_RESUME_DELAY_S

    def _may_resume_swmr(self) -> bool:
        """SWMR starts at once the first time (before the first append), and resumes after a
        pause once structure changes have stopped coming."""
        if not self._swmr_started_once:
            return True
        return time.monotonic() >= self._structure_changed_at + SWMR_RESUME_DELAY_S

    def _start_swmr(self) -> None:
        """Give every string array a staging array, then turn SWMR on."""
        if self.swmr_active:
            return
        self._record_shapes()
        string_arrays = self._find_string_arrays()
        self._claim_space(len(string_arrays) * CALL_GROWTH_BYTES, "start SWMR")
        self._staging = {node.path: create_staging(node) for node in string_arrays}
        self._check_intact("start SWMR")
        self.saver.enable_swmr()
        self._note_written()  # starting SWMR flushes, and HDF5 may shorten the file then
        self.swmr_active = True
        self._swmr_started_once = True

    def _staged_strings(self, where: Any) -> list[str]:
        """The strings of a string array written since SWMR started, still in staging."""
        staging = self._staging.get(self.saver.get_node(where).path)
        return [] if staging is None else read_staged(staging)

    def _note_string_array(self, created: Any) -> None:
        """Keep the list of string arrays up to date after a structural call: a creation
        returns its node; any other result may hide one, and the file is walked again."""
        if self._string_arrays is None or created is None:
            return
        if isinstance(created, StringARRAY):
            self._string_arrays.add(created.path)
        elif not isinstance(created, Node):
            self._string_arrays = None

    def _find_string_arrays(self) -> list[StringARRAY]:
        """The file's string arrays. The file is walked once; after that the paths noted at
        their creation are looked up, since a walk, one HDF5 call after another, is slow while
        the event loop is busy (1.5-2.4 s for 20 nodes, seen here)."""
        if self._string_arrays is None:
            found = [node for node in self.saver.walk_nodes("/") if isinstance(node, StringARRAY)]
            self._string_arrays = {node.path for node in found}
            return found
        arrays = []
        for path in sorted(self._string_arrays):
            try:
                node = self.saver.get_node(path)
            except NodeNotFoundError:
                node = None
            if isinstance(node, StringARRAY):
                arrays.append(node)
            else:
                self._string_arrays.discard(path)
        return arrays

    def _pause_swmr(self) -> None:
        """Turn SWMR off (close, reopen, reconcile shapes) and fold the staged strings in.

        The file opened again is the one that was open: if its path names another file now
        (renamed, replaced, deleted), a structure change breaks the writer before anything is
        closed, and the close at the end (``_closing``) opens the file where it is now. The
        fold's room is reserved on the disk first, so that neither the fold nor the flush
        that follows it can fail for want of room: a disk another program fills cannot leave
        a string array pointing past the end of the file, nor lose a staged string. Outside
        SWMR the file is written through its rollback journal (:mod:`.journal`), so a kill
        anywhere in the pause is undone by ``recover``."""
        grown = {writer.path for writer in self._writers.values() if writer.shape_due}
        grown |= self._grown_under_swmr
        self._check_intact("end SWMR")
        try:
            self.saver.reopen(moved_ok=self._closing)
        except FileChangedError:
            self._close_whole = True  # still open, under SWMR, and sound: closed whole at the end
            raise
        self.swmr_active = False
        self._forget_arrays()
        self._staging = {}
        file = self.saver.h5file
        assert file is not None
        self._note_written()
        self._grown_under_swmr = set()
        try:
            size_before = self._reserve(
                self._space.pending_fold_bytes + RESERVE_BYTES, "end SWMR and fold staged strings"
            )
        except OSError as exc:
            exc.add_note(
                "the file stays whole: the strings written under SWMR stay in its staging arrays, "
                "which the next saver to open it for writing folds in (aioh5saver recover "
                "reports them)"
            )
            self._close_whole = True
            raise
        self._space.folded()

        reconcile_swmr_attrs_of(self.saver, sorted(grown), clear_flag=False)
        fold_staged_strings(file)
        self._trim(size_before)
        reconcile_swmr_attrs_of(self.saver, [])
        self._note_written()

    def _close_file(self) -> None:
        if self.closed:
            return
        if self.swmr_active:
            self._closing = True
            try:
                self._pause_swmr()
            finally:
                self._closing = False
        self._record_shapes()
        self.saver.close_file()
        self.flushes += 1
        self._unflushed = False
        self._forget_arrays()
        self.closed = True

    def abandon(self) -> None:
        """Close the file after a failure, keeping whatever can still be kept: after a write
        refused for want of room, or a path that names another file now, nothing has failed,
        so it closes as usual, with its staged strings folded in if there is room."""
        try:
            if self._space.refused or self._close_whole:
                self._close_file()  # knows which arrays grew under SWMR: their shapes are due
            else:
                self._forget_arrays()
                self.saver.close_file()
        except Exception as exc:
            self._break(exc)
        self.closed = True


def _call_growth(op: CallOp) -> int:
    """Room for a structural call: its own metadata, and the arrays it is given to store."""
    values = [*op.args, *op.kwargs.values()]
    return CALL_GROWTH_BYTES + sum(
        value.nbytes for value in values if isinstance(value, np.ndarray)
    )


def to_wire(value: Any, origin: RefOrigin | None = None) -> Any:
    """A result that may cross to the event loop: nodes become :class:`NodeRef` made by
    ``origin``; containers and generators of nodes become containers of refs; nothing live
    leaves the thread."""
    if isinstance(value, Node):
        return NodeRef.of(value, origin)
    if isinstance(value, dict):
        return {key: to_wire(item, origin) for key, item in value.items()}
    if isinstance(value, tuple):
        return tuple(to_wire(item, origin) for item in value)
    if isinstance(value, list) or hasattr(value, "__next__"):
        return [to_wire(item, origin) for item in value]
    if isinstance(value, h5py.HLObject):
        raise TypeError(f"expected a value that may leave the writer thread, got {value!r}")
    return value
