"""The h5py storage engine: local HDF5 files opened, locked, journaled, flushed and let go of
with h5py (:class:`~aioh5saver.engine.base.StorageEngine`)."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py

from aioh5saver.engine.base import EngineCapabilities, FileIdentity
from aioh5saver.engine.boundary import h5_errors
from aioh5saver.engine.journal import JournaledFile, journal_path
from aioh5saver.errors import (
    CorruptFileError,
    FileChangedError,
    FileInUseError,
    InvalidArgumentError,
    UnfinishedWriteError,
    describe,
)
from aioh5saver.format.attrs import decode_attr

__all__ = [
    "CHUNK_CACHE_BYTES",
    "LIBVER_PLAIN",
    "LIBVER_SWMR",
    "H5pyEngine",
    "check_file_intact",
    "check_path_names",
    "file_descriptor",
    "file_identity",
    "is_swmr_compatible_file",
    "let_go_of_failed_file",
]

# Each open array's chunk cache: one chunk of a large-row array (1 MiB) and some. Appends never
# go back to a finished chunk, so a bigger cache holds nothing useful, and HDF5 2.0 gives every
# open array 8 MiB by default, which a file of many arrays pays for nothing.
CHUNK_CACHE_BYTES = (1 << 20) + (1 << 18)
# The HDF5 library versions whose file format aioh5saver writes (h5py ``libver`` bounds), so
# that HDF5 1.10 and later read every file. The upper bound is never 'latest': under HDF5 2.0
# that writes 2.0 encodings (the root's bool attributes, for one), which PyTables (HDF5 1.14)
# crashes on and h5dump 1.10 cannot read. SWMR needs the 1.10 format (superblock version 3,
# with consistency flags), so SWMR-capable files get it from the start. Other files keep the
# earliest format that holds their objects (superblock version 0, as pymodaq_data writes):
# it has no consistency flags, so a file whose writer was killed opens without recover().
LIBVER_SWMR = ("v110", "v110")
LIBVER_PLAIN = ("earliest", "v110")
_FILE_MODES = frozenset({"r", "r+", "a", "w", "w-", "x"})

# The files this process has open for writing, by device and inode: HDF5 would let a second
# saver open one of them again (it shares the open file), and two writers would then write
# the same file unknown to each other.
_OPEN_FOR_WRITING: set[FileIdentity] = set()
# The files opened through a JournaledFile (h5py's fileobj driver, which has no descriptor of
# its own to give), by HDF5 file identifier.
_JOURNALED: dict[int, JournaledFile] = {}


def file_descriptor(file: h5py.File) -> int:
    """The descriptor the open ``file`` is read and written through."""
    journaled = _JOURNALED.get(file.id.id)
    return journaled.fd if journaled is not None else int(file.id.get_vfd_handle())


def file_identity(file: h5py.File) -> FileIdentity:
    """The device and inode of the open ``file``."""
    status = os.fstat(file_descriptor(file))
    return status.st_dev, status.st_ino


def _what_is(status: os.stat_result) -> str:
    if stat.S_ISREG(status.st_mode):
        return "another file"
    if stat.S_ISDIR(status.st_mode):
        return "a directory"
    if stat.S_ISFIFO(status.st_mode):
        return "a named pipe"
    return "a special file"


def check_path_names(path: Path, identity: FileIdentity, action: str) -> None:
    """Raise :class:`FileChangedError` unless ``path`` still names the file of ``identity``
    (device, inode): another program may have renamed, replaced or deleted it. Only ``stat`` is
    called, so a named pipe or a directory found there cannot block."""
    device, inode = identity
    try:
        status = path.stat()
    except FileNotFoundError:
        got = "nothing there: the file was renamed or deleted"
    except OSError as exc:
        got = f"a path that cannot be examined ({exc})"
    else:
        if (status.st_dev, status.st_ino) == (device, inode):
            return
        got = (
            f"{_what_is(status)} (device {status.st_dev}, inode {status.st_ino}): the file "
            "was renamed, replaced or deleted"
        )
    raise FileChangedError(
        errno.ESTALE,
        f"{action}: expected the file that was opened at {path} (device {device}, inode "
        f"{inode}), got {got}; nothing is written to another file",
    )


def check_file_intact(handle: int, path: Path, written: int, action: str) -> None:
    """Raise :class:`FileChangedError` if the file open as descriptor ``handle`` no longer
    holds the ``written`` bytes it had (its size after the writer's last flush): another
    program truncated it. A file truncated and then grown again by later writes has a hole
    where the lost bytes were, which ``SEEK_HOLE`` finds (a file HDF5 flushed has none below
    its end). Two system calls, no HDF5 call."""
    size = os.fstat(handle).st_size
    first_hole = size
    if size and hasattr(os, "SEEK_HOLE"):
        try:
            first_hole = os.lseek(handle, 0, os.SEEK_HOLE)
        except OSError:
            first_hole = size  # no hole support: the size is all there is to check
    if min(size, first_hole) >= written:
        return
    got = f"{size} bytes" if first_hole >= size else f"{size} bytes with a hole at {first_hole}"
    raise FileChangedError(
        errno.ESTALE,
        f"{action}: expected {path} to hold the {written} bytes written and flushed "
        f"to it, got {got}: another program truncated it; nothing more is written to it",
    )


def is_swmr_compatible_file(path: Path) -> bool:
    """True if the file at ``path`` was created SWMR-capable (PyMoDAQ's ``swmr_compatible``)."""
    try:
        with h5py.File(path, "r", locking=False) as file:
            return decode_attr(file.attrs.get("swmr_compatible", False)) is True
    except OSError:
        return False


def let_go_of_failed_file(file: h5py.File) -> None:
    """Make sure nothing ever closes ``file``, whose pending writes failed.

    HDF5 can neither write nor drop such a file's dirty metadata, and with h5py 3.16 / HDF5 2.0
    closing it, or letting Python release its objects, crashes the process (a segfault in
    ``H5F__dest``). So every open HDF5 object of the file gets one more reference: the file
    stays open, unchanged, until the process exits, and is left as a killed writer's file is,
    for :func:`aioh5saver.recover`. The process goes on, and may open other files. A file
    written through a rollback journal is closed instead, its writes dropped.
    """
    journaled = _JOURNALED.pop(file.id.id, None)
    if journaled is not None:
        # Written through Python: kept open, HDF5 would write it again through Python once
        # the interpreter is gone at exit, which crashes. Closed with every write dropped,
        # it stays as it is on disk, and its journal lets recover undo what was written.
        journaled.drop_writes()
        status = os.fstat(journaled.fd)
        _OPEN_FOR_WRITING.discard((status.st_dev, status.st_ino))
        try:
            file.close()
        except Exception:  # noqa: S110 - HDF5 may refuse to free what its failed writes left
            pass
        else:
            journaled.close()
        return
    for object_id in h5py.h5f.get_obj_ids(file.id, h5py.h5f.OBJ_ALL):
        h5py.h5i.inc_ref(object_id)


def _refuse_a_second_writer(path: Path, mode: str) -> None:
    try:
        status = path.stat()
    except OSError:
        journal_path(path).unlink(missing_ok=True)  # a journal left by a deleted file
        return  # no such file yet: nobody writes it
    if (status.st_dev, status.st_ino) in _OPEN_FOR_WRITING:
        raise FileInUseError(
            errno.EBUSY,
            f"cannot open {path} (mode {mode!r}): expected a file no one writes, got one this "
            "process has open for writing already (one saver per file)",
        )
    if mode in ("w", "w-", "x"):
        # A journal left beside a file that is replaced, or was deleted, belongs to no file.
        journal_path(path).unlink(missing_ok=True)
    elif journal_path(path).exists():
        raise UnfinishedWriteError(
            errno.EBUSY,
            f"cannot open {path} (mode {mode!r}): expected a whole file, got one whose writer "
            f"was killed while writing it outside SWMR ({journal_path(path)} is its rollback "
            "journal); run `aioh5saver recover` on it first",
        )


def _open_journaled(path: Path, options: dict[str, Any]) -> h5py.File:
    """Open the existing file at ``path`` for appending through a :class:`JournaledFile`,
    journaling from before HDF5's first write (the open marks the superblock)."""
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    # The journal goes beside the file where it is now, also when reached through /proc.
    journaled = JournaledFile(os.readlink(f"/proc/self/fd/{fd}"), fd)
    try:
        journaled.start_journal()
        file = h5py.File(journaled, mode="r+", **options)
        journaled.mark_open_for_writing()
    except BaseException:
        journaled.stop_journal()
        journaled.close()
        raise
    _JOURNALED[file.id.id] = journaled
    return file


class H5pyEngine:
    """Local HDF5 files through h5py: every capability, SWMR and the rollback journal
    included."""

    name = "h5py"
    library: Any = h5py
    capabilities = EngineCapabilities(
        swmr=True, direct_chunk_write=True, file_size=True, file_lock=True, journal=True
    )

    def check_mode(self, mode: object) -> None:
        """Raise :class:`InvalidArgumentError` unless ``mode`` is one of h5py's file modes."""
        if mode not in _FILE_MODES:
            raise InvalidArgumentError(
                f"mode: expected one of {sorted(_FILE_MODES)}, got {describe(mode)}"
            )

    def open(
        self, path: Path | str, mode: str, *, swmr: bool, journaled: bool = False, **options: Any
    ) -> h5py.File:
        """Open the file (see :meth:`StorageEngine.open`). Files are written in the HDF5 1.10
        format (:data:`LIBVER_SWMR`) with ``swmr``, which SWMR needs, else in the earliest
        format that holds them, never in one newer than 1.10 (:data:`LIBVER_PLAIN`);
        read-only with ``swmr``, they are read with ``swmr=True``."""
        self.check_mode(mode)
        path = Path(path)
        if mode == "r":
            if swmr:
                options.setdefault("swmr", True)
        else:
            options.setdefault("libver", LIBVER_SWMR if swmr else LIBVER_PLAIN)
        options.setdefault("rdcc_nbytes", CHUNK_CACHE_BYTES)
        if mode != "r":
            _refuse_a_second_writer(path, mode)
        try:
            if journaled:
                file = _open_journaled(path, options)
            else:
                file = h5py.File(str(path), mode=mode, **options)
        except FileNotFoundError:
            raise
        except OSError as exc:
            if "already open" in str(exc):
                raise FileInUseError(
                    exc.errno,
                    f"cannot open {path} (mode {mode!r}): expected a file no one has open, got "
                    f"one already open in this process ({exc})",
                ) from exc
            in_use = "unable to lock file" in str(exc)
            if in_use or exc.errno in (errno.EAGAIN, errno.EACCES, errno.EEXIST, errno.ENOENT):
                raise
            raise CorruptFileError(
                f"cannot open {path} (mode {mode!r}): expected an HDF5 file, got one h5py "
                f"cannot read ({exc})"
            ) from exc
        if mode != "r":
            _OPEN_FOR_WRITING.add(file_identity(file))
        return file

    def close(self, file: h5py.File) -> None:
        """Flush and close ``file``; a failed flush lets go of it (its journal stays, for
        recover) and is raised."""
        if file.mode != "r":
            try:
                file.flush()
            except Exception:
                let_go_of_failed_file(file)
                raise
            _OPEN_FOR_WRITING.discard(file_identity(file))
        journaled = _JOURNALED.pop(file.id.id, None)
        if journaled is not None:
            journaled.open_for_writing = False
        file.close()
        if journaled is not None:
            journaled.stop_journal()  # closed whole
            journaled.close()

    def flush(self, file: h5py.File) -> None:
        """Flush ``file`` to the operating system, and checkpoint its journal if it has one."""
        with h5_errors(file, "flush the file"):
            file.flush()
        journaled = _JOURNALED.get(file.id.id)
        if journaled is not None:
            journaled.checkpoint()

    def publish(self, file: h5py.File) -> None:
        """Nothing: a local file has no other writer to show changes to."""

    def let_go(self, file: h5py.File) -> None:
        """:func:`let_go_of_failed_file`."""
        let_go_of_failed_file(file)

    def forget(self, file: h5py.File) -> None:
        """Close ``file`` without flushing it and stop counting it as written by this
        process."""
        _OPEN_FOR_WRITING.discard(file_identity(file))
        file.close()

    def start_swmr(self, file: h5py.File) -> None:
        """Set the root's ``swmr_active`` flag and start SWMR; a journal stops there, since
        SWMR's start flushes the file whole and HDF5 orders its writes from then on."""
        with h5_errors(file, "start SWMR"):
            # A plain bool, not JSON, so that plain h5py readers can test it.
            file.attrs["swmr_active"] = True
            file.swmr_mode = True
        journaled = _JOURNALED.get(file.id.id)
        if journaled is not None:
            journaled.stop_journal()

    def identity(self, file: h5py.File) -> FileIdentity:
        """:func:`file_identity`."""
        return file_identity(file)

    def descriptor(self, file: h5py.File) -> int:
        """:func:`file_descriptor`."""
        return file_descriptor(file)

    @contextmanager
    def held(self, file: h5py.File, path: Path | str, moved_ok: bool) -> Iterator[Path | str]:
        """``path`` while it names ``file``; else, with ``moved_ok``, the file through a
        descriptor kept open meanwhile (``/proc/self/fd``, Linux)."""
        path = Path(path)
        moved = False
        try:
            check_path_names(path, file_identity(file), "reopen")
        except FileChangedError:
            if not moved_ok:
                raise
            moved = True
        kept = os.dup(file_descriptor(file))
        try:
            yield Path(f"/proc/self/fd/{kept}") if moved else path
        finally:
            os.close(kept)

    def check_path_names(self, path: Path | str, identity: FileIdentity, action: str) -> None:
        """:func:`check_path_names`."""
        check_path_names(Path(path), identity, action)

    def check_file_intact(self, handle: int, path: Path, written: int, action: str) -> None:
        """:func:`check_file_intact`."""
        check_file_intact(handle, path, written, action)

    def is_swmr_compatible(self, path: Path) -> bool:
        """:func:`is_swmr_compatible_file`."""
        return is_swmr_compatible_file(path)

    def file_exists(self, path: Path | str) -> bool:
        """True if ``path`` is a file (not a folder)."""
        return Path(path).is_file()

    def folder_exists(self, path: Path | str) -> bool:
        """True if the folder of ``path`` exists."""
        return Path(path).parent.is_dir()
