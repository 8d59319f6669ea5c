"""A rollback journal for what HDF5 writes outside SWMR, so that a killed writer's file can be
put back as it was at its last completed flush.

Why: outside SWMR, HDF5 writes its cached metadata at any moment and in any order (an object
header may reach the disk before the heap or the chunk it points to), so a writer killed in
the middle of a flush leaves a file that cannot be read. A SWMR writer is outside SWMR while it
makes a structure change (a pause), and killing it at each write of such a pause in turn broke
the file at most of them. Under SWMR, HDF5 orders its writes itself and needs no journal.

How: the writer hands HDF5 a :class:`JournaledFile` (h5py's ``fileobj`` driver) instead of a
path, so every write passes through it. While journaling, before a write changes a byte that
was in the file at the last checkpoint, the old content of that byte's page is appended to the
journal (``<file>`` + :data:`JOURNAL_SUFFIX`). Once a flush has completed, the file is whole
again and the journal starts over (:meth:`JournaledFile.checkpoint`); once SWMR is on or the
file is closed, it is deleted. :func:`roll_back` (run by ``recover``) writes the saved pages
back and cuts the file to its size at the checkpoint: the file is then exactly as that
checkpoint left it.

The journal protects against the process dying (``kill -9``, a crash), not against a power
cut: nothing is synced to the disk. A record is complete before the write it protects starts,
so a record cut short by a kill protects a write that never happened, and is ignored.

A checkpoint rewrites the header only: the records of earlier checkpoints stay in the journal
behind the new ones. Each record's CRC therefore covers the number of its checkpoint (its
epoch), and a record of another epoch ends the journal like a broken one. Zeros written after
each record are not enough: a kill can cut a write at a page boundary of the journal (the
kernel stops copying a write between pages once SIGKILL is pending), leaving the zeros
unwritten and, when the new record repeats the old one at that place (a page rewritten with
the same bytes at each flush, as HDF5 does with a part-filled chunk), the old records after it
whole; put back, they would make the file older than its last flush, or a mix of two.

Journal format: a header (:data:`MAGIC`, the file's size at the checkpoint, the checkpoint's
epoch, a CRC-32 of the three), then records: the page's offset, its length, a CRC-32 of the
epoch, both and the page's bytes, then the page's bytes.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aioh5saver.errors import CorruptJournalError
from aioh5saver.format.hdf5 import FLAG_SWMR_WRITE, FLAG_WRITE, SIGNATURE, lookup3

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = [
    "JOURNAL_SUFFIX",
    "JournaledFile",
    "Rollback",
    "RollbackPlan",
    "journal_path",
    "plan_roll_back",
    "roll_back",
]

#: Appended to the HDF5 file's name to name its journal.
JOURNAL_SUFFIX = ".aioh5-journal"
MAGIC = b"AIOH5JNL\x00\x02"
PAGE_BYTES = 4096
_HEADER = struct.Struct("<10sQII")
_RECORD = struct.Struct("<QII")
#: Room taken on the disk for the journal when it starts, so that the usual few pages of
#: metadata a flush rewrites do not depend on the disk having room left at that moment.
_PREALLOCATED_BYTES = 1 << 20


def journal_path(path: str | os.PathLike[str]) -> Path:
    """The journal of the HDF5 file at ``path``."""
    return Path(f"{os.fspath(path)}{JOURNAL_SUFFIX}")


class JournaledFile(io.RawIOBase):
    """The file HDF5 writes through (h5py's ``fileobj`` driver): positioned reads and writes
    on a descriptor this object owns, and, while :attr:`journaling`, a rollback journal.

    ``repr()`` is the file's path: h5py names a file opened this way after it."""

    def __init__(self, path: str | os.PathLike[str], fd: int) -> None:
        super().__init__()
        self.path = os.fspath(path)
        self.fd = fd
        self._position = 0
        # The end of the file as written through this object, not as the disk says now: like
        # HDF5's own driver, so that a file another program truncated is found out (a shorter
        # file on disk than written), not taken for the file's real size.
        self._end = os.fstat(fd).st_size
        self._journal_fd: int | None = None
        self._journal_end = 0
        self._base_size = 0
        # The number of the last checkpoint, in every record's CRC: a journal is created empty,
        # so the epochs of its checkpoints never repeat.
        self._epoch = 0
        self._saved_pages: set[int] = set()
        #: Mark the superblock "open for writing", as HDF5 does through its own drivers only
        #: (without the mark, readers would open a file being written, and SWMR readers
        #: refuse the file); cleared before the close, whose superblock must say "closed".
        self.open_for_writing = True
        self._dropping = False

    def __repr__(self) -> str:
        return self.path

    # -- the journal ------------------------------------------------------------------------

    @property
    def journaling(self) -> bool:
        """True while writes are journaled."""
        return self._journal_fd is not None

    def start_journal(self) -> None:
        """Journal every later write, from the file as it is now (which must be whole)."""
        if self._journal_fd is None:
            self._journal_fd = os.open(
                journal_path(self.path), os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644
            )
            with contextlib.suppress(OSError):  # no reservation on this file system
                os.posix_fallocate(self._journal_fd, 0, _PREALLOCATED_BYTES)
        self.checkpoint()

    def checkpoint(self) -> None:
        """The file is whole as it is now (a flush has completed): forget the saved pages."""
        if self._journal_fd is None:
            return
        self._base_size = os.fstat(self.fd).st_size
        self._epoch = (self._epoch + 1) & 0xFFFFFFFF
        self._saved_pages.clear()
        # The next record's slot is zeroed with the header: a journal ends at the first record
        # that is not whole, or not of this epoch.
        block = _header(self._base_size, self._epoch) + bytes(_RECORD.size)
        _pwrite_all(self._journal_fd, block, 0)
        self._journal_end = _HEADER.size

    def stop_journal(self) -> None:
        """Stop journaling and delete the journal (the file is whole, or under SWMR)."""
        if self._journal_fd is None:
            return
        os.close(self._journal_fd)
        self._journal_fd = None
        self._saved_pages.clear()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(journal_path(self.path))

    def _save_pages(self, start: int, end: int) -> None:
        """Append the pages of ``[start, end)`` that were in the file at the checkpoint and are
        not saved yet."""
        assert self._journal_fd is not None
        end = min(end, self._base_size)
        for page in range(start // PAGE_BYTES, -(-end // PAGE_BYTES)):
            if page in self._saved_pages:
                continue
            offset = page * PAGE_BYTES
            old = os.pread(self.fd, min(PAGE_BYTES, self._base_size - offset), offset)
            record = _RECORD.pack(offset, len(old), _record_crc(self._epoch, offset, old))
            # Zeros after the record end the journal there, whatever the preallocation holds.
            _pwrite_all(self._journal_fd, record + old + bytes(_RECORD.size), self._journal_end)
            self._journal_end += _RECORD.size + len(old)
            self._saved_pages.add(page)

    def drop_writes(self) -> None:
        """Drop every later write and cut (HDF5's writes to a file whose writes failed): the
        file and its journal stay as they are, for :func:`roll_back`."""
        self._dropping = True

    def mark_open_for_writing(self) -> None:
        """Mark the superblock "open for writing" now, as HDF5 does at its own drivers' open
        (HDF5 writes it through this file only at its next flush)."""
        head = os.pread(self.fd, 12 + 4 * 32 + 4, 0)
        marked = _marked_open_for_writing(memoryview(head))
        if marked.obj is not head:
            position = self._position
            self.seek(0)
            self.write(marked[: _superblock_size(head)])
            self._position = position

    # -- the file ---------------------------------------------------------------------------

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            self._position = offset
        elif whence == os.SEEK_CUR:
            self._position += offset
        else:
            self._position = self._end + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def readinto(self, buffer: Buffer) -> int:
        view = memoryview(buffer).cast("B")
        data = os.pread(self.fd, len(view), self._position)
        view[: len(data)] = data
        self._position += len(data)
        return len(data)

    def write(self, buffer: Buffer) -> int:
        view = memoryview(buffer).cast("B")
        if self._dropping:
            self._position += len(view)
            return len(view)
        if self._position == 0 and self.open_for_writing:
            view = _marked_open_for_writing(view)
        if self._journal_fd is not None and self._position < self._base_size:
            self._save_pages(self._position, self._position + len(view))
        _pwrite_all(self.fd, view, self._position)
        self._position += len(view)
        self._end = max(self._end, self._position)
        return len(view)

    def truncate(self, size: int | None = None) -> int:
        size = self._position if size is None else size
        if self._dropping:
            return size
        if self._journal_fd is not None and size < self._base_size:
            self._save_pages(size, self._base_size)
        os.ftruncate(self.fd, size)
        self._end = size
        return size

    def flush(self) -> None:
        """Nothing to do: every write is handed to the operating system at once."""

    def close(self) -> None:
        """Close the descriptor; the journal stays unless :meth:`stop_journal` deleted it
        (a file closed without its flush completing needs it)."""
        if self._journal_fd is not None:
            os.close(self._journal_fd)
            self._journal_fd = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        super().close()


def _marked_open_for_writing(view: memoryview) -> memoryview:
    """A superblock (version 2 or 3, written whole) with the "open for writing" flag set as
    a write through HDF5's own drivers sets it, and its checksum redone; anything else as it
    is."""
    if len(view) < 12 or bytes(view[:8]) != SIGNATURE or view[8] < 2:
        return view
    size = _superblock_size(view)
    if len(view) < size or view[11] & FLAG_WRITE:
        return view
    superblock = bytearray(view[:size])
    superblock[11] |= FLAG_WRITE
    if superblock[11] & ~(FLAG_WRITE | FLAG_SWMR_WRITE):
        return view
    superblock[-4:] = struct.pack("<I", lookup3(bytes(superblock[:-4])))
    return memoryview(bytes(superblock) + bytes(view[size:]))


def _header(base_size: int, epoch: int) -> bytes:
    """The journal's header for a checkpoint: the file's size then, and the epoch."""
    crc = zlib.crc32(MAGIC + struct.pack("<QI", base_size, epoch))
    return _HEADER.pack(MAGIC, base_size, epoch, crc)


def _record_crc(epoch: int, offset: int, old: bytes) -> int:
    """The CRC of a record: its epoch, offset and length, then the page's old bytes."""
    return zlib.crc32(old, zlib.crc32(struct.pack("<IQI", epoch, offset, len(old))))


def _superblock_size(head: Buffer) -> int:
    """The size of a version 2 or 3 superblock: 12 bytes, four addresses, a checksum."""
    return 12 + 4 * memoryview(head).cast("B")[9] + 4


def _pwrite_all(fd: int, data: Buffer, offset: int) -> None:
    view = memoryview(data).cast("B")
    while view:
        written = os.pwrite(fd, view, offset)
        if written == 0:
            raise OSError(errno.EIO, "a write wrote nothing")
        view = view[written:]
        offset += written


@dataclass(frozen=True)
class Rollback:
    """What :func:`roll_back` did: pages written back, and the size the file was cut to."""

    pages: int
    restored_bytes: int
    size: int
    size_before: int


@dataclass(frozen=True)
class RollbackPlan:
    """What :func:`roll_back` would do, read from the journal without changing anything:
    the ``pages`` to write back (offset, old bytes), in the journal's order, and the ``size``
    to cut the file to (its size at the checkpoint). No pages and ``size`` None: a journal
    without a header, which only needs deleting."""

    journal: Path
    pages: tuple[tuple[int, bytes], ...]
    size: int | None


def plan_roll_back(path: str | os.PathLike[str]) -> RollbackPlan | None:
    """What rolling the file at ``path`` back would write, without writing it; None if it has
    no journal. Raises :class:`CorruptJournalError` as :func:`roll_back` does."""
    journal = journal_path(path)
    try:
        content = journal.read_bytes()
    except FileNotFoundError:
        return None
    if not content[: _HEADER.size].strip(b"\0"):
        # Killed while the journal was being created, before it had a header, and so before
        # anything was written under it: the file is as it was.
        return RollbackPlan(journal, (), None)
    magic, base_size, epoch = _header_of(content, journal)
    if magic != MAGIC or content[: _HEADER.size] != _header(base_size, epoch):
        raise CorruptJournalError(
            f"{journal}: expected an aioh5saver journal (header {MAGIC!r} with its CRC), got "
            f"{content[: _HEADER.size]!r}; the file was left as it is"
        )
    return RollbackPlan(journal, tuple(_records(content, base_size, epoch, journal)), base_size)


def roll_back(path: str | os.PathLike[str]) -> Rollback | None:
    """Put the file at ``path`` back as it was at its journal's checkpoint and delete the
    journal; None if it has none (or one whose header was never written). Raises
    :class:`CorruptJournalError` (touching nothing) for a journal whose header is not one,
    or whose records point past the file's size then."""
    plan = plan_roll_back(path)
    if plan is None:
        return None
    if plan.size is None:
        plan.journal.unlink()
        return None
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        size_before = os.fstat(fd).st_size
        for offset, old in plan.pages:
            _pwrite_all(fd, old, offset)
        os.ftruncate(fd, plan.size)
    finally:
        os.close(fd)
    plan.journal.unlink()
    return Rollback(len(plan.pages), sum(len(old) for _, old in plan.pages), plan.size, size_before)


def _header_of(content: bytes, journal: Path) -> tuple[bytes, int, int]:
    """The header's magic, the file's size at the checkpoint, and the checkpoint's epoch."""
    if len(content) < _HEADER.size:
        raise CorruptJournalError(
            f"{journal}: expected a journal header of {_HEADER.size} bytes, got "
            f"{len(content)} bytes; the file was left as it is"
        )
    magic, base_size, epoch, _crc = _HEADER.unpack_from(content)
    return magic, base_size, epoch


def _records(content: bytes, base_size: int, epoch: int, journal: Path) -> list[tuple[int, bytes]]:
    """The journal's whole records of the checkpoint ``epoch``; the first that is not whole
    (cut by a kill, or the zeros after the last) or is of an earlier checkpoint ends it."""
    records = []
    at = _HEADER.size
    while at + _RECORD.size <= len(content):
        offset, length, crc = _RECORD.unpack_from(content, at)
        old = content[at + _RECORD.size : at + _RECORD.size + length]
        if length == 0 or len(old) != length or crc != _record_crc(epoch, offset, old):
            break
        if offset + length > base_size or length > PAGE_BYTES:
            raise CorruptJournalError(
                f"{journal}: expected pages inside the file's first {base_size} bytes, got "
                f"{length} bytes at offset {offset}; the file was left as it is"
            )
        records.append((offset, old))
        at += _RECORD.size + length
    return records
