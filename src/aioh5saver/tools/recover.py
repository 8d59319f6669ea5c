"""Make a file left by a killed writer usable again: ``h5clear -s`` in Python, and a bit more.

A writer that dies leaves two things in the superblock that make HDF5 refuse the file:

- the *file consistency flags* (superblock versions 2 and 3): bit 0 "open for writing" and
  bit 2 "open for SWMR writing" are set while a writer has the file and cleared at close, and
  HDF5 refuses to open a file whose flags are set ("file is already open for write");
- an *end-of-file address* past the real end of the file (seen after a failed write on a full
  disk): HDF5 refuses the file as truncated. ``h5clear -s`` does not fix this one.

:func:`recover` clears the flags and sets the end-of-file address to the real size, by
rewriting the superblock's bytes in place (one ``os.pwrite`` and an ``fsync``) with its
checksum recomputed (Bob Jenkins' lookup3 ``hashlittle``, :func:`lookup3`), after putting back
what a rollback journal saved. Nothing else is changed.

It changes nothing unless it can finish: every byte it would write is decided first, and a
child process reads the file as those bytes would leave it (:mod:`.patched_view`, without
changing it) to report the enlargeable arrays, their rows and the log lines. A file HDF5
cannot read even then (metadata cut off, say) is refused with the file as it was. Only then
are the bytes written; ``dry_run`` stops before. The writes go inside the file as it is (pages
put back, the superblock) plus one cut: none needs room on the disk, and the journal, deleted
last, lets a recovery interrupted while writing be run again to the same end.

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
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from aioh5saver.engine.file_users import writer_pids
from aioh5saver.engine.journal import Rollback, RollbackPlan, plan_roll_back
from aioh5saver.engine.superblock import Superblock, open_hdf5_file, superblock_of
from aioh5saver.errors import CorruptFileError, FileInUseError
from aioh5saver.format.checks import check_seconds
from aioh5saver.format.hdf5 import FLAG_SWMR_WRITE, FLAG_WRITE
from aioh5saver.format.layout import ENLARGEABLE_KINDS
from aioh5saver.format.staging import is_staging
from aioh5saver.tools.patched_view import PatchedView, write_patches
from aioh5saver.tools.report import NodeInfo
from aioh5saver.tools.sandbox import DEFAULT_MAX_MEMORY, run_child
from aioh5saver.tools.wire import node_from_json

__all__ = [
    "RecoveryReport",
    "planned_changes",
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
    ``nodes`` are the file's nodes as recovered (what :func:`~.finish.planned_finish` reads).
    ``dry_run``: nothing was written; the report says what recovering would change, and what
    the file would then hold.
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
    dry_run: bool = False
    nodes: tuple[NodeInfo, ...] = field(default=(), repr=False, compare=False)

    @property
    def changed(self) -> bool:
        """True if the file was changed: rolled back, or its superblock rewritten."""
        return self.flags_cleared or self.eof_repaired is not None or self.rolled_back is not None


def recover(
    path: str | os.PathLike[str],
    *,
    timeout: float = 30.0,
    dry_run: bool = False,
    before_writing: Callable[[RecoveryReport], None] | None = None,
) -> RecoveryReport:
    """Roll back what a killed writer wrote outside SWMR since its last completed flush (from
    the file's journal, if it has one), clear the "open for writing" flags it left in the
    superblock, and lower a recorded end of file that lies past the file's real end; change
    nothing else. Everything is decided first and the file read (in a child process, at most
    ``timeout`` seconds) as it would then be: nothing is written unless it reads, and nothing
    at all with ``dry_run``. ``before_writing`` is called with the report just before the
    first byte is written.

    Raises :class:`MissingFileError` (no file), :class:`CorruptFileError` (not HDF5, a
    superblock whose checksum does not match, or unreadable even once repaired: then left as
    it was), :class:`FileInUseError` (another process holds HDF5's lock on it or has it open
    for writing), :class:`CorruptJournalError` (a journal beside it that aioh5saver did not
    write).
    """
    check_seconds(timeout, "timeout")
    where = os.fspath(path)
    fd = open_hdf5_file(where, os.O_RDONLY if dry_run else os.O_RDWR)
    try:
        superblock = superblock_of(fd, where)
        _claim(fd, where)
        plan = plan_roll_back(where)
        size = os.fstat(fd).st_size
        patches: list[tuple[int, bytes]] = []
        rolled_back: Rollback | None = None
        if plan is not None and plan.size is not None:
            patches += plan.pages
            rolled_back = Rollback(
                len(plan.pages), sum(len(old) for _, old in plan.pages), plan.size, size
            )
            size = plan.size
            superblock = _superblock_after(where, superblock, size, patches)
        flags_cleared, eof_repaired, patched = _decide(superblock, size, where)
        if patched is not None:
            patches.append((superblock.offset, patched))
        changes = _describe_changes(flags_cleared, eof_repaired, rolled_back, tense="would")
        answer = _read_as_recovered(where, size, patches, timeout, changes)
        report = _report(where, answer, superblock, flags_cleared, eof_repaired, rolled_back)
        if dry_run or not report.changed:
            if plan is not None and not dry_run:
                # A journal without a header: its writer was killed before writing anything
                # under it, and the file is as it was. Only the journal goes.
                plan.journal.unlink(missing_ok=True)
            return replace(report, dry_run=dry_run)
        if before_writing is not None:
            before_writing(report)
        _write(fd, where, plan, superblock, patched)
    finally:
        os.close(fd)  # also releases the lock
    return report


def _superblock_after(
    where: str, superblock: Superblock, size: int, patches: list[tuple[int, bytes]]
) -> Superblock:
    """The superblock as the rollback's pages leave it (they may hold it)."""
    view = PatchedView(where, size, patches)
    try:
        head = view.read(superblock.offset + 512)
    finally:
        view.close()
    with tempfile.TemporaryFile() as copy:
        copy.write(head)
        copy.flush()
        return superblock_of(copy.fileno(), where)


def _decide(
    superblock: Superblock, size: int, where: str
) -> tuple[bool, tuple[int, int] | None, bytes | None]:
    """Whether the flags are cleared, the end of file moved (from, to), and the superblock's
    new bytes (None: unchanged)."""
    if superblock.checksum_ok is False:
        raise CorruptFileError(
            f"{where}: expected a superblock whose lookup3 checksum matches its bytes, got one "
            "that does not: the superblock is damaged, and is left as it is"
        )
    new_flags: int | None = None
    if superblock.flags is not None and superblock.writing:
        new_flags = superblock.flags & ~(FLAG_WRITE | FLAG_SWMR_WRITE)
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
        return False, None, None
    return new_flags is not None, eof_repaired, superblock.patched(flags=new_flags, eof=new_eof)


def _read_as_recovered(
    where: str, size: int, patches: list[tuple[int, bytes]], timeout: float, changes: str
) -> dict[str, Any]:
    """The reading child's answer on the file as ``patches`` would leave it; a file it cannot
    read raises :class:`CorruptFileError` saying that nothing was changed."""
    with tempfile.NamedTemporaryFile(prefix="aioh5saver-recover-", suffix=".patches") as saved:
        write_patches(saved, size, patches)
        arguments = ["inspect", where, "--log-lines", "1", "--patches", saved.name]
        if not patches:
            arguments = ["inspect", where, "--log-lines", "1", "--mode", "plain"]
        try:
            answer = run_child(
                arguments, where=where, timeout=timeout, max_memory=DEFAULT_MAX_MEMORY
            )
        except CorruptFileError as exc:
            raise CorruptFileError(
                f"{exc}; once recovered ({changes}); nothing was changed"
            ) from None
    if "fatal" in answer:
        raise CorruptFileError(
            f"{where}: expected a file HDF5 can read once recovered ({changes}), got one it "
            f"cannot read even then ({answer['fatal']}: {answer.get('message', '')}): it was "
            "cut short or damaged where HDF5 keeps what it needs to open it; nothing was changed"
        )
    return answer


def _report(
    where: str,
    answer: dict[str, Any],
    superblock: Superblock,
    flags_cleared: bool,
    eof_repaired: tuple[int, int] | None,
    rolled_back: Rollback | None,
) -> RecoveryReport:
    nodes = [node_from_json(node) for node in answer["nodes"]]
    log = answer["log"]
    arrays = {
        node.path: node.shape[0]
        for node in nodes
        if node.kind in ENLARGEABLE_KINDS and node.shape and not is_staging(node.path)
    }
    unreadable = {
        node.path: node.error or "HDF5 cannot open it"
        for node in nodes
        if node.error is not None or node.kind == "unreadable"
    }
    if log.get("error") is not None:
        unreadable[f"{log['path']} (its lines)"] = str(log["error"])
    return RecoveryReport(
        path=where,
        flags_cleared=flags_cleared,
        eof_repaired=eof_repaired,
        arrays=arrays,
        log_lines=int(log["total"]),
        superblock_version=superblock.version,
        flags_before=superblock.flags,
        staged_strings=int(log["staged"]),
        unreadable=unreadable,
        rolled_back=rolled_back,
        nodes=tuple(nodes),
    )


def _write(
    fd: int, where: str, plan: RollbackPlan | None, superblock: Superblock, patched: bytes | None
) -> None:
    """Write what was decided: the journal's pages, the cut, the superblock; then delete the
    journal. A failure leaves the journal, so that recovering again ends the same way."""
    try:
        if plan is not None and plan.size is not None:
            for offset, old in plan.pages:
                _write_all(fd, old, offset)
            os.ftruncate(fd, plan.size)
        if patched is not None:
            _write_all(fd, patched, superblock.offset)
        os.fsync(fd)
    except OSError as exc:
        raise OSError(
            exc.errno,
            f"{where}: writing the recovery failed ({exc.strerror or exc}); run recover again "
            "once the cause is fixed: it starts over from the journal, if the file has one",
        ) from exc
    if plan is not None:
        plan.journal.unlink(missing_ok=True)


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        if written == 0:
            raise OSError(errno.EIO, "a write wrote nothing")
        view = view[written:]
        offset += written


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


def _describe_changes(
    flags_cleared: bool,
    eof_repaired: tuple[int, int] | None,
    rolled_back: Rollback | None,
    *,
    tense: str = "past",
) -> str:
    """What recovering changed (``tense`` "past"), would change ("would", a dry run) or is
    about to change ("future")."""
    done = []
    were, was = {"past": ("were", "was"), "would": ("would be",) * 2, "future": ("will be",) * 2}[
        tense
    ]
    if rolled_back is not None:
        done.append(
            f"what the writer wrote outside SWMR after its last completed flush {was} rolled "
            f"back from its journal ({rolled_back.pages} pages written back, the file cut from "
            f"{rolled_back.size_before} to {rolled_back.size} bytes)"
        )
    if flags_cleared:
        done.append(f"the superblock's 'open for writing' flags {were} cleared")
    if eof_repaired is not None:
        moved = "lowered" if eof_repaired[0] > eof_repaired[1] else "raised"
        done.append(
            f"the recorded end of file {was} {moved} from {eof_repaired[0]} to the real size "
            f"{eof_repaired[1]} bytes"
        )
    return " and ".join(done) if done else "nothing needed repair"


def planned_changes(report: RecoveryReport) -> str:
    """What recovering is about to change, as one sentence (for a message before writing)."""
    return _describe_changes(
        report.flags_cleared, report.eof_repaired, report.rolled_back, tense="future"
    )


def render_recovery(report: RecoveryReport) -> str:
    """A readable account of a recovery: what was changed, then the arrays and log lines."""
    lines = [f"{report.path} (superblock version {report.superblock_version})"]
    if report.changed:
        done = _describe_changes(
            report.flags_cleared,
            report.eof_repaired,
            report.rolled_back,
            tense="would" if report.dry_run else "past",
        )
        lines.append(done[0].upper() + done[1:])
        if report.dry_run:
            lines.append("Dry run: nothing was written. Once recovered, the file would hold:")
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
            f", {report.staged_strings} of them still in SWMR staging arrays, which PyMoDAQ does "
            "not read ('aioh5saver recover --finish' folds them into the Logger)"
        )
    lines.append(log)
    if report.unreadable:
        lines.append(f"{len(report.unreadable)} could not be read:")
        lines += [f"  {path}: {error}" for path, error in report.unreadable.items()]
    return "\n".join(lines)
