"""The file the live view serves: opened read-only as a SWMR reader, held between requests,
and reopened when what it shows may be stale.

A SWMR reader sees rows appended after it opened the file once it refreshes a dataset, but it
cannot see nodes created afterwards: to create nodes the writer ends SWMR, closes and reopens
the file, and a reader opened before that fails ("incorrect cache entry type") or shows the
old tree. So the held file is reopened when the writer's state in the superblock changed since
it was opened, when it is older than ``max_age`` seconds (the writer may have reopened the file
between two looks), and once after any read that failed. Datasets are refreshed before use, so
that their newest rows show.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import h5py

from aioh5saver.engine.superblock import Superblock, read_superblock
from aioh5saver.errors import (
    ArrayTooLargeError,
    CorruptFileError,
    ExternalDataError,
    FileInUseError,
    InvalidArgumentError,
    NodeKindError,
)
from aioh5saver.tools.writer_state import not_swmr_message

__all__ = ["DEFAULT_MAX_AGE", "DEFAULT_WAIT_FOR_SWMR", "ServedFile", "refreshed"]

# How long a held file is reused before it is reopened to see nodes created meanwhile.
DEFAULT_MAX_AGE = 1.0
# How long a request waits while the writer has the file open without SWMR (creating nodes)
# before it is answered "busy".
DEFAULT_WAIT_FOR_SWMR = 3.0
_WAIT_STEP = 0.02
# Refusals of what a request asks, which a fresh file would refuse again.
_FINAL = (
    ArrayTooLargeError,
    ExternalDataError,
    FileInUseError,
    InvalidArgumentError,
    NodeKindError,
)

T = TypeVar("T")


def _writer_state(superblock: Superblock) -> tuple[bool, bool]:
    return superblock.writing, superblock.swmr_writing


def refreshed(dataset: h5py.Dataset) -> h5py.Dataset:
    """``dataset`` with its extent re-read from the file if it is open as a SWMR reader (a
    closed file's extents cannot change)."""
    if dataset.file.swmr_mode:
        dataset.id.refresh()
    return dataset


class ServedFile:
    """One HDF5 file, read through :meth:`read`: one reader at a time, on a held h5py file."""

    def __init__(
        self,
        path: Path,
        *,
        max_age: float = DEFAULT_MAX_AGE,
        wait_for_swmr: float = DEFAULT_WAIT_FOR_SWMR,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.name = path.name
        self._where = os.fspath(path)
        self._max_age = max_age
        self._wait_for_swmr = wait_for_swmr
        self._clock = clock
        self._lock = threading.Lock()
        self._file: h5py.File | None = None
        self._opened_at = 0.0
        self._opened_state: tuple[bool, bool] | None = None
        self.opens = 0  # how many times the file was opened: what the tests count reopens by
        self._check_regular()

    def _check_regular(self) -> None:
        mode = os.stat(self._where).st_mode
        if not stat.S_ISREG(mode):
            raise InvalidArgumentError(
                f"{self._where}: expected a regular HDF5 file, got "
                f"{'a folder' if stat.S_ISDIR(mode) else 'a special file (pipe, device...)'}"
            )

    def read(self, work: Callable[[h5py.File], T]) -> T:
        """``work(file)`` on the file as it is now. If it fails on a held file, it runs once
        more on a freshly opened one (the writer may have reopened the file since, and a node
        missing from the held file may be new); a refusal of the request itself is final."""
        with self._lock:
            file, held = self._current()
            try:
                return work(file)
            except _FINAL:
                raise
            except Exception:
                if not held:
                    raise
            self._close()
            file, _ = self._current()
            return work(file)

    def _current(self) -> tuple[h5py.File, bool]:
        """The held file (and True) if it still shows the file as it is, else a freshly
        opened one (and False)."""
        state = self._settled_state()
        now = self._clock()
        if (
            self._file is not None
            and state == self._opened_state
            and now - self._opened_at < self._max_age
        ):
            return self._file, True
        self._close()
        self._file = self._open()
        self._opened_at = now
        self._opened_state = state
        self.opens += 1
        return self._file, False

    def _settled_state(self) -> tuple[bool, bool]:
        """The writer's state, once it is one a reader can read (closed, or SWMR writing):
        while the writer creates nodes without SWMR, wait up to ``wait_for_swmr`` seconds."""
        self._check_regular()
        deadline = self._clock() + self._wait_for_swmr
        while True:
            superblock = read_superblock(self._where)
            if not superblock.writing or superblock.swmr_writing:
                return _writer_state(superblock)
            if self._clock() >= deadline:
                raise FileInUseError(not_swmr_message(self._where))
            time.sleep(_WAIT_STEP)

    def _open(self) -> h5py.File:
        try:
            return h5py.File(self._where, "r", swmr=True, locking=False)
        except OSError:
            pass  # a file HDF5 will not read as SWMR: read it plainly, or say why not
        try:
            return h5py.File(self._where, "r", locking=False)
        except OSError as exc:
            raise CorruptFileError(
                f"{self._where}: expected a readable HDF5 file, got one HDF5 cannot open ({exc})"
            ) from None

    def _close(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            # Closing a file whose writer reopened it may fail: it is closed all the same.
            with contextlib.suppress(OSError, RuntimeError):
                file.close()

    def close(self, timeout: float = 5.0) -> None:
        """Close the held file, if any. A read that does not end within ``timeout`` seconds
        (HDF5 stuck on a damaged file) keeps it: waiting for it would hang the shutdown."""
        if self._lock.acquire(timeout=timeout):
            try:
                self._close()
            finally:
                self._lock.release()
