"""The file layer: opening, walking and creating nodes in one HDF5 file with h5py.

:class:`H5Backend` has the methods and properties of pymodaq_data's ``H5Backend`` for its h5py
backend. Every h5py call of the synchronous saver goes through this module and
:mod:`.nodes`, so that another backend (HSDS through h5pyd) can be put in their place.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Iterable, Iterator
from enum import Enum
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from aioh5saver.engine.boundary import check_fits_in_memory, h5_errors
from aioh5saver.engine.external import UnresolvedPathError, check_stored_in_file, locate
from aioh5saver.engine.journal import JournaledFile, journal_path
from aioh5saver.errors import (
    ClosedFileError,
    CorruptFileError,
    FileChangedError,
    FileInUseError,
    InvalidArgumentError,
    InvalidNameError,
    NodeKindError,
    NodeNotFoundError,
    ReadOnlyError,
    SwmrModeError,
    UnfinishedWriteError,
    UnsupportedBackendError,
    describe,
)
from aioh5saver.format.attrs import decode_attr, encode_attr
from aioh5saver.format.enums import GroupType
from aioh5saver.sync.nodes import CARRAY, EARRAY, GROUP, VLARRAY, Node, StringARRAY, wrap_node

__all__ = [
    "CHUNK_CACHE_BYTES",
    "SUPPORTED_BACKENDS",
    "H5Backend",
    "capitalize",
    "check_count",
    "check_file_intact",
    "check_node_name",
    "check_path_names",
    "check_path_names_file",
    "check_title",
    "chunk_shape",
    "file_identity",
    "format_version",
    "group_type_name",
    "is_swmr_compatible_file",
    "let_go_of_failed_file",
    "reconcile_swmr_attrs_of",
]

SUPPORTED_BACKENDS = ("h5py",)
# Each open array's chunk cache: one chunk of a large-row array (1 MiB) and some. Appends never
# go back to a finished chunk, so a bigger cache holds nothing useful, and HDF5 2.0 gives every
# open array 8 MiB by default: a file of 20 arrays took 160 MiB of memory for nothing.
CHUNK_CACHE_BYTES = (1 << 20) + (1 << 18)
# The HDF5 library versions whose file format aioh5saver writes (h5py ``libver`` bounds), so
# that HDF5 1.10 and later read every file. The upper bound is never 'latest': under HDF5 2.0
# that writes 2.0 encodings (seen: the root's bool attributes), on which PyTables (HDF5 1.14)
# segfaults and which h5dump 1.10 cannot read. SWMR needs the 1.10 format (superblock version
# 3, with consistency flags), so SWMR-capable files get it from the start. Other files keep the
# earliest format that holds their objects (superblock version 0, as pymodaq_data writes):
# it has no consistency flags, so a file whose writer was killed opens without recover().
LIBVER_SWMR = ("v110", "v110")
LIBVER_PLAIN = ("earliest", "v110")
# The compressions h5py writes without plugins.
_COMPRESSIONS = frozenset({"gzip", "lzf", "szip"})
_FILE_MODES = frozenset({"r", "r+", "a", "w", "w-", "x"})
# Enlargeable arrays get chunks of about this many bytes (and at least one row), so that an
# append of a batch writes whole chunks; small rows get smaller chunks, so that a file with many
# scalar channels does not reserve a mebibyte for each.
_CHUNK_BYTES_LARGE_ROWS = 1 << 20
_CHUNK_BYTES_SMALL_ROWS = 64 << 10
_SMALL_ROW_BYTES = 4 << 10


def format_version() -> str:
    """What the ``pymodaq_data_version`` attribute records: the pymodaq_data file format this
    package writes, marked as written by aioh5saver (a PEP 440 local version)."""
    try:
        own = importlib_metadata.version("aioh5saver")
    except importlib_metadata.PackageNotFoundError:
        own = "0"
    return f"5.3.0+aioh5saver{own.replace('.', '_').replace('-', '_')}"


def chunk_shape(row_shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """The chunk shape of an enlargeable array with rows of ``row_shape``: whole rows, about
    1 MiB per chunk for large rows and 64 KiB for small ones."""
    row_bytes = max(1, int(np.prod(row_shape, dtype=np.int64)) * itemsize)
    target = _CHUNK_BYTES_SMALL_ROWS if row_bytes < _SMALL_ROW_BYTES else _CHUNK_BYTES_LARGE_ROWS
    return (max(1, target // row_bytes), *(max(1, n) for n in row_shape))


def reconcile_swmr_attrs_of(
    backend: H5Backend, paths: Iterable[str] | None, *, clear_flag: bool = True
) -> None:
    """:meth:`H5Backend.reconcile_swmr_attrs` for the arrays at ``paths`` only, or for all if
    None (a writer that knows which arrays grew under SWMR need not walk the file). The
    ``swmr_active`` flag is cleared last (unless ``clear_flag`` is false: the caller has more
    to finish first), so that a writer interrupted before leaves it set for the next one."""
    file = backend._writable_file("reconcile attributes after SWMR")
    nodes = backend.walk_nodes("/") if paths is None else map(backend.get_node, paths)
    for node in nodes:
        if isinstance(node, EARRAY):
            with h5_errors(node.node, f"reconcile {node.path}"):
                node.node.attrs["shape"] = encode_attr(tuple(node.node.shape))
    if clear_flag:
        with h5_errors(file, "reconcile attributes after SWMR"):
            if "swmr_active" in file.attrs:
                file.attrs["swmr_active"] = False


_DEFAULT_TITLE = "PyMoDAQ file"

# The files this process has open for writing, by device and inode: HDF5 would let a second
# saver open one of them again (it shares the open file), and two writers would then write
# the same file unknown to each other.
_OPEN_FOR_WRITING: set[tuple[int, int]] = set()


# The files opened through a JournaledFile (h5py's fileobj driver, which has no descriptor of
# its own to give), by HDF5 file identifier.
_JOURNALED: dict[int, JournaledFile] = {}


def file_descriptor(file: h5py.File) -> int:
    """The descriptor the open ``file`` is read and written through."""
    journaled = _JOURNALED.get(file.id.id)
    return journaled.fd if journaled is not None else int(file.id.get_vfd_handle())


def _file_key(file: h5py.File) -> tuple[int, int]:
    status = os.fstat(file_descriptor(file))
    return status.st_dev, status.st_ino


def _open_journaled(path: Path, kwargs: dict[str, Any]) -> h5py.File:
    """Open the existing file at ``path`` for appending through a :class:`JournaledFile`,
    journaling from before HDF5's first write (the open marks the superblock)."""
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    # The journal goes beside the file where it is now, also when reached through /proc.
    journaled = JournaledFile(os.readlink(f"/proc/self/fd/{fd}"), fd)
    try:
        journaled.start_journal()
        file = h5py.File(journaled, mode="r+", **kwargs)
        journaled.mark_open_for_writing()
    except BaseException:
        journaled.stop_journal()
        journaled.close()
        raise
    _JOURNALED[file.id.id] = journaled
    return file


def _what_is(status: os.stat_result) -> str:
    if stat.S_ISREG(status.st_mode):
        return "another file"
    if stat.S_ISDIR(status.st_mode):
        return "a directory"
    if stat.S_ISFIFO(status.st_mode):
        return "a named pipe"
    return "a special file"


def check_path_names_file(file: h5py.File, path: Path, action: str) -> None:
    """Raise :class:`FileChangedError` unless ``path`` still names ``file`` (same device and
    inode): another program may have renamed, replaced or deleted it. Only ``stat`` is
    called, so a named pipe or a directory found there cannot block."""
    check_path_names(path, file_identity(file), action)


def file_identity(file: h5py.File) -> tuple[int, int]:
    """The device and inode of the open ``file``."""
    return _file_key(file)


def check_path_names(path: Path, identity: tuple[int, int], action: str) -> None:
    """:func:`check_path_names_file` for a file known by its ``identity`` (device, inode)."""
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


def _says_missing(exc: KeyError) -> bool:
    """True if h5py's KeyError says a link does not exist, rather than that HDF5 could not read
    the objects on the way (a damaged file)."""
    text = str(exc)
    return "doesn't exist" in text or "not found" in text or "does not exist" in text


def _h5_name(path: str) -> str | bytes:
    """``path`` as h5py takes it: bytes where it holds a name that is not UTF-8 (kept as lone
    surrogates in the paths this package gives)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape")
    return path


def check_title(title: object, action: str) -> str:
    """``title`` as stored in a ``TITLE`` attribute: text without NUL (HDF5 strings end at
    one)."""
    text = str(title)
    if "\0" in text:
        raise InvalidArgumentError(
            f"{action}: expected a title without NUL characters, got {describe(title)}"
        )
    return text


def check_node_name(name: object, argument: str = "name") -> str:
    """``name`` if it is a valid node name: a non-empty str that is one path component."""
    if not isinstance(name, str):
        raise InvalidNameError(f"{argument}: expected a node name as str, got {describe(name)}")
    if not name or "/" in name or name in (".", "..") or "\0" in name:
        raise InvalidNameError(
            f"{argument}: expected a single path component (non-empty, no '/', not '.' or '..', "
            f"no NUL), got {name!r}"
        )
    return name


def capitalize(name: str) -> str:
    """``name`` with its first letter upper-cased, as PyMoDAQ names its nodes."""
    return name[:1].upper() + name[1:]


def is_swmr_compatible_file(path: Path) -> bool:
    """True if the file at ``path`` was created SWMR-capable (PyMoDAQ's ``swmr_compatible``)."""
    try:
        with h5py.File(path, "r", locking=False) as file:
            return decode_attr(file.attrs.get("swmr_compatible", False)) is True
    except OSError:
        return False


class H5Backend:
    """One HDF5 file and the operations on its tree (pymodaq_data's ``H5Backend``, h5py only)."""

    def __init__(self, backend: str = "h5py") -> None:
        self._h5file: h5py.File | None = None
        self.file_path: Path | str | None = None
        self.compression: dict[str, Any] | None = None
        self._swmr_mode = False
        self._swmr_enabled = False
        self.backend = "h5py"
        self.h5_library: Any = h5py
        self.set_backend(backend)

    # -- backend and file -------------------------------------------------------------------

    def set_backend(self, backend: str) -> None:
        """Select the backend (only ``'h5py'`` exists here), closing any open file first."""
        if backend not in SUPPORTED_BACKENDS:
            raise UnsupportedBackendError(
                f"backend: expected one of {list(SUPPORTED_BACKENDS)} (aioh5saver writes with "
                f"h5py only), got {backend!r}"
            )
        self.close_file()
        self.backend = backend
        self.h5_library = h5py

    @property
    def swmr_mode(self) -> bool:
        """True if the file was opened to be written under SWMR."""
        return self._swmr_mode

    @property
    def h5file(self) -> h5py.File | None:
        """The open h5py file, or None."""
        return self._h5file

    @h5file.setter
    def h5file(self, file: h5py.File) -> None:
        self.file_path = file.filename
        self._h5file = file

    @property
    def filename(self) -> str:
        """The path of the open file."""
        return str(self._file().filename)

    def isopen(self) -> bool:
        """True if a file is open."""
        return self._h5file is not None and bool(self._h5file.id.valid)

    def _file(self) -> h5py.File:
        if self._h5file is None or not self._h5file.id.valid:
            raise ClosedFileError("expected an open file, got none: call init_file() first")
        return self._h5file

    def _writable_file(self, action: str) -> h5py.File:
        file = self._file()
        if file.mode == "r":
            raise ReadOnlyError(
                f"cannot {action}: expected a file opened for writing (mode 'a' or 'w'), "
                f"got {self.file_path} opened read-only (mode 'r')"
            )
        return file

    def open_file(
        self,
        fullpathname: Path | str,
        mode: str = "r",
        title: str = _DEFAULT_TITLE,
        swmr_mode: bool = False,
        **kwargs: Any,
    ) -> h5py.File:
        """Open (or create, with ``mode='w'``) the file; a new file gets PyMoDAQ's root
        attributes. Files are written in the HDF5 1.10 format (:data:`LIBVER_SWMR`) with
        ``swmr_mode``, which SWMR needs, else in the earliest format that holds them, never in
        one newer than 1.10 (:data:`LIBVER_PLAIN`); read-only with ``swmr_mode``, they are
        read with ``swmr=True``."""
        return self._open_file(fullpathname, mode, title, swmr_mode, False, **kwargs)

    def _open_file(
        self,
        fullpathname: Path | str,
        mode: str,
        title: str,
        swmr_mode: bool,
        journaled: bool,
        **kwargs: Any,
    ) -> h5py.File:
        """:meth:`open_file`; ``journaled`` (an existing file, ``mode='a'``): written through
        a rollback journal until SWMR starts or the file closes (:mod:`.journal`)."""
        if mode not in _FILE_MODES:
            raise InvalidArgumentError(
                f"mode: expected one of {sorted(_FILE_MODES)}, got {describe(mode)}"
            )
        self.file_path = fullpathname
        self._swmr_mode = swmr_mode
        if mode == "r":
            if swmr_mode:
                kwargs.setdefault("swmr", True)
        else:
            kwargs.setdefault("libver", LIBVER_SWMR if swmr_mode else LIBVER_PLAIN)
        kwargs.setdefault("rdcc_nbytes", CHUNK_CACHE_BYTES)
        if mode != "r":
            _refuse_a_second_writer(Path(fullpathname), mode)
        try:
            if journaled:
                self._h5file = _open_journaled(Path(fullpathname), kwargs)
            else:
                self._h5file = h5py.File(str(fullpathname), mode=mode, **kwargs)
        except FileNotFoundError:
            raise
        except OSError as exc:
            if "already open" in str(exc):
                raise FileInUseError(
                    exc.errno,
                    f"cannot open {fullpathname} (mode {mode!r}): expected a file no one has "
                    f"open, got one already open in this process ({exc})",
                ) from exc
            in_use = "unable to lock file" in str(exc)
            if in_use or exc.errno in (errno.EAGAIN, errno.EACCES, errno.EEXIST, errno.ENOENT):
                raise
            raise CorruptFileError(
                f"cannot open {fullpathname} (mode {mode!r}): expected an HDF5 file, got one "
                f"h5py cannot read ({exc})"
            ) from exc
        if mode != "r":
            _OPEN_FOR_WRITING.add(_file_key(self._h5file))
        if mode in ("w", "w-", "x"):
            root = self.root()
            root.attrs["TITLE"] = title
            root.node.attrs["CLASS"] = "GROUP"
            root.attrs["pymodaq_version"] = "0.0.0"
            root.attrs["pymodaq_data_version"] = format_version()
            if swmr_mode:
                root.attrs["swmr_compatible"] = True
        return self._h5file

    def close_file(self) -> None:
        """Flush and close the file (no-op when none is open). A file whose flush fails is
        let go of without closing (:func:`let_go_of_failed_file`) and the failure raised."""
        file = self._h5file
        self._swmr_enabled = False
        self._h5file = None
        if file is None or not file.id.valid:
            return
        if file.mode != "r":
            try:
                file.flush()
            except Exception:
                let_go_of_failed_file(file)  # its journal stays, for recover
                raise
            _OPEN_FOR_WRITING.discard(_file_key(file))
        journaled = _JOURNALED.pop(file.id.id, None)
        if journaled is not None:
            journaled.open_for_writing = False
        file.close()
        if journaled is not None:
            journaled.stop_journal()  # closed whole
            journaled.close()

    def let_go_of_file(self) -> None:
        """Stop using the file without closing it, after its writes failed
        (:func:`let_go_of_failed_file`)."""
        file = self._h5file
        self._swmr_enabled = False
        self._h5file = None
        if file is not None and file.id.valid:
            let_go_of_failed_file(file)

    def flush(self) -> None:
        """Flush the file's buffers to the operating system."""
        if self._h5file is not None and self._h5file.id.valid and self._h5file.mode != "r":
            with h5_errors(self._h5file, "flush the file"):
                self._h5file.flush()
            journaled = _JOURNALED.get(self._h5file.id.id)
            if journaled is not None:
                journaled.checkpoint()

    def save_file_as(self, filenamepath: Path | str = "h5copy.txt") -> None:
        """Write a copy of the file, as it is once flushed, to ``filenamepath``."""
        source = Path(self.filename)
        target = Path(filenamepath)
        if target.exists() and os.path.samefile(source, target):
            raise InvalidArgumentError(
                f"filename: expected a path other than the open file, got {target}"
            )
        self.flush()
        shutil.copyfile(source, target)

    def root(self) -> GROUP:
        """The root group."""
        return GROUP(self._file(), self.backend)

    def define_compression(self, compression: str, compression_opts: int) -> None:
        """Compress arrays created from now on (``'gzip'``, or its PyTables name ``'zlib'``)."""
        if compression == "zlib":
            compression = "gzip"
        if compression not in _COMPRESSIONS:
            raise InvalidArgumentError(
                f"compression: expected one of {sorted(_COMPRESSIONS)} or 'zlib', got "
                f"{describe(compression)}"
            )
        self.compression = {"compression": compression, "compression_opts": compression_opts}

    # -- attributes ---------------------------------------------------------------------------

    def get_attr(self, node: Any, attr_name: str | None = None) -> Any:
        """One decoded attribute of ``node``, or all of them as a dict if ``attr_name`` is None."""
        wrapped = self.get_node(node)
        if attr_name is None:
            return wrapped.attrs.to_dict()
        return wrapped.attrs[attr_name]

    def set_attr(self, node: Any, attr_name: str, attr_value: Any) -> None:
        """Set an attribute of ``node`` (PyMoDAQ's JSON encoding)."""
        self.get_node(node).attrs[attr_name] = attr_value

    def has_attr(self, node: Any, attr_name: str) -> bool:
        """True if ``node`` has the attribute ``attr_name``."""
        return attr_name in self.get_node(node).attrs

    # -- SWMR ---------------------------------------------------------------------------------

    def enable_swmr(self) -> None:
        """Start SWMR writing (idempotent). Structure must be created before: HDF5 forbids
        new groups, datasets and attributes while SWMR is on."""
        if self._swmr_enabled:
            return
        if not self._swmr_mode:
            raise SwmrModeError(
                "enable_swmr: expected a file opened with swmr_mode=True, got one opened without"
            )
        file = self._writable_file("start SWMR")
        if file.swmr_mode:
            self._swmr_enabled = True
            return
        with h5_errors(file, "start SWMR"):
            # A plain bool, not JSON, so that plain h5py readers can test it.
            file.attrs["swmr_active"] = True
            file.swmr_mode = True
        journaled = _JOURNALED.get(file.id.id)
        if journaled is not None:
            journaled.stop_journal()  # flushed whole by SWMR's start; HDF5 orders writes now
        self._swmr_enabled = True

    @property
    def is_swmr_active(self) -> bool:
        """True while SWMR writing is on."""
        return self._swmr_enabled

    @property
    def is_swmr_compatible(self) -> bool:
        """True if the open file was created SWMR-capable."""
        try:
            return bool(self.root().attrs.get("swmr_compatible", False) is True)
        except ClosedFileError:
            return False

    @property
    def is_swmr_capable(self) -> bool:
        """True: the h5py backend can write with SWMR."""
        return True

    def reconcile_swmr_attrs(self) -> None:
        """Record each enlargeable array's real shape in its ``shape`` attribute (deferred while
        SWMR was on) and clear the ``swmr_active`` flag."""
        reconcile_swmr_attrs_of(self, None)

    def finalize_swmr(self, keep_open: bool = False) -> None:
        """End SWMR: close the file, reopen it for appending (:meth:`reopen`) and reconcile the
        deferred attributes; then close it unless ``keep_open``."""
        self.reopen()
        self.reconcile_swmr_attrs()
        if not keep_open:
            self.close_file()

    def reopen(self, *, moved_ok: bool = False) -> None:
        """Close the file and open it again for appending, keeping its SWMR capability (the
        1.10 file format). HDF5's file lock is not taken, so that this succeeds while SWMR
        readers still hold the file open.

        The file opened again is the one that was open, never another: if its path no longer
        names it (renamed, replaced, deleted), :class:`FileChangedError` is raised before
        anything is closed, or, with ``moved_ok``, the file is opened again where it is now,
        through a descriptor kept open meanwhile (``/proc/self/fd``, Linux).

        A SWMR-capable file is opened again through a rollback journal (:mod:`.journal`): a
        kill before SWMR starts again is undone by ``recover``."""
        journaled = self._swmr_mode
        if self.file_path is None:
            raise ClosedFileError("reopen: expected a file to reopen, got none")
        file_path = Path(self.file_path)
        file = self._h5file
        if file is None or not file.id.valid:
            self.close_file()
            self._open_file(
                file_path, "a", _DEFAULT_TITLE, self._swmr_mode, journaled, locking=False
            )
            return
        key = _file_key(file)
        moved = False
        try:
            check_path_names_file(file, file_path, "reopen")
        except FileChangedError:
            if not moved_ok:
                raise
            moved = True
        kept = os.dup(file_descriptor(file))
        try:
            target = Path(f"/proc/self/fd/{kept}") if moved else file_path
            self.close_file()
            self._open_file(target, "a", _DEFAULT_TITLE, self._swmr_mode, journaled, locking=False)
        finally:
            os.close(kept)
            self.file_path = file_path
        reopened = self._h5file
        assert reopened is not None
        if _file_key(reopened) != key:
            # Replaced between the check and the open: let go of that file at once.
            _OPEN_FOR_WRITING.discard(_file_key(reopened))
            self._h5file = None
            reopened.close()
            raise FileChangedError(
                errno.ESTALE,
                f"reopen: expected the file that was opened at {file_path} (device {key[0]}, "
                f"inode {key[1]}), got another file put there meanwhile",
            )

    # -- nodes --------------------------------------------------------------------------------

    def get_node(self, where: Any, name: str | None = None) -> Node:
        """The node at ``where`` (a path, a node or an h5py object), or its child ``name``."""
        file = self._file()
        reached_by: str | None = None  # the path a node given as where was reached by
        if isinstance(where, Node):
            reached_by = where.path
            where = where.node
        if name is not None:
            check_node_name(name)
        shown: str | None
        if isinstance(where, str):
            path = where if name is None else f"{where.rstrip('/')}/{name}"
            h5_path = _h5_name(path)
            raw = h5_path if isinstance(h5_path, bytes) else h5_path.encode("utf-8")
            shown = "/" + "/".join(part for part in path.split("/") if part not in ("", "."))
            obj = self._locate(file, raw, path)
        elif isinstance(where, h5py.Group | h5py.Dataset):
            obj = where
            shown = reached_by
            if name is not None:
                if not isinstance(where, h5py.Group):
                    raise NodeKindError(
                        f"expected a group to hold {name!r}, got the array {where.name}"
                    )
                obj = self._locate(where, name.encode("utf-8", "surrogateescape"), name)
                with h5_errors(where, f"find {where.name}/{name}"):
                    shown = f"{(reached_by or where.name).rstrip('/')}/{name}"
        else:
            raise NodeKindError(
                f"where: expected a node path (str) or a node, got {describe(where)}"
            )
        return wrap_node(obj, self.backend, shown)

    def _locate(self, start: h5py.Group, raw: bytes, path: str) -> Any:
        """The object at ``raw`` from ``start``, resolved inside the file (:func:`locate`)."""
        with h5_errors(start, f"find {path}", reading=True):
            try:
                return locate(start, raw)
            except UnresolvedPathError as exc:
                raise NodeNotFoundError(f"no node at {path!r} in {self.file_path}: {exc}") from None
            except (KeyError, ValueError) as exc:
                if isinstance(exc, KeyError) and not _says_missing(exc):
                    raise CorruptFileError(
                        f"cannot find {path} in {self.file_path}: expected readable HDF5 "
                        f"structures, got a damaged file ({exc})"
                    ) from exc
                raise NodeNotFoundError(f"no node at {path!r} in {self.file_path}") from exc

    def _get_group(self, where: Any) -> GROUP:
        node = self.get_node(where)
        if not isinstance(node, GROUP):
            raise NodeKindError(f"expected a group at {node.path}, got a {node.kind}")
        return node

    def get_node_name(self, node: Any) -> str:
        """The name of ``node``."""
        return self.get_node(node).name

    def get_node_path(self, node: Any) -> str:
        """The absolute path of ``node``."""
        return self.get_node(node).path

    def get_parent_node(self, node: Any) -> GROUP | None:
        """The group holding ``node``, or None for the root."""
        return self.get_node(node).parent_node

    def get_children(self, where: Any) -> dict[str, Node]:
        """The nodes directly under the group ``where``, by name."""
        return self._get_group(where).children()

    def is_node_in_group(self, where: Any, name: str) -> bool:
        """True if ``where`` has a child called ``name`` (case-insensitive)."""
        lowered = name.lower()
        return any(child.lower() == lowered for child in self.get_children(where))

    def walk_groups(self, where: Any) -> Iterator[GROUP]:
        """``where`` and every group below it, in pymodaq_data's order; each group once, even
        where hard links make the tree a graph."""
        start = self.get_node(where)
        if not isinstance(start, GROUP):
            return
        seen = {start.node.id}
        stack = [start]
        yield start
        while stack:
            group = stack.pop()
            for child in group.children().values():
                if isinstance(child, GROUP) and child.node.id not in seen:
                    seen.add(child.node.id)
                    stack.append(child)
                    yield child

    def walk_nodes(
        self, where: Any, depth: int | None = None, only_groups: bool = False
    ) -> Iterator[Node]:
        """``where`` and the nodes below it down to ``depth`` levels (all if None), in
        pymodaq_data's order; only groups if ``only_groups``."""
        start = self.get_node(where)
        if not (only_groups and not isinstance(start, GROUP)):
            yield start
        if depth == 0:
            return
        prefix = len(start.path.rstrip("/")) + 1
        for group in self.walk_groups(start):
            for child in group.children().values():
                relative = child.path[prefix:]
                if depth is not None and relative.count("/") >= depth:
                    return
                if only_groups and not isinstance(child, GROUP):
                    continue
                yield child

    def get_group_by_title(self, where: Any, title: str) -> GROUP | None:
        """The first child group of ``where`` whose ``TITLE`` is ``title``, or None."""
        for child in self.get_children(where).values():
            if isinstance(child, GROUP) and child.attrs.get("TITLE") == title:
                return child
        return None

    def read(self, array: Any, *args: Any, **kwargs: Any) -> Any:
        """The data of an array node, as stored (string rows are returned raw: use
        ``StringARRAY.read()`` for the strings)."""
        node = self.get_node(array)
        if not isinstance(node, CARRAY):
            raise NodeKindError(f"read: expected an array, got the group {node.path}")
        check_stored_in_file(node.node, f"read {node.path}")
        check_fits_in_memory(node.node, f"read {node.path}")
        with h5_errors(node.node, f"read {node.path}", reading=True):
            return node.node[()]

    def read_strings(self, where: Any) -> list[str]:
        """The strings of a string array (the Logger included), decoded without unpickling."""
        node = self.get_node(where)
        if not isinstance(node, StringARRAY):
            raise NodeKindError(
                f"read_strings: expected a string array, got a {node.kind} at {node.path}"
            )
        return node.read()

    # -- creation -----------------------------------------------------------------------------

    def _new_child_parent(self, where: Any, name: str, action: str) -> h5py.Group:
        self._writable_file(action)
        check_node_name(name)
        parent = self._get_group(where)
        with h5_errors(parent.node, action):
            if name in parent.node:
                raise InvalidNameError(
                    f"{action}: expected a name not yet used in {parent.path}, got {name!r}, "
                    "which exists"
                )
        return parent.node

    def _describe_array(
        self, array: CARRAY, shape: tuple[int, ...], dtype: np.dtype[Any], subdtype: str
    ) -> None:
        array.attrs["shape"] = shape
        array.attrs["dtype"] = dtype.name
        array.attrs["subdtype"] = subdtype
        array.attrs["backend"] = self.backend

    def create_carray(self, where: Any, name: str, obj: Any = None, title: str = "") -> CARRAY:
        """A fixed array holding ``obj``."""
        if obj is None:
            raise InvalidArgumentError(
                f"create_carray {name!r}: expected the data to store (a numpy array), got None"
            )
        action = f"create the array {name!r}"
        title = check_title(title, action)
        parent = self._new_child_parent(where, name, action)
        data = np.asarray(obj)
        if data.dtype == object:
            raise InvalidArgumentError(
                f"{action}: expected numeric or fixed-width data, got an object array"
            )
        with h5_errors(parent, action):
            dataset = parent.create_dataset(name, data=data, **(self.compression or {}))
            dataset.attrs["TITLE"] = title
            dataset.attrs["CLASS"] = "CARRAY"
        array = CARRAY(dataset, self.backend)
        self._describe_array(array, data.shape, data.dtype, "")
        return array

    def create_earray(
        self, where: Any, name: str, dtype: Any, data_shape: Any = None, title: str = ""
    ) -> EARRAY:
        """An array enlargeable along its first axis, with rows of shape ``data_shape``."""
        action = f"create the enlargeable array {name!r}"
        title = check_title(title, action)
        row_shape = _as_shape(data_shape, "data_shape")
        if 0 in row_shape:
            # pymodaq_data creates such an array (h5py guesses chunks larger than the zero
            # dimension); its rows would hold nothing but their count, and appending them has
            # no byte to queue or write: refused here, before anything is created.
            raise InvalidArgumentError(
                f"data_shape: expected the shape of a row of at least one element (no "
                f"dimension of size 0) for an enlargeable array, got {describe(data_shape)}"
            )
        try:
            dtype = np.dtype(dtype)
        except TypeError as exc:
            raise InvalidArgumentError(
                f"{action}: expected a numpy dtype, got {describe(dtype)}"
            ) from exc
        parent = self._new_child_parent(where, name, action)
        options: dict[str, Any] = {"chunks": chunk_shape(row_shape, dtype.itemsize)}
        options.update(self.compression or {})
        with h5_errors(parent, action):
            dataset = parent.create_dataset(
                name, shape=(0, *row_shape), dtype=dtype, maxshape=(None, *row_shape), **options
            )
            dataset.attrs["TITLE"] = title
            dataset.attrs["CLASS"] = "EARRAY"
            dataset.attrs["EXTDIM"] = 0
        array = EARRAY(dataset, self.backend)
        self._describe_array(array, (0, *row_shape), dtype, "")
        return array

    def create_vlarray(self, where: Any, name: str, dtype: Any, title: str = "") -> VLARRAY:
        """An enlargeable array of variable-length rows; ``dtype='string'`` makes a
        :class:`StringARRAY`."""
        action = f"create the variable-length array {name!r}"
        title = check_title(title, action)
        is_string = isinstance(dtype, str) and dtype == "string"
        try:
            base = np.dtype(np.uint8) if is_string else np.dtype(dtype)
        except TypeError as exc:
            raise InvalidArgumentError(
                f"{action}: expected a numpy dtype or 'string', got {describe(dtype)}"
            ) from exc
        parent = self._new_child_parent(where, name, action)
        options: dict[str, Any] = dict(self.compression or {})
        with h5_errors(parent, action):
            dataset = parent.create_dataset(
                name, shape=(0,), dtype=h5py.vlen_dtype(base), maxshape=(None,), **options
            )
            dataset.attrs["TITLE"] = title
            dataset.attrs["CLASS"] = "VLARRAY"
            dataset.attrs["EXTDIM"] = 0
        array: VLARRAY = (StringARRAY if is_string else VLARRAY)(dataset, self.backend)
        self._describe_array(array, (0,), base, "string" if is_string else "")
        return array

    def get_set_group(self, where: Any, name: str, title: str = "", **kwargs: Any) -> GROUP:
        """The group ``name`` under ``where``, created (with ``TITLE`` and ``CLASS``, and
        ``kwargs`` as plain attributes) if absent."""
        check_node_name(name)
        parent = self._get_group(where)
        with h5_errors(parent.node, f"find {name!r} in {parent.path}"):
            exists = name in parent.node
        if exists:
            group = self.get_node(parent.node, name)
            if not isinstance(group, GROUP):
                raise NodeKindError(
                    f"expected {group.path} to be a group, got an existing {group.kind}"
                )
            return group
        action = f"create the group {name!r} in {parent.path}"
        self._writable_file(action)
        title = check_title(title, action)
        with h5_errors(parent.node, action):
            created = parent.node.create_group(name)
            created.attrs["TITLE"] = title
            created.attrs["CLASS"] = "GROUP"
            for key, value in kwargs.items():
                created.attrs[key] = value
        return GROUP(created, self.backend)

    def add_group(
        self,
        group_name: str,
        group_type: GroupType | str,
        where: Any,
        title: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> GROUP:
        """The group ``group_name`` under ``where``, created with the ``type`` attribute and
        ``metadata`` if absent; its name is capitalised on creation, as in PyMoDAQ."""
        check_node_name(group_name, "group_name")
        type_name = group_type_name(group_type)
        if group_name in self.get_children(where):
            node = self._get_group(self.get_node(where, group_name))
        else:
            node = self.get_set_group(where, capitalize(group_name), title)
            node.attrs["type"] = type_name.lower()
            for key, value in (metadata or {}).items():
                node.attrs[key] = value
        node.attrs["backend"] = self.backend
        return node


def group_type_name(group_type: object) -> str:
    """The name a ``group_type`` argument gives: an enum member's name, or the string."""
    if isinstance(group_type, Enum):
        return group_type.name
    if isinstance(group_type, str) and group_type:
        return group_type
    raise InvalidArgumentError(
        f"group_type: expected a GroupType member or a group type name, got {describe(group_type)}"
    )


def check_count(value: object, argument: str) -> int:
    """``value`` if it is a non-negative int (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgumentError(
            f"{argument}: expected a non-negative int, got {describe(value)}"
        )
    return value


def _as_shape(shape: Any, argument: str) -> tuple[int, ...]:
    if shape is None:
        return ()
    try:
        dims = tuple(int(n) for n in shape)
        valid = all(n >= 0 and n == m for n, m in zip(dims, shape, strict=True))
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise InvalidArgumentError(
            f"{argument}: expected a tuple of non-negative ints, got {describe(shape)}"
        )
    return dims
