"""What ``aioh5saver inspect`` shows: the tree of an HDF5 file, read safely, even while it grows.

:func:`inspect_file` reads a PyMoDAQ or aioh5saver file (or any HDF5 file) and returns a
:class:`FileReport`: its groups and arrays with their shapes, dtypes and decoded attributes,
and the last lines of its ``Logger``.

Reading an untrusted file is done so that the file cannot take over the reader:

- nothing is evaluated or unpickled: attributes go through
  :func:`~aioh5saver.format.attrs.decode_attr` and log lines through the pickled-string
  decoder, which refuse what they do not know;
- the HDF5 work runs in a child process (:mod:`.sandbox`, :mod:`.child`), with an
  address-space limit (``RLIMIT_AS``) and a time limit, because a crafted file can make HDF5
  itself loop forever or allocate without bound; the child answers in plain JSON
  (:mod:`.wire`);
- the walk (:mod:`.walk`) is bounded (:mod:`.limits`): at most ``max_nodes`` nodes listed (the
  rest counted), nesting at most ``MAX_DEPTH`` levels deep, each object visited once (hard-link
  cycles are shown as links), soft and external links never followed, at most ``MAX_ATTRS``
  attributes per node, attributes larger than ``MAX_ATTR_BYTES`` not read, long texts cut, and
  an allowance on the total size of the answer. Datasets are never read, except the last log
  lines (:mod:`.log_tail`).

A file written under SWMR is read as a SWMR reader (``swmr=True, locking=False``), so that it
can be inspected while an :class:`~aioh5saver.AsyncH5Saver` writes it; a file being written
without SWMR cannot be read by HDF5 and raises :class:`FileInUseError`.

The report is a :class:`~.report.FileReport`; :func:`~.render.render_report` makes it a text.
"""

from __future__ import annotations

import os
import time
from typing import Any

from aioh5saver.engine.file_users import lock_state, writer_pids
from aioh5saver.engine.hsds_engine import is_hsds_location
from aioh5saver.engine.superblock import Superblock, read_superblock
from aioh5saver.errors import CorruptFileError, FileInUseError
from aioh5saver.format.checks import check_count, check_seconds
from aioh5saver.tools.limits import COUNT_CAP
from aioh5saver.tools.report import FileReport
from aioh5saver.tools.sandbox import DEFAULT_MAX_MEMORY, run_child
from aioh5saver.tools.wire import node_from_json
from aioh5saver.tools.writer_state import NO_WRITER_HINT, not_swmr_message

__all__ = ["inspect_file"]

# How long a SWMR-capable file may stay "open for writing without SWMR" (a writer between
# ending SWMR and starting it again) before it is reported as not readable.
NOT_SWMR_GRACE = 2.0

# One attempt at reading a file a writer has open lasts at most this long before it is retried.
WRITING_ATTEMPT_S = 5.0
# A retry needs at least this long (a child process starting and opening the file): with less
# time left, the failure of the last attempt is the answer.
MIN_ATTEMPT_S = 1.0


def inspect_file(
    path: str | os.PathLike[str],
    *,
    log_lines: int = 5,
    timeout: float = 30.0,
    max_nodes: int = 10_000,
    max_memory: int = DEFAULT_MAX_MEMORY,
) -> FileReport:
    """The tree of the HDF5 file at ``path`` (or of the HSDS domain at an ``hsds://``
    location, :mod:`.inspect_domain`): nodes, shapes, dtypes, decoded attributes and the
    last ``log_lines`` lines of its Logger, read in a child process limited to ``timeout``
    seconds and ``max_memory`` bytes of address space.

    Raises :class:`MissingFileError` (no file), :class:`CorruptFileError` (not HDF5, damaged,
    or HDF5 did not answer in time) and :class:`FileInUseError` (being written without SWMR).
    """
    check_count(log_lines, "log_lines")
    check_count(max_nodes, "max_nodes", minimum=1)
    check_count(max_memory, "max_memory", minimum=1 << 26)
    check_seconds(timeout, "timeout")
    where = os.fspath(path)
    if is_hsds_location(where):
        from aioh5saver.tools.inspect_domain import inspect_domain

        return inspect_domain(
            where, log_lines=log_lines, timeout=timeout, max_nodes=max_nodes, max_memory=max_memory
        )
    deadline = time.monotonic() + timeout
    last_fatal: dict[str, Any] | None = None
    while True:
        superblock, swmr_read = wait_readable(
            where, grace=min(NOT_SWMR_GRACE, max(0.0, deadline - time.monotonic()))
        )
        remaining = max(0.0, deadline - time.monotonic())
        if last_fatal is not None and remaining < MIN_ATTEMPT_S:
            # No time left for a fair attempt: the last failure is what the file gives.
            answer = last_fatal
            break
        # A live writer may end SWMR (to create nodes) between our look at its state and the
        # child's open, which then fails or waits: such an attempt is short and is retried.
        attempt = min(remaining, WRITING_ATTEMPT_S) if superblock.writing else remaining
        try:
            answer = run_child(
                [
                    "inspect",
                    where,
                    "--mode",
                    "swmr" if swmr_read else "plain",
                    "--log-lines",
                    str(log_lines),
                    "--max-nodes",
                    str(max_nodes),
                ],
                where=where,
                timeout=attempt,
                max_memory=max_memory,
                timeout_given=timeout,
            )
        except CorruptFileError as exc:
            if superblock.writing and time.monotonic() < deadline:
                continue
            if last_fatal is not None:  # the last attempt was only cut short by the deadline
                answer = last_fatal
                break
            if superblock.writing and not writer_pids(where):
                raise CorruptFileError(f"{exc}; {NO_WRITER_HINT}") from None
            raise
        if "fatal" in answer and superblock.writing and time.monotonic() < deadline:
            last_fatal = answer
            continue
        break
    if "fatal" in answer:
        raise _fatal_error(where, answer, superblock)
    log = answer["log"]
    size = os.stat(where).st_size
    return FileReport(
        path=where,
        size_bytes=size,
        writing=superblock.writing,
        swmr=superblock.swmr_writing,
        nodes=tuple(node_from_json(node) for node in answer["nodes"]),
        log_lines=tuple(log["lines"]),
        superblock_version=superblock.version,
        nodes_omitted=int(answer["omitted"]),
        log_path=log["path"],
        log_total=int(log["total"]),
        log_staged=int(log["staged"]),
        notes=tuple(_notes(where, superblock, size, answer)),
        log_error=None if log.get("error") is None else str(log["error"]),
    )


def wait_readable(where: str, *, grace: float) -> tuple[Superblock, bool]:
    """The superblock of ``where`` and whether to read it as a SWMR reader, once HDF5 can read
    it. A SWMR-capable file written without SWMR (a writer between ending SWMR to create
    nodes and starting it again) is waited for up to ``grace`` seconds; a file being written
    without SWMR raises :class:`FileInUseError`."""
    deadline = time.monotonic() + grace
    while True:
        superblock = read_superblock(where)
        if superblock.swmr_writing:
            return superblock, True
        if not superblock.writing:
            # Versions 0 and 1 have no flags: only HDF5's file lock shows a writer.
            if superblock.flags is None and _lock_state(where) == "exclusive":
                raise FileInUseError(
                    f"{where}: expected a file that is closed or written under SWMR, got one "
                    "that another process holds HDF5's exclusive lock on: it is being written "
                    "without SWMR, and HDF5 cannot read it until that process closes it"
                )
            return superblock, False
        if time.monotonic() >= deadline:
            raise FileInUseError(not_swmr_message(where))
        time.sleep(0.02)  # polling the writer's state, not ordering events


def _lock_state(where: str) -> str:
    try:
        return lock_state(where)
    except OSError:
        return "unknown"


def _fatal_error(where: str, answer: dict[str, Any], superblock: Superblock) -> Exception:
    message = str(answer.get("message", ""))
    if "already open for write" in message:
        return FileInUseError(not_swmr_message(where))
    hint = ""
    size = os.stat(where).st_size
    if superblock.writing and not superblock.swmr_writing:
        hint = "; its superblock says a writer has it open: 'aioh5saver recover' clears that"
    if superblock.recorded_end > size:
        hint = (
            f"; its superblock records an end of file at {superblock.recorded_end} bytes, past "
            f"its real size {size}: it was cut short, or its writer failed to write it all "
            "('aioh5saver recover' lowers the recorded end so that HDF5 opens what is there)"
        )
    return CorruptFileError(
        f"{where}: expected a readable HDF5 file, got one HDF5 cannot read "
        f"({answer['fatal']}: {message}){hint}"
    )


def _notes(where: str, superblock: Superblock, size: int, answer: dict[str, Any]) -> list[str]:
    notes = []
    if superblock.writing and not writer_pids(where):
        notes.append(
            "the superblock says a writer has the file open, but no process on this machine "
            "has it open for writing: if its writer was killed, 'aioh5saver recover' makes it "
            "writable again"
        )
    if superblock.checksum_ok is False:
        notes.append("the superblock's checksum does not match its bytes")
    if superblock.recorded_end > size and superblock.writing:
        notes.append(
            f"the superblock records an end of file at {superblock.recorded_end} bytes, past "
            f"the real size {size} (normal while a writer has space reserved)"
        )
    errors = sum(1 for node in answer["nodes"] if node.get("error"))
    if errors:
        notes.append(f"{errors} nodes could not be read in full: see their errors")
    outside = sum(1 for node in answer["nodes"] if node.get("outside"))
    if outside:
        notes.append(
            f"{outside} arrays have their data in other files (external raw storage or virtual "
            "datasets): they are listed, never read"
        )
    if answer["log"].get("error"):
        notes.append(f"log lines: {answer['log']['error']}")
    if answer.get("capped"):
        notes.append(f"counting the nodes not listed stopped at {COUNT_CAP}: there are more")
    if answer.get("allowance_exhausted"):
        notes.append("the listing was cut: the answer reached its size limit")
    return notes
