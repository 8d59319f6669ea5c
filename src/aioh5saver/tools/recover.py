"""Make a file left by a killed writer usable again: ``h5clear -s`` in Python, and a bit more.

A writer that dies leaves two things in the superblock that make HDF5 refuse the file:

- the *file consistency flags* (superblock versions 2 and 3): bit 0 "open for writing" and
  bit 2 "open for SWMR writing" are set while a writer has the file and cleared at close, and
  HDF5 refuses to open a file whose flags are set ("file is already open for write");
- an *end-of-file address* past the real end of the file (seen after a failed write on a full
  disk): HDF5 refuses the file as truncated. ``h5clear -s`` does not fix this one.

:func:`recover` clears the flags and sets the end-of-file address to the real size, by
rewriting the superblock's bytes in place (one ``os.pwrite`` and an ``fsync``) with its
checksum recomputed (Bob Jenkins' lookup3 ``hashlittle``, :func:`lookup3`). Nothing else is
changed. Then it reads the file back in a child process (:func:`~.inspect.inspect_file`) to
report the enlargeable arrays, their rows and the log lines.

It refuses a file another process is writing: one whose HDF5 file lock (an exclusive
``flock``, taken by HDF5 writers that use file locking) is held, and, on Linux, one that any
process it can see (``/proc/<pid>/fd``) has open for writing; SWMR writers release HDF5's lock,
so only the second check finds them. A writer on another machine (network file system) or
under another user cannot be seen: make sure it is gone.
"""

from __future__ import annotations

import errno
import fcntl
import os
from dataclasses import dataclass, field

from aioh5saver.engine.file_users import writer_pids
from aioh5saver.engine.journal import Rollback, roll_back
from aioh5saver.engine.superblock import Superblock, open_hdf5_file, superblock_of
from aioh5saver.errors import CorruptFileError, FileInUseError
from aioh5saver.format.hdf5 import FLAG_SWMR_WRITE, FLAG_WRITE
from aioh5saver.format.layout import ENLARGEABLE_KINDS
from aioh5saver.format.staging import is_staging
from aioh5saver.tools.inspect import inspect_file

__all__ = [
    "RecoveryReport",
    "recover",
    "render_recovery",
]


# -- recovery ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecoveryReport:
    """What :func:`recover` did, and what the file holds afterwards.

    ``rolled_back`` says what was undone from the file's rollback journal (a writer killed
    while writing outside SWMR: the file is put back as its last completed flush left it).
    ``eof_repaired`` is ``(recorded end of file, real size)`` in bytes if the end-of-file
    address was set to the real size (lowered for a file cut short; raised for a SWMR writer's
    file, whose last bytes HDF5 writes before the superblock that counts them). ``arrays``
    maps each enlargeable array to its rows (SWMR staging arrays excluded); ``log_lines``
    counts the Logger's lines, staged ones included, of which ``staged_strings`` are still in
    SWMR staging arrays (PyMoDAQ does not see them there: aioh5saver folds them in when a
    saver next opens the file for writing).
    ``unreadable`` maps each node (and the Logger's lines) that could not be read to why:
    nothing the file should hold is left out of the report without saying so.
    """

    path: str
    flags_cleared: bool
    eof_repaired: tuple[int, int] | None
    arrays: dict[str, int]
    log_lines: int
    superblock_version: int = 0
    flags_before: int | None = None
    staged_strings: int = 0
    unreadable: dict[str, str] = field(default_factory=dict)
    rolled_back: Rollback | None = None

    @property
    def changed(self) -> bool:
        """True if the file was changed: rolled back, or its superblock rewritten."""
        return self.flags_cleared or self.eof_repaired is not None or self.rolled_back is not None


def recover(path: str | os.PathLike[str], *, timeout: float = 30.0) -> RecoveryReport:
    """Roll back what a killed writer wrote outside SWMR since its last completed flush (from
    the file's journal, if it has one), clear the "open for writing" flags it left in the
    superblock, and lower a recorded end of file that lies past the file's real end; change
    nothing else. Then read the
    file (in a child process, at most ``timeout`` seconds) to report its arrays and log lines.

    Raises :class:`MissingFileError` (no file), :class:`CorruptFileError` (not HDF5, a
    superblock whose checksum does not match, or still unreadable once repaired) and
    :class:`FileInUseError` (another process holds HDF5's lock on it or has it open for
    writing), :class:`CorruptJournalError` (a journal beside it that aioh5saver did not write).
    """
    where = os.fspath(path)
    fd = open_hdf5_file(where, os.O_RDWR)
    try:
        superblock = superblock_of(fd, where)
        _claim(fd, where)
        rolled_back = roll_back(where)
        if rolled_back is not None:
            superblock = superblock_of(fd, where)
        flags_cleared, eof_repaired = _patch(fd, superblock, where)
    finally:
        os.close(fd)  # also releases the lock
    try:
        # One log line is read, not only counted: a Logger whose rows lie past the end of the
        # file (a failed write) is found, and reported as unreadable.
        report = inspect_file(where, log_lines=1, timeout=timeout)
    except CorruptFileError as exc:
        done = _describe_changes(flags_cleared, eof_repaired, rolled_back)
        raise CorruptFileError(f"{where}: {done}, but it still cannot be read: {exc}") from exc
    arrays = {
        node.path: node.shape[0]
        for node in report.nodes
        if node.kind in ENLARGEABLE_KINDS and node.shape and not is_staging(node.path)
    }
    unreadable = {
        node.path: node.error or "HDF5 cannot open it"
        for node in report.nodes
        if node.error is not None or node.kind == "unreadable"
    }
    if report.log_error is not None:
        unreadable[f"{report.log_path} (its lines)"] = report.log_error
    return RecoveryReport(
        path=where,
        flags_cleared=flags_cleared,
        eof_repaired=eof_repaired,
        arrays=arrays,
        log_lines=report.log_total,
        superblock_version=superblock.version,
        flags_before=superblock.flags,
        staged_strings=report.log_staged,
        unreadable=unreadable,
        rolled_back=rolled_back,
    )


def _claim(fd: int, where: str) -> None:
    """Refuse a file another process writes; hold HDF5's lock on it while it is patched."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise FileInUseError(
            f"{where}: expected a file no process has open, got one whose HDF5 file lock is "
            "held by another process (a writer, or a reader using file locking); close it, or "
            "make sure that process is gone, before recovering the file"
        ) from None
    except OSError as exc:
        if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
            raise
        # No locks on this file system: the /proc check below is all there is.
    writers = writer_pids(where, ignore_fd=fd)
    if writers:
        who = ", ".join("this process" if pid == os.getpid() else str(pid) for pid in writers)
        raise FileInUseError(
            f"{where}: expected a file no live process writes, got one open for writing by "
            f"process {who}; recover only files whose writer has died"
        )


def _patch(fd: int, superblock: Superblock, where: str) -> tuple[bool, tuple[int, int] | None]:
    if superblock.checksum_ok is False:
        raise CorruptFileError(
            f"{where}: expected a superblock whose lookup3 checksum matches its bytes, got one "
            "that does not: the superblock is damaged, and is left as it is"
        )
    new_flags: int | None = None
    if superblock.flags is not None and superblock.writing:
        new_flags = superblock.flags & ~(FLAG_WRITE | FLAG_SWMR_WRITE)
    size = os.fstat(fd).st_size
    eof_repaired: tuple[int, int] | None = None
    new_eof: int | None = None
    if superblock.recorded_end > size > superblock.offset + len(superblock.raw) or (
        # Under SWMR, HDF5 writes new metadata past the recorded end before the superblock
        # that records it: a SWMR writer's bytes past that end are its own.
        superblock.swmr_writing and size > superblock.recorded_end
    ):
        new_eof = size
        eof_repaired = (superblock.recorded_end, size)
    if new_flags is None and new_eof is None:
        return False, None
    patched = superblock.patched(flags=new_flags, eof=new_eof)
    if os.pwrite(fd, patched, superblock.offset) != len(patched):
        raise OSError(errno.EIO, f"{where}: short write of the superblock")
    os.fsync(fd)
    return new_flags is not None, eof_repaired


def _describe_changes(
    flags_cleared: bool, eof_repaired: tuple[int, int] | None, rolled_back: Rollback | None
) -> str:
    done = []
    if rolled_back is not None:
        done.append(
            f"what the writer wrote outside SWMR after its last completed flush was rolled back "
            f"from its journal ({rolled_back.pages} pages written back, the file cut from "
            f"{rolled_back.size_before} to {rolled_back.size} bytes)"
        )
    if flags_cleared:
        done.append("the superblock's 'open for writing' flags were cleared")
    if eof_repaired is not None:
        moved = "lowered" if eof_repaired[0] > eof_repaired[1] else "raised"
        done.append(
            f"the recorded end of file was {moved} from {eof_repaired[0]} to the real size "
            f"{eof_repaired[1]} bytes"
        )
    return " and ".join(done) if done else "nothing needed repair"


def render_recovery(report: RecoveryReport) -> str:
    """A readable account of a recovery: what was changed, then the arrays and log lines."""
    lines = [f"{report.path} (superblock version {report.superblock_version})"]
    if report.changed:
        done = _describe_changes(report.flags_cleared, report.eof_repaired, report.rolled_back)
        lines.append(done[0].upper() + done[1:])
    elif report.superblock_version < 2:
        lines.append(
            "Nothing to do: superblock versions 0 and 1 carry no 'open for writing' flags, "
            "and the recorded end of file is within the file"
        )
    else:
        lines.append("Nothing to do: no 'open for writing' flag set, end of file consistent")
    if report.arrays:
        width = max(len(path) for path in report.arrays)
        lines.append(f"{len(report.arrays)} enlargeable arrays:")
        lines += [
            f"  {path:<{width}}  {rows} row{'' if rows == 1 else 's'}"
            for path, rows in report.arrays.items()
        ]
    else:
        lines.append("No enlargeable arrays")
    log = f"{report.log_lines} log line{'' if report.log_lines == 1 else 's'}"
    if report.staged_strings:
        log += (
            f", {report.staged_strings} of them still in SWMR staging arrays (aioh5saver folds "
            "them into the Logger when a saver next opens the file for writing)"
        )
    lines.append(log)
    if report.unreadable:
        lines.append(f"{len(report.unreadable)} could not be read:")
        lines += [f"  {path}: {error}" for path, error in report.unreadable.items()]
    return "\n".join(lines)
