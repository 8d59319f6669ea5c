"""The saver's hold on its one file: opened through a storage engine (the ``backend`` argument
picks the library, ``"h5py"``; an ``hsds://`` location picks the HSDS engine, whose client
h5pyd has h5py's API), flushed, switched to SWMR, reopened, closed, or let go of after its
writes failed."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import Any

import h5py

from aioh5saver.engine.base import StorageEngine
from aioh5saver.engine.boundary import h5_errors
from aioh5saver.engine.h5py_engine import H5pyEngine
from aioh5saver.engine.hsds_engine import HsdsEngine, HsdsLocation, is_hsds_location
from aioh5saver.engine.objects import is_open
from aioh5saver.errors import (
    ClosedFileError,
    FileChangedError,
    InvalidArgumentError,
    ReadOnlyError,
    SwmrModeError,
    UnsupportedBackendError,
    describe,
)
from aioh5saver.format.layout import DEFAULT_TITLE, root_attrs
from aioh5saver.sync.nodes import GROUP

__all__ = ["SUPPORTED_BACKENDS", "FileAccess", "as_location", "engine_for", "file_to_open"]

#: The storage engines, by the name the ``backend`` argument gives.
_ENGINES: dict[str, StorageEngine] = {"h5py": H5pyEngine()}
SUPPORTED_BACKENDS = tuple(_ENGINES)
#: The engine of ``hsds://`` locations (HSDS domains through h5pyd, which has h5py's API).
_HSDS_ENGINE: StorageEngine = HsdsEngine()


def engine_for(location: object, backend: str = "h5py") -> StorageEngine:
    """The engine that reaches ``location``: HSDS for an ``hsds://`` location, else the
    engine of ``backend``."""
    return _HSDS_ENGINE if is_hsds_location(location) else _ENGINES[backend]


def as_location(location: Path | str) -> Path | str:
    """``location`` as its engine takes it: a Path for a local file, the str of an
    ``hsds://`` location (a Path would fold its ``//``)."""
    return location if is_hsds_location(location) else Path(location)


def file_to_open(file_name: Path | str) -> tuple[Path | str, str, Path]:
    """Where ``init_file`` opens ``file_name``: the location, the file's name and its folder
    (a name whose suffix has no ``h5`` gets ``.h5``, as in PyMoDAQ). The folder of a domain is
    the folder's path on its service."""
    if is_hsds_location(file_name):
        location = HsdsLocation.parse(file_name)
        return str(location), location.name, Path(location.folder)
    path = Path(file_name)
    name = path.name if "h5" in path.suffix else f"{path.stem}.h5"
    return path.parent / name, name, path.parent


# The compressions h5py writes without plugins.
_COMPRESSIONS = frozenset({"gzip", "lzf", "szip"})


class FileAccess:
    """One HDF5 file reached through the storage engine the ``backend`` names: opened,
    flushed, switched to SWMR, reopened, closed or let go of."""

    def __init__(self, backend: str = "h5py") -> None:
        self._h5file: h5py.File | None = None
        self.file_path: Path | str | None = None
        self.compression: dict[str, Any] | None = None
        self._swmr_mode = False
        self._swmr_enabled = False
        self._engine: StorageEngine = _ENGINES["h5py"]
        self.backend = "h5py"
        self.h5_library: Any = self._engine.library
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
        self._engine = _ENGINES[backend]
        self.backend = backend
        self.h5_library = self._engine.library

    @property
    def engine(self) -> StorageEngine:
        """The storage engine of the file (of the last one opened)."""
        return self._engine

    def _select_engine(self, location: Path | str) -> StorageEngine:
        """Use the engine that reaches ``location`` from now on (:func:`engine_for`)."""
        self._engine = engine_for(location, self.backend)
        return self._engine

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
        return self._h5file is not None and is_open(self._h5file)

    def _file(self) -> h5py.File:
        if self._h5file is None or not is_open(self._h5file):
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
        title: str = DEFAULT_TITLE,
        swmr_mode: bool = False,
        **kwargs: Any,
    ) -> h5py.File:
        """Open (or create, with ``mode='w'``) the file; a new file gets PyMoDAQ's root
        attributes. With ``swmr_mode`` the file is written in a format SWMR can start on, or
        read-only read as SWMR (the engine's :meth:`~aioh5saver.engine.base.StorageEngine.open`
        says how)."""
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
        a rollback journal until SWMR starts or the file closes (:mod:`.engine.journal`)."""
        engine = self._select_engine(fullpathname)
        engine.check_mode(mode)
        self.file_path = fullpathname
        # An engine without SWMR writes every file readable while it grows: SWMR calls are
        # no-ops there (statistics() says so).
        swmr_mode = swmr_mode and engine.capabilities.swmr
        self._swmr_mode = swmr_mode
        file = engine.open(
            as_location(fullpathname),
            mode,
            swmr=swmr_mode,
            journaled=journaled,
            **kwargs,
        )
        self._h5file = file
        if mode in ("w", "w-", "x"):
            for key, value in root_attrs(title, swmr_mode).items():
                with h5_errors(file, f"set attribute {key!r}"):
                    file.attrs[key] = value
        return file

    def close_file(self) -> None:
        """Flush and close the file (no-op when none is open). A file whose flush fails is
        let go of without closing (:meth:`let_go_of_file`) and the failure raised."""
        file = self._h5file
        self._swmr_enabled = False
        self._h5file = None
        if file is not None and is_open(file):
            self._engine.close(file)

    def let_go_of_file(self) -> None:
        """Stop using the file without closing it, after its writes failed: it is left as a
        killed writer's file is, for ``recover``."""
        file = self._h5file
        self._swmr_enabled = False
        self._h5file = None
        if file is not None and is_open(file):
            self._engine.let_go(file)

    def flush(self) -> None:
        """Flush the file's buffers to the operating system."""
        if self._h5file is not None and is_open(self._h5file) and self._h5file.mode != "r":
            self._engine.flush(self._h5file)

    def _publish(self) -> None:
        """Send what the library holds of the file to where other writers see it (an HSDS
        domain's service), without a flush to storage; nothing to do for a local file."""
        if self._h5file is not None and is_open(self._h5file) and self._h5file.mode != "r":
            self._engine.publish(self._h5file)

    def save_file_as(self, filenamepath: Path | str = "h5copy.txt") -> None:
        """Write a copy of the file, as it is once flushed, to ``filenamepath`` (a local file:
        a domain is copied by ``aioh5saver export``)."""
        if not self._engine.capabilities.file_size:
            raise UnsupportedBackendError(
                f"save_file: expected a local file to copy, got the {self._engine.name} "
                f"location {self.file_path}; copy it with 'aioh5saver export'"
            )
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

    # -- SWMR ---------------------------------------------------------------------------------

    def enable_swmr(self) -> None:
        """Start SWMR writing (idempotent). Structure must be created before: HDF5 forbids
        new groups, datasets and attributes while SWMR is on. A no-op on an engine without
        SWMR (HSDS: readers see a domain while it is written)."""
        if self._swmr_enabled or not self._engine.capabilities.swmr:
            return
        if not self._swmr_mode:
            raise SwmrModeError(
                "enable_swmr: expected a file opened with swmr_mode=True, got one opened without"
            )
        file = self._writable_file("start SWMR")
        if not file.swmr_mode:
            self._engine.start_swmr(file)
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
        """True if the backend's engine can write with SWMR (the h5py one can)."""
        return self._engine.capabilities.swmr

    def reopen(self, *, moved_ok: bool = False) -> None:
        """Close the file and open it again for appending, keeping its SWMR capability (the
        1.10 file format). HDF5's file lock is not taken, so that this succeeds while SWMR
        readers still hold the file open.

        The file opened again is the one that was open, never another: if its path no longer
        names it (renamed, replaced, deleted), :class:`FileChangedError` is raised before
        anything is closed, or, with ``moved_ok``, the file is opened again where it is now,
        through a descriptor kept open meanwhile (``/proc/self/fd``, Linux).

        A SWMR-capable file is opened again through a rollback journal (:mod:`.engine.journal`): a
        kill before SWMR starts again is undone by ``recover``."""
        journaled = self._swmr_mode and self._engine.capabilities.journal
        if self.file_path is None:
            raise ClosedFileError("reopen: expected a file to reopen, got none")
        file_path = as_location(self.file_path)
        file = self._h5file
        if file is None or not is_open(file):
            self.close_file()
            self._open_file(
                file_path, "a", DEFAULT_TITLE, self._swmr_mode, journaled, locking=False
            )
            return
        identity = self._engine.identity(file)
        try:
            with self._engine.held(file, file_path, moved_ok) as target:
                self.close_file()
                self._open_file(
                    target, "a", DEFAULT_TITLE, self._swmr_mode, journaled, locking=False
                )
        finally:
            self.file_path = file_path
        reopened = self._h5file
        assert reopened is not None
        if self._engine.identity(reopened) != identity:
            # Replaced between the check and the open: let go of that file at once.
            self._h5file = None
            self._engine.forget(reopened)
            raise FileChangedError(
                errno.ESTALE,
                f"reopen: expected the file that was opened at {file_path} (device "
                f"{identity[0]}, inode {identity[1]}), got another file put there meanwhile",
            )
