"""DiskWatch, on the writer thread: the file's room on disk and the check that it is intact.

Room for each write is claimed before it is made (:class:`~aioh5saver.engine.space.SpaceGuard`),
room that must not run out halfway is reserved on the disk itself, and the bytes known to be
written are noted so that a file another program truncated is caught before HDF5 writes on.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
from pathlib import Path

from aioh5saver.engine.h5py_engine import check_file_intact, file_descriptor
from aioh5saver.engine.space import SpaceGuard
from aioh5saver.errors import FileChangedError
from aioh5saver.sync.saver import H5SaverLowLevel

__all__ = ["DiskWatch"]


class DiskWatch:
    """The disk side of the file ``path`` that ``saver`` writes."""

    def __init__(self, saver: H5SaverLowLevel, path: Path) -> None:
        self.saver = saver
        self.path = path
        self.guard = SpaceGuard(path)
        # Bytes of the file known to be written (its size after the last flush): fewer on disk
        # means another program truncated it.
        self._written = 0
        self._fd = -1  # the open file's descriptor, noted with _written
        self.truncated = False

    @property
    def local(self) -> bool:
        """True if the file is on a local disk (its engine has ``file_size``); else nothing
        here applies: a domain's storage is its service's."""
        return self.saver.engine.capabilities.file_size

    def file_size(self) -> int:
        """The file's size as HDF5 counts it (its end of allocation; 0 if not local)."""
        if not self.local:
            return 0
        file = self.saver.h5file
        assert file is not None
        return int(file.id.get_filesize())

    def measure(self) -> None:
        """Check that the file is intact and measure the room left for it."""
        if not self.local:
            self.guard.unbounded()
            return
        size = self.file_size()
        self.check_intact("write", size)
        self.guard.measure(size)

    def flushed(self) -> None:
        """After a flush: the claims made so far are placed in the file."""
        if not self.local:
            self.guard.unbounded()
            return
        self.guard.flushed(self.file_size())

    def _handle(self) -> int:
        file = self.saver.h5file
        assert file is not None
        return file_descriptor(file)

    def note_written(self) -> None:
        """Record how many bytes the file holds now, written and flushed: up to its first
        hole (the unused end of a reservation reads as one). Called after each HDF5 call that
        may flush: HDF5 shortens the file to its end of allocation when it flushes, so only a
        file shorter than at the last such call was truncated by someone else."""
        if not self.local:
            return
        handle = self._fd = self._handle()  # the same while the file stays open
        size = os.fstat(handle).st_size
        with contextlib.suppress(OSError, AttributeError):  # no SEEK_HOLE here: size it is
            size = min(size, os.lseek(handle, 0, os.SEEK_HOLE))
        self._written = size

    def check_intact(self, action: str, hdf5_size: int | None = None) -> None:
        """Raise :class:`FileChangedError` if another program truncated the file: writing on
        would mix new bytes with lost ones, and HDF5 can block for good reading them back
        (``swmr_mode = True`` on a truncated file may never return)."""
        if not self.local:
            return
        # HDF5 itself shrinks the file to its end of allocation at some flushes (a flush
        # that starts SWMR, for one): bytes past that end were never the file's.
        written = min(self._written, self.file_size() if hdf5_size is None else hdf5_size)
        try:
            check_file_intact(self._fd, self.path, written, action)
        except FileChangedError:
            self.truncated = True
            raise

    def reserve(self, nbytes: int, action: str) -> int:
        """Make the disk hold ``nbytes`` more for the file (``posix_fallocate``) before
        writes that must not fail halfway: HDF5 then writes them into room already taken,
        whatever another program does to the disk meanwhile. Returns the file's size before,
        for :meth:`trim`; raises :class:`OSError` (the file untouched) if there is no room."""
        if not self.local:
            return 0
        handle = self._handle()
        size = os.fstat(handle).st_size
        end = max(size, self.file_size()) + nbytes
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
                f"{self.path}, got none ({error.strerror}); nothing was written",
                str(self.path),
            ) from error
        return size

    def trim(self, size_before: int) -> None:
        """Give back the part of a reservation HDF5 did not use."""
        if not self.local:
            return
        handle = self._handle()
        end = max(size_before, self.file_size())
        if os.fstat(handle).st_size > end:
            os.ftruncate(handle, end)
