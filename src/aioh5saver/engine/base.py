"""The storage interface: what the synchronous saver needs from a storage engine, and the flags
that say which of HDF5's local-file features an engine has.

An engine opens, flushes, closes and lets go of files whose handles have h5py's API (``h5py``
for local files; ``h5pyd`` for HSDS domains), starts SWMR on them, and says how the file it
opened can be recognised again. The saver asks :attr:`StorageEngine.capabilities` before
using a feature that not every engine has (SWMR, direct chunk writes, a file size to check, a
lock, a journal).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeAlias, runtime_checkable

__all__ = ["EngineCapabilities", "FileHandle", "FileIdentity", "StorageEngine"]

#: An open file with h5py's API (an ``h5py.File``; an ``h5pyd.File`` for HSDS).
FileHandle: TypeAlias = Any
#: What names one file wherever it is reached from (device and inode for a local file).
FileIdentity: TypeAlias = tuple[int, int]


@dataclass(frozen=True)
class EngineCapabilities:
    """Which optional features an engine has; the saver uses none that its engine lacks."""

    #: Single writer, multiple readers: readers in other processes see a file while it grows.
    swmr: bool
    #: Whole chunks can be written as they are in memory, past the library's chunk cache.
    direct_chunk_write: bool
    #: The file has a descriptor and a size on a local disk, so that a truncation by another
    #: program can be detected (:meth:`StorageEngine.check_file_intact`).
    file_size: bool
    #: A second writer of the same file is refused while one has it open.
    file_lock: bool
    #: Writes outside SWMR go through a rollback journal, which ``recover`` undoes after a kill.
    journal: bool
    #: The time bound on the async writer's queue when the caller gives none
    #: (``max_pending_seconds``): small batches suit a local disk; an engine whose every
    #: request costs a round trip says None (batches as large as the budget allows).
    default_queue_seconds: float | None = 0.05
    #: The shortest ``flush_period`` the engine can keep: a durable flush takes about this long.
    min_flush_period: float = 0.0
    #: How long the async writer may wait for a batch of rows to fill before writing it: where
    #: every request costs a round trip, rows that trickle in would otherwise go out a few at
    #: a time, each batch paying its requests. No wait while a call is awaited (a flush, a
    #: structure change) or producers wait for room.
    batch_fill_seconds: float = 0.0


@runtime_checkable
class StorageEngine(Protocol):
    """Opens and closes the files the saver writes, and what goes with that: refusing a second
    writer, flushing, starting SWMR, letting go of a file whose writes failed."""

    #: The name the saver's ``backend`` argument selects the engine by.
    name: str

    @property
    def library(self) -> Any:
        """The module whose API the file handles have (``h5py``; ``h5pyd``), as
        pymodaq_data's ``h5_library``."""
        ...

    capabilities: EngineCapabilities

    def check_mode(self, mode: object) -> None:
        """Raise :class:`~aioh5saver.InvalidArgumentError` unless :meth:`open` takes ``mode``."""
        ...

    def open(
        self, path: Path | str, mode: str, *, swmr: bool, journaled: bool = False, **options: Any
    ) -> FileHandle:
        """Open (or create) the file at ``path`` with h5py's ``mode``; with ``swmr`` it is
        written in a format SWMR can start on, or read-only read as SWMR. ``journaled`` (an
        existing file, mode ``'a'``): written through a rollback journal until SWMR starts or
        it closes. A file another saver of this process writes is refused, and so is one whose
        writer was killed outside SWMR (it needs ``recover`` first). ``options`` go to the
        library (``locking=False`` leaves the library's own lock alone)."""
        ...

    def close(self, file: FileHandle) -> None:
        """Flush and close ``file``; if the flush fails, let go of it (:meth:`let_go`) and
        raise the failure."""
        ...

    def flush(self, file: FileHandle) -> None:
        """Write ``file``'s buffers out to the operating system (a journal checkpoint too)."""
        ...

    def publish(self, file: FileHandle) -> None:
        """Send the changes the library holds to where other writers see them, without
        waiting for them to be durable (nothing to do for a local file)."""
        ...

    def let_go(self, file: FileHandle) -> None:
        """Stop using ``file``, whose pending writes failed, without ever writing it again: it
        stays as a killed writer's file is, for ``recover``."""
        ...

    def forget(self, file: FileHandle) -> None:
        """Close ``file``, just opened for writing and unwritten, as if it had never opened."""
        ...

    def start_swmr(self, file: FileHandle) -> None:
        """Start SWMR writing on ``file`` (its ``swmr_active`` flag set first)."""
        ...

    def identity(self, file: FileHandle) -> FileIdentity:
        """What names the open ``file`` wherever it is reached from."""
        ...

    def descriptor(self, file: FileHandle) -> int:
        """The descriptor ``file`` is written through (engines with ``file_size``)."""
        ...

    def held(
        self, file: FileHandle, path: Path | str, moved_ok: bool
    ) -> AbstractContextManager[Path | str]:
        """A path that reaches the open ``file`` while the context lasts, also once ``file`` is
        closed: ``path`` itself if it still names the file; else, with ``moved_ok``, wherever
        the file is now; else :class:`~aioh5saver.FileChangedError`."""
        ...

    def check_path_names(self, path: Path | str, identity: FileIdentity, action: str) -> None:
        """Raise :class:`~aioh5saver.FileChangedError` unless ``path`` still names the file of
        ``identity`` (renamed, replaced or deleted by another program)."""
        ...

    def check_file_intact(self, handle: int, path: Path, written: int, action: str) -> None:
        """Raise :class:`~aioh5saver.FileChangedError` if the file open as ``handle`` lost
        some of the ``written`` bytes flushed to it (engines with ``file_size``)."""
        ...

    def is_swmr_compatible(self, path: Path) -> bool:
        """True if the file at ``path`` was created SWMR-capable."""
        ...

    def file_exists(self, path: Path | str) -> bool:
        """True if a file (or domain) exists at ``path``."""
        ...

    def folder_exists(self, path: Path | str) -> bool:
        """True if the folder that would hold ``path`` exists."""
        ...
