"""Every exception aioh5saver raises.

Each one derives from :class:`SaverError` and, where there is one, from the builtin a caller
would naturally catch (``ValueError``, ``TypeError``, ``KeyError``, ``OSError``,
``RuntimeError``), so that code written against plain h5py or pymodaq_data keeps working.
Messages say what was expected and what was given; :func:`describe` formats the "given" part
the same way everywhere.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AppenderConflictError",
    "ArrayTooLargeError",
    "ClosedFileError",
    "CorruptFileError",
    "CorruptJournalError",
    "ExistingFileError",
    "ExternalDataError",
    "FileChangedError",
    "FileInUseError",
    "ForeignEventLoopError",
    "InvalidArgumentError",
    "InvalidEnumError",
    "InvalidNameError",
    "MissingFileError",
    "NodeKindError",
    "NodeNotFoundError",
    "ReadOnlyError",
    "SaverClosedError",
    "SaverError",
    "ServiceError",
    "ShapeMismatchError",
    "SharedNodeConflictError",
    "SwmrModeError",
    "UncastableDTypeError",
    "UnfinishedWriteError",
    "UnsafeContentError",
    "UnsupportedBackendError",
    "WriterBrokenError",
    "describe",
]

_MAX_DESCRIBED = 80


def describe(value: Any) -> str:
    """A short, safe description of a given value for an error message: its type and repr."""
    text = repr(value)
    if len(text) > _MAX_DESCRIBED:
        text = text[: _MAX_DESCRIBED - 3] + "..."
    return f"{type(value).__name__} {text}"


class SaverError(Exception):
    """Base class of every error raised by aioh5saver."""


class InvalidArgumentError(SaverError, ValueError):
    """An argument has a value the operation cannot use (a missing shape, a bad fill value...)."""


class SwmrModeError(InvalidArgumentError, RuntimeError):
    """SWMR was asked of a file not opened for it (``enable_swmr()`` without ``swmr_mode=True``).

    An :class:`InvalidArgumentError` (a ValueError) like every other wrong argument, and a
    RuntimeError as well, which is what pymodaq_data raises there and its callers catch."""


class InvalidNameError(SaverError, ValueError):
    """A node name is not a single HDF5 path component (empty, or containing ``/`` or ``.``)."""


class InvalidEnumError(SaverError, ValueError):
    """A string or value names no member of the expected enum (DataType, DataDim, GroupType...)."""


class UnsupportedBackendError(SaverError, ValueError):
    """A backend other than h5py was asked for."""


class NodeNotFoundError(SaverError, KeyError):
    """No node exists at the given path."""

    def __str__(self) -> str:
        # KeyError.__str__ would show the message quoted like a dict key.
        return str(self.args[0]) if self.args else ""


class NodeKindError(SaverError, TypeError):
    """A node exists but is not of the kind the operation needs (a group where an array is needed,
    a fixed CARRAY where an enlargeable EARRAY is needed...)."""


class ShapeMismatchError(SaverError, ValueError):
    """Data appended to or written into an array does not have the array's row shape."""


class UncastableDTypeError(SaverError, TypeError):
    """Data cannot be converted to the array's dtype without losing its meaning."""


class ReadOnlyError(SaverError, ValueError, PermissionError):
    """A write was attempted through a saver or node opened read-only (``mode='r'``)."""


class ClosedFileError(SaverError, ValueError):
    """An operation needs an open file, but the saver's file is closed (or was never opened)."""


class SaverClosedError(ClosedFileError):
    """The async saver was closed: it accepts no more operations."""


class ForeignEventLoopError(SaverError, RuntimeError):
    """An async saver was called from a thread or an event loop other than the one that opened
    it: its writer task, queue and events belong to that loop. From another thread, call it
    through ``anyio.from_thread.run``, passing ``token=`` a token that
    ``anyio.lowlevel.current_token()`` gave on the saver's loop unless anyio started the
    thread (a plain ``threading.Thread``, a vendor SDK's callback thread)."""


class ArrayTooLargeError(SaverError, MemoryError):
    """An array is larger than this machine's memory, so it cannot be read whole (its shape may
    be a lie of a hostile file); read it in slices."""


class UnsafeContentError(SaverError, ValueError):
    """Content read from a file is not in a form aioh5saver decodes safely (a pickle that is not a
    plain ``str``, an attribute nested too deep...); it was refused, never executed."""


class ExternalDataError(SaverError, PermissionError):
    """An array's data are not stored in its file: it has external raw storage (HDF5's
    ``H5Pset_external``) or is a virtual dataset (its data come from source datasets, maybe in
    other files). Reading it would open those files, and safe reading never opens a file other
    than the one given, so the read is refused; the message names the array and the files.

    A ``PermissionError`` (an ``OSError``): the file and the call are valid, the read is refused
    by policy, as the system refuses a read without permission; code that handles a file it
    cannot read (``OSError``) handles this too."""


class MissingFileError(SaverError, FileNotFoundError):
    """The file to open read-only does not exist."""


class ExistingFileError(SaverError, FileExistsError):
    """A file asked to be created exists already: ``AsyncH5Saver.open(path)`` creates a new
    file and never replaces one unless told to (``new_file=True`` replaces it,
    ``new_file=False`` continues it)."""


class CorruptFileError(SaverError, OSError):
    """The file cannot be read as HDF5: truncated, damaged, or not HDF5 at all."""


class CorruptJournalError(CorruptFileError):
    """A file's rollback journal (``<file>.aioh5-journal``) is not one aioh5saver wrote, or
    points outside the file: it is not applied, and the file is left as it is."""


class UnfinishedWriteError(SaverError, OSError):
    """The file has a rollback journal: a writer was killed in the middle of writing it
    outside SWMR, and only ``aioh5saver recover`` (which applies the journal) makes it whole."""


class WriterBrokenError(SaverError, OSError):
    """The file failed underneath the writer (I/O error, disk full); every pending and later
    operation raises this, with the original failure chained as ``__cause__``."""


class FileInUseError(SaverError, OSError):
    """Another process has the file in a way that forbids the operation: it writes it without
    SWMR (so it cannot be read meanwhile), or writes it at all (so it must not be recovered)."""


class FileChangedError(SaverError, OSError):
    """Another program changed the open file underneath the writer: the path no longer names
    the file that was opened (renamed, replaced, deleted), or the file lost bytes already
    written (truncated). The writer never writes to another file than the one it opened."""


class ServiceError(SaverError, OSError):
    """The storage service (HSDS) did not do what was asked: it could not be reached, a
    request timed out or failed after its retries, or it refused a write or a flush. The
    original failure is chained as ``__cause__``; credentials are never part of the message."""


class AppenderConflictError(SaverError, ValueError, PermissionError):
    """An enlargeable array that several writers reach (an HSDS domain written from several
    hosts) has another appender already: two appenders to one array would overwrite each
    other's rows, so the second is refused (that append fails alone; the writer goes on)."""


class SharedNodeConflictError(ServiceError):
    """Another writer of a shared domain (HSDS, several hosts) created the same node, link or
    attribute first (HTTP 409): what this writer created meanwhile was refused. Hosts create
    their own, differently named groups; the file's skeleton (raw group, Logger) is
    get-or-create at open."""
