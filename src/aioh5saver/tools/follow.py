"""The live SWMR reader behind ``aioh5saver follow``: rows as they arrive, from another process.

:func:`follow` is an async generator (asyncio and trio, through anyio). It yields an
:class:`ArrayUpdate` whenever an enlargeable array (EARRAY, VLARRAY, StringARRAY, the Logger)
is first seen or its row count changes, and a :class:`WriterClosed` when the writer closes the
file. Always close it, e.g. ``async with contextlib.aclosing(follow(path)) as updates``.

How, and why so:

- The HDF5 work runs in a child process (the one ``inspect`` uses, :mod:`.child`, in its
  ``follow`` mode: :mod:`.follow_child`), never on the event loop's thread and never in this
  process: a crafted file can make HDF5 hang or allocate without bound, and the child has a
  memory limit and is killed when it stops answering. It prints one JSON line per poll;
  closing the generator kills it.
- Each poll opens the file afresh as a SWMR reader (``swmr=True, locking=False``), walks it and
  closes it. A reader opened before the writer created nodes cannot see them (HDF5 fails with
  "incorrect cache entry type"), because the writer ends SWMR, closes and reopens the file to
  create nodes; a fresh open every poll sees every new node, and needs no ``refresh()``.
- The writer's state comes from the superblock's consistency flags, read from the file's bytes
  (:func:`~aioh5saver.engine.superblock.read_superblock`). While a SWMR-capable file is
  written without SWMR (the writer creating nodes, or not yet started), polls wait; after
  ``wait_for_swmr`` seconds of it :class:`FileInUseError` is raised. A file of superblock
  version 0 or 1 whose HDF5 lock a writer holds can never be read while written: that raises
  at once.
- The writer has closed when the flags are clear, and stay clear with the file unchanged, on
  two polls in a row: the writer clears them for an instant when it reopens the file to create
  nodes, and a single look could take that for the end.
- The writer is gone (killed) when the flags still say "open for writing" but the file stays
  unchanged and no process on this machine has it open for writing for ``gone_after``
  seconds: :class:`WriterGone` ends the stream. A writer on another machine, or of another
  user, cannot be seen, and is taken for gone once its file stops changing.
- Rates are rows over the time between the looks that saw the two counts: from the first
  look that saw the previous count to the look that saw the new one. A writer's rows become
  visible in steps (at each flush), and most polls see no change: dividing by the time since
  the previous poll instead would count a whole flush period's rows over one poll interval.
- Strings written under SWMR wait in staging arrays (:mod:`aioh5saver.format.staging`): a
  staging array's complete strings are counted as rows of the array they belong to (the
  Logger), so its count grows while lines are logged, and does not jump when they are folded
  in.
- Reads that fail while the writer is between closing and reopening the file are retried; a
  file that stays unreadable for ``timeout`` seconds raises :class:`CorruptFileError`.
- An HSDS domain (``hsds://...``) is read by h5pyd in the same child, opened afresh every
  poll: rows show as its writers send them (after each batch); it has been closed when its
  arrays' appender claims are gone (:mod:`.domain_child` says when, and when a writer is gone).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import anyio
import anyio.to_thread
from anyio.streams.buffered import BufferedByteReceiveStream

from aioh5saver.engine.hsds_engine import HsdsLocation, is_hsds_location
from aioh5saver.engine.superblock import read_superblock
from aioh5saver.errors import (
    CorruptFileError,
    FileInUseError,
    MissingFileError,
    ServiceError,
)
from aioh5saver.format.checks import check_seconds
from aioh5saver.tools.sandbox import DEFAULT_MAX_MEMORY, child_command, parse_answer
from aioh5saver.tools.writer_state import dead_writer_hint

__all__ = ["ArrayUpdate", "RowTracker", "WriterClosed", "WriterGone", "follow"]

_MAX_ANSWER_LINE = 64 << 20


@dataclass(frozen=True)
class ArrayUpdate:
    """An enlargeable array seen for the first time (``appeared``), or whose row count changed.

    ``rows`` is its row count now, ``new_rows`` the change since the previous count (all rows
    when it appeared), ``rows_per_s`` that change over the seconds between the first look
    that saw the previous count and the look that saw this one (0 when it appeared; NaN for
    its first change after it appeared: the look that found it cannot tell since when that
    count was there, so the interval is not known),
    ``elapsed`` the seconds since :func:`follow` started, at the look that saw it.
    """

    path: str
    rows: int
    new_rows: int
    rows_per_s: float
    appeared: bool
    elapsed: float


@dataclass(frozen=True)
class WriterClosed:
    """The writer closed the file: the final row count of every enlargeable array."""

    elapsed: float
    arrays: dict[str, int]


@dataclass(frozen=True)
class WriterGone:
    """The writer is gone without closing the file (killed): its superblock still says a writer
    has it open, but it has not changed and no process on this machine has had it open for
    writing for ``gone_after`` seconds. ``arrays`` are the row counts last seen (empty if the
    file could not be read: written without SWMR when its writer died).
    ``aioh5saver recover`` makes such a file readable by every HDF5 tool again."""

    elapsed: float
    arrays: dict[str, int]


async def follow(
    path: str | os.PathLike[str],
    *,
    seconds: float | None = None,
    poll_interval: float = 0.25,
    wait_for_swmr: float = 5.0,
    timeout: float = 30.0,
    max_memory: int = DEFAULT_MAX_MEMORY,
    gone_after: float = 1.0,
) -> AsyncIterator[ArrayUpdate | WriterClosed | WriterGone]:
    """Follow the enlargeable arrays of the HDF5 file at ``path`` while another process writes
    it under SWMR, polling every ``poll_interval`` seconds; end with :class:`WriterClosed` when
    the writer closes the file, :class:`WriterGone` when its writer is gone without closing it
    (``gone_after`` seconds without a change or a writing process), or after ``seconds``
    (None: until it closes).

    Raises :class:`MissingFileError` (no file), :class:`CorruptFileError` (not HDF5, damaged, or
    HDF5 not answering for ``timeout`` seconds) and :class:`FileInUseError` (written without
    SWMR for more than ``wait_for_swmr`` seconds, or by a writer holding HDF5's lock).
    """
    check_seconds(seconds, "seconds", allow_none=True)
    check_seconds(poll_interval, "poll_interval")
    check_seconds(wait_for_swmr, "wait_for_swmr")
    check_seconds(timeout, "timeout")
    check_seconds(gone_after, "gone_after")
    where = os.fspath(path)
    start = time.monotonic()
    domain = is_hsds_location(where)
    if domain:
        where = str(HsdsLocation.parse(where))  # a malformed location: one clear error
    else:
        # A clear error at once for a missing or non-HDF5 file (a plain read: no HDF5 call).
        await anyio.to_thread.run_sync(read_superblock, where)
    command, env = child_command(
        [
            "follow",
            where,
            "--interval",
            repr(float(poll_interval)),
            "--timeout",
            repr(timeout),
            "--gone-after",
            repr(float(gone_after)),
        ],
        max_memory,
    )
    errors: BinaryIO = tempfile.TemporaryFile()  # noqa: SIM115 (closed in the finally below)
    try:
        process = await anyio.open_process(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors, env=env
        )
    except BaseException:
        errors.close()
        raise
    try:
        assert process.stdout is not None
        lines = BufferedByteReceiveStream(process.stdout)
        tracker = RowTracker(start)
        not_swmr_since: float | None = None
        while True:
            now = time.monotonic()
            wait = timeout
            if seconds is not None:
                if now >= start + seconds:
                    return
                wait = min(timeout, start + seconds - now)
            line = b""
            with anyio.move_on_after(wait):
                line = await _next_line(lines, where, process, errors)
            now = time.monotonic()
            if not line:
                if seconds is not None and now >= start + seconds:
                    return
                hint = "" if domain else await anyio.to_thread.run_sync(dead_writer_hint, where)
                raise CorruptFileError(
                    f"{where}: expected HDF5 to read the file within the timeout of {timeout:g} "
                    "s, got no answer; the reading process was killed (a damaged file can make "
                    f"HDF5 hang){hint}"
                )
            event = json.loads(line)
            kind = event["event"]
            if kind == "busy":
                not_swmr_since = not_swmr_since if not_swmr_since is not None else now
                if event["locked"] or now - not_swmr_since >= wait_for_swmr:
                    raise FileInUseError(event["message"])
                continue
            not_swmr_since = None
            if kind == "fatal":
                hint = "" if domain else await anyio.to_thread.run_sync(dead_writer_hint, where)
                failure = ServiceError if domain else CorruptFileError
                raise failure(f"{where}: {event['message']}{hint}")
            if kind == "missing":
                if domain:
                    raise MissingFileError(
                        f"{where}: expected an existing domain in an existing folder, got none"
                    )
                raise MissingFileError(f"{where}: expected the file to follow, got it removed")
            # The moment the child looked (the same monotonic clock), not when its line was read.
            observed_at = float(event.get("t", now))
            if kind == "gone":
                arrays = event.get("arrays")
                if arrays is not None:
                    for update in tracker.updates(arrays, observed_at):
                        yield update
                yield WriterGone(elapsed=observed_at - start, arrays=tracker.counts())
                return
            if kind not in ("poll", "closed"):
                continue  # "retry": the writer is between closing and reopening the file
            for update in tracker.updates(event["arrays"], observed_at):
                yield update
            if kind == "closed":
                yield WriterClosed(elapsed=observed_at - start, arrays=dict(event["arrays"]))
                return
    finally:
        with anyio.CancelScope(shield=True):
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                    process.kill()
            await process.aclose()
        errors.close()


async def _next_line(
    lines: BufferedByteReceiveStream, where: str, process: Any, errors: BinaryIO
) -> bytes:
    """The child's next JSON line, or the error its early end means."""
    try:
        return await lines.receive_until(b"\n", _MAX_ANSWER_LINE)
    except (anyio.EndOfStream, anyio.IncompleteRead, anyio.DelimiterNotFound):
        pass
    returncode = await process.wait()
    errors.seek(0)
    stderr = errors.read()[-2000:].decode("utf-8", "replace")
    parse_answer(b"", returncode, stderr, where)  # raises the error that describes the end
    raise AssertionError("unreachable")


class RowTracker:
    """Turns the row counts of successive looks into :class:`ArrayUpdate` events.

    For each array it keeps the count last seen and the moment of the first look that saw it;
    a new count's rate is the rows added over the seconds since that moment. Rows become
    visible in steps (a writer's flushes), so polls between two steps see no change and do
    not shorten the interval. The first change after an array appeared has no rate (NaN):
    its count may have been there long before the look that found it.
    """

    def __init__(self, start: float) -> None:
        self.start = start
        # Per array: the count last seen, the first look that saw it, and whether that look is
        # the one that found the array (then when the count began is not known).
        self.known: dict[str, tuple[int, float, bool]] = {}

    def counts(self) -> dict[str, int]:
        """The row count last seen of every array."""
        return {path: rows for path, (rows, _, _) in sorted(self.known.items())}

    def updates(self, arrays: dict[str, int], observed_at: float) -> list[ArrayUpdate]:
        """The updates a look at ``observed_at`` (seconds, the clock ``start`` is on) that found
        ``arrays`` (row count by path) makes: arrays appearing, and arrays whose count changed."""
        found = []
        for path in sorted(arrays):
            rows = int(arrays[path])
            previous = self.known.get(path)
            elapsed = observed_at - self.start
            if previous is None:
                self.known[path] = (rows, observed_at, True)
                found.append(ArrayUpdate(path, rows, rows, 0.0, True, elapsed))
            elif previous[0] != rows:
                self.known[path] = (rows, observed_at, False)
                change = rows - previous[0]
                interval = max(observed_at - previous[1], 1e-9)
                rate = math.nan if previous[2] else change / interval
                found.append(ArrayUpdate(path, rows, change, rate, False, elapsed))
        return found
