"""Copying rows between numpy arrays as plain bytes wherever both are laid out alike."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

__all__ = ["bytes_alike", "copies_as_bytes", "copy_rows"]


@functools.cache
def copies_as_bytes(dtype: np.dtype[Any]) -> bool:
    """True if arrays of ``dtype`` give a memoryview that casts to bytes (numbers, bools and
    fixed-width bytes do; a dtype numpy has no buffer format for does not)."""
    try:
        np.zeros(1, dtype).data.cast("B")
    except (TypeError, ValueError):
        return False
    return True


def bytes_alike(target: np.ndarray, source: np.ndarray) -> bool:
    """True if ``source`` can be copied into ``target`` as plain bytes: same dtype, both
    C-contiguous, and a dtype whose memoryview casts to bytes."""
    return (
        target.dtype == source.dtype
        and target.flags.c_contiguous
        and source.flags.c_contiguous
        and copies_as_bytes(source.dtype)
    )


def copy_rows(target: np.ndarray, source: np.ndarray) -> None:
    """``target[...] = source``, as bytes where both are laid out alike. A byte copy holds the
    GIL; numpy lets it go while it copies more than a few hundred elements, and the copying
    thread then waits for the other thread to give it back (up to a switch interval)."""
    if bytes_alike(target, source):
        target.data.cast("B")[:] = source.data.cast("B")
    else:
        target[...] = source
