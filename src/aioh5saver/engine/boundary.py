"""The boundary with h5py: its errors translated into :class:`SaverError` subclasses, and the
checks made before a call that would write a read-only file or read more than memory holds."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import h5py

from aioh5saver.engine.objects import is_open
from aioh5saver.errors import (
    ArrayTooLargeError,
    ClosedFileError,
    CorruptFileError,
    ReadOnlyError,
    SaverError,
)

__all__ = ["check_fits_in_memory", "h5_errors", "require_writable"]


@contextmanager
def h5_errors(obj: Any, action: str, reading: bool = False) -> Iterator[None]:
    """Translate the h5py errors of ``action`` on ``obj`` into :class:`SaverError` subclasses.

    A failure on an object whose file has been closed becomes :class:`ClosedFileError`; a write
    refused for lack of write intent becomes :class:`ReadOnlyError`; an I/O error while
    ``reading`` means the file is damaged: :class:`CorruptFileError`. Other errors pass
    unchanged.
    """
    try:
        yield
    except (ValueError, KeyError, OSError, RuntimeError, TypeError) as exc:
        if isinstance(exc, SaverError):
            raise
        if getattr(obj, "id", None) is not None and not is_open(obj):
            raise ClosedFileError(
                f"cannot {action}: expected an open file, got a closed one"
            ) from exc
        if "no write intent" in str(exc):
            raise ReadOnlyError(
                f"cannot {action}: expected a file opened for writing, got one opened read-only"
            ) from exc
        if reading and isinstance(exc, OSError | RuntimeError):
            raise CorruptFileError(
                f"cannot {action} at {_location(obj)}: expected readable HDF5 structures, got "
                f"a damaged file ({exc})"
            ) from exc
        raise


def _location(obj: Any) -> str:
    """``file:path`` of an h5py object, for messages; as much of it as can still be read."""
    try:
        return f"{obj.file.filename}:{obj.name}"
    except Exception:
        return repr(obj)


def require_writable(obj: Any, action: str) -> None:
    with h5_errors(obj, action):
        mode = obj.file.mode
    if mode == "r":
        raise ReadOnlyError(
            f"cannot {action} on {obj.name}: expected a file opened for writing "
            "(mode 'a' or 'w'), got one opened read-only (mode 'r')"
        )


def check_fits_in_memory(dataset: h5py.Dataset, action: str) -> None:
    """Raise :class:`ArrayTooLargeError` if ``dataset`` is larger than this machine's memory."""
    with h5_errors(dataset, action, reading=True):
        size = math.prod(dataset.shape or ()) * dataset.dtype.itemsize
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if size > memory:
        raise ArrayTooLargeError(
            f"{action}: expected an array that fits in memory ({memory / 2**30:.1f} GiB here), "
            f"got one of shape {dataset.shape} ({size / 2**30:.3g} GiB); read it in slices"
        )
