"""A copy of an HSDS domain as a local HDF5 file that PyMoDAQ reads as it reads a local
aioh5saver file: the same tree, attributes (values and HDF5 types), data and hard links.

h5pyd 1.0.0's own ``hsget`` leaves out the root's attributes and the rows of variable-length
arrays (the ``Logger``): so the domain is walked here, and written with h5py in the layout the
local saver writes (fixed arrays contiguous, enlargeable ones chunked, HDF5 1.10 at most).
"""

from __future__ import annotations

import errno
import math
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from aioh5saver.engine.h5py_engine import LIBVER_PLAIN
from aioh5saver.engine.hsds_engine import HsdsEngine, HsdsLocation
from aioh5saver.engine.objects import child_names, identity_key, is_group
from aioh5saver.errors import ExistingFileError

__all__ = ["ExportSummary", "export_domain"]

# Rows are copied in blocks of about this many bytes: a large array never sits whole in memory.
_BLOCK_BYTES = 32 << 20


class ExportSummary:
    """What an export copied."""

    __slots__ = ("arrays", "bytes", "groups", "links")

    def __init__(self) -> None:
        self.groups = 0
        self.arrays = 0
        self.links = 0
        self.bytes = 0


def export_domain(
    location: str, target: Path, *, overwrite: bool = False, engine: HsdsEngine | None = None
) -> ExportSummary:
    """Copy the domain at ``location`` (``hsds://...``) to the local file ``target``
    (:class:`ExistingFileError` if it exists, unless ``overwrite``)."""
    HsdsLocation.parse(location)
    if target.exists() and not overwrite:
        raise ExistingFileError(
            errno.EEXIST,
            f"target: expected a path where no file exists yet, got {target}, which exists "
            "(pass overwrite=True to replace it)",
        )
    engine = engine or HsdsEngine()
    source = engine.open(location, "r", swmr=False)
    summary = ExportSummary()
    try:
        with h5py.File(target, "w", libver=LIBVER_PLAIN) as out:
            _copy_attrs(source, out)
            _copy_group(source, out, {identity_key(source): "/"}, summary)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    finally:
        engine.close(source)
    return summary


def _copy_attrs(source: Any, target: Any) -> None:
    for name in source.attrs:
        target.attrs[name] = source.attrs[name]


def _copy_group(source: Any, target: h5py.Group, copied: dict[Any, str], summary: Any) -> None:
    """Copy ``source``'s children into ``target``; an object met again is hard-linked."""
    for raw in child_names(source):
        name = raw.decode("utf-8", "surrogateescape")
        link = source.get(name, getlink=True)
        if type(link).__name__ != "HardLink":
            continue  # soft and external links: PyMoDAQ writes none, and none is followed
        child = source[name]
        key = identity_key(child)
        if key in copied:
            target[name] = target.file[copied[key]]
            summary.links += 1
            continue
        if is_group(child):
            group = target.create_group(name)
            copied[key] = group.name
            _copy_attrs(child, group)
            summary.groups += 1
            _copy_group(child, group, copied, summary)
        else:
            dataset = _copy_dataset(child, target, name, summary)
            copied[key] = dataset.name
            _copy_attrs(child, dataset)


def _copy_dataset(source: Any, target: h5py.Group, name: str, summary: Any) -> h5py.Dataset:
    shape = tuple(source.shape)
    maxshape = tuple(source.maxshape)
    options: dict[str, Any] = {}
    if maxshape != shape:  # enlargeable: chunked as the local saver writes it
        options = {"maxshape": maxshape, "chunks": tuple(source.chunks) if source.chunks else True}
    dataset = target.create_dataset(name, shape=shape, dtype=source.dtype, **options)
    summary.arrays += 1
    if not shape or math.prod(shape) == 0:
        if not shape:
            dataset[()] = source[()]
        return dataset
    base = h5py.check_vlen_dtype(source.dtype)
    row_bytes = max(1, math.prod(shape[1:]) * max(source.dtype.itemsize, 1))
    step = max(1, _BLOCK_BYTES // (row_bytes if base is None else 4096))
    for start in range(0, shape[0], step):
        stop = min(shape[0], start + step)
        block = source[start:stop]
        if base is None:
            dataset[start:stop] = block
            summary.bytes += block.nbytes
            continue
        # Row by row: h5pyd reads rows of equal length as one 2-D array, and h5py cannot
        # slice-write equal-length variable-length rows.
        for index, row in enumerate(block, start):
            row = np.asarray(row, dtype=base).reshape(-1)
            dataset[index] = row
            summary.bytes += row.nbytes
    return dataset
