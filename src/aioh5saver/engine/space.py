"""Room for the file to grow: a write is refused before the disk or the file-size limit would
make it fail halfway.

Why refuse early: once HDF5 has failed a write, the file's metadata cache holds entries it can
neither write nor drop, and with h5py 3.16 / HDF5 2.0 releasing such a file crashes the process
(a segfault in ``H5F__dest`` at close or at interpreter exit). An acquisition program must not
die because its disk filled up. So the writer claims room for every write before making it,
keeping :data:`RESERVE_BYTES` for the metadata that the last flush and close still write, and
refuses the write that does not fit with an :class:`OSError` (``ENOSPC`` for the disk, ``EFBIG``
for ``RLIMIT_FSIZE``). The file then closes whole, with every row written before.

Estimates are upper bounds: rows claim their bytes plus one chunk and the index entries of an
array, so a refusal comes a little early rather than a failed write late. Another process that
fills the disk between two batches is not seen; that case still ends in a failed write.
"""

from __future__ import annotations

import errno
import os
import resource
import sys
from pathlib import Path

__all__ = ["RESERVE_BYTES", "SpaceGuard"]

#: Room kept free for what flushing and closing the file write (metadata, the staged strings'
#: fold is claimed separately).
RESERVE_BYTES = 1 << 20


def _mib(nbytes: int) -> str:
    return f"{nbytes / 2**20:.1f} MiB"


class SpaceGuard:
    """Tracks how many more bytes the file may take, from its size, the free space of its
    disk and the process's ``RLIMIT_FSIZE``.

    ``measure`` starts an account from the file's real size; ``claim`` takes room from it or
    raises, and ``refused`` tells that it has raised (the file is whole: nothing failed). Bytes
    claimed since the last flush may not be in the file's size yet (HDF5 places chunks when it
    writes them out), so they stay counted until ``flushed`` is called.
    """

    def __init__(self, path: Path, reserve_bytes: int = RESERVE_BYTES) -> None:
        self.path = path
        self.reserve_bytes = reserve_bytes
        self.unflushed_bytes = 0
        self.pending_fold_bytes = 0
        self.refused = False
        self._file_size = 0
        self._limit = 0
        self._limited_by = ""
        self._refusal_errno = errno.ENOSPC

    def measure(self, file_size: int) -> None:
        """Start a new account: the file holds ``file_size`` bytes now."""
        self._file_size = file_size
        free = os.statvfs(self.path.parent)
        disk_limit = file_size + free.f_bavail * free.f_frsize
        soft, _hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        if soft != resource.RLIM_INFINITY and soft < disk_limit:
            self._limit, self._limited_by = soft, "the process's file-size limit (RLIMIT_FSIZE)"
            self._refusal_errno = errno.EFBIG
        else:
            self._limit, self._limited_by = disk_limit, "the free space of its disk"
            self._refusal_errno = errno.ENOSPC

    def unbounded(self) -> None:
        """Start a new account without a bound: the file's storage is not a local disk (an
        HSDS domain's is its service's, which says when it is full)."""
        self.unflushed_bytes = 0
        self._file_size = 0
        self._limit = sys.maxsize

    @property
    def room(self) -> int:
        """Bytes that may still be claimed."""
        committed = self.unflushed_bytes + self.pending_fold_bytes + self.reserve_bytes
        return self._limit - self._file_size - committed

    def fits(self, nbytes: int) -> bool:
        """True if ``nbytes`` more may be claimed."""
        return nbytes <= self.room

    def claim(self, nbytes: int, action: str, *, kept_for_fold: int = 0) -> None:
        """Take ``nbytes`` of room for ``action`` (and ``kept_for_fold`` more for strings staged
        under SWMR, which the fold writes a second time when SWMR ends), or raise
        :class:`OSError` saying how much was needed, how much was left and what limits it."""
        nbytes += kept_for_fold
        if not self.fits(nbytes):
            self.refused = True
            raise OSError(
                self._refusal_errno,
                f"{action}: expected room for {_mib(nbytes)} more, got {_mib(max(self.room, 0))}"
                f" under {self._limited_by} ({_mib(self._limit)} for a file of "
                f"{_mib(self._file_size)}, {_mib(self.reserve_bytes)} kept for closing it); "
                "refused before writing, so the file stays whole",
                str(self.path),
            )
        self.unflushed_bytes += nbytes - kept_for_fold
        self.pending_fold_bytes += kept_for_fold

    def folded(self) -> None:
        """The staged strings were folded in: the room kept for them is now unflushed bytes."""
        self.unflushed_bytes += self.pending_fold_bytes
        self.pending_fold_bytes = 0

    def flushed(self, file_size: int) -> None:
        """Everything claimed is in the file, which now holds ``file_size`` bytes."""
        self.unflushed_bytes = 0
        self.measure(file_size)
