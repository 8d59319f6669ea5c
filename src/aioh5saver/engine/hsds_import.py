"""A local HDF5 file (written by aioh5saver or pymodaq_data) copied to a new HSDS domain in the
layout the HSDS engine writes, so that the savers, ``inspect`` and ``export`` read it as a
domain they wrote: the same tree, attributes, data, Logger rows and hard links.

h5pyd 1.0.0's own ``hsload`` fails on a PyMoDAQ file: it stops at the Logger (rows of one
length are reshaped, a ValueError), having left out the root's attributes and written arrays
as zeros. So the file is walked here with h5py and written with h5pyd: fixed arrays in blocks,
enlargeable ones created empty and extended (as the engine's appends do), variable-length rows
through the service's own append.
"""

from __future__ import annotations

import errno
import math
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from aioh5saver.engine.hsds_append import append_rows_on_service
from aioh5saver.engine.hsds_copy import ExportSummary
from aioh5saver.engine.hsds_engine import HsdsEngine, HsdsLocation
from aioh5saver.engine.objects import send_pending
from aioh5saver.errors import ExistingFileError, MissingFileError

__all__ = ["import_file"]

# Rows are copied in blocks of about this many bytes: a large array never sits whole in memory,
# and one request stays well below what the service takes.
_BLOCK_BYTES = 8 << 20
# Variable-length rows sent per request of the service's append.
_VLEN_ROWS = 1024


def import_file(
    source: Path, location: str, *, overwrite: bool = False, engine: HsdsEngine | None = None
) -> ExportSummary:
    """Copy the local HDF5 file ``source`` to a new domain at ``location`` (``hsds://...``);
    :class:`ExistingFileError` if the domain exists, unless ``overwrite`` (then it is
    replaced). The domain is flushed on the service (durable) before this returns. Soft and
    external links are not copied (PyMoDAQ writes none)."""
    HsdsLocation.parse(location)
    if not source.is_file():
        raise MissingFileError(
            errno.ENOENT, f"source: expected an existing HDF5 file, got {source}, which is not one"
        )
    engine = engine or HsdsEngine()
    if not overwrite and engine.file_exists(location):
        raise ExistingFileError(
            errno.EEXIST,
            f"target: expected a location where no domain exists yet, got {location}, which "
            "exists (pass overwrite=True to replace it)",
        )
    summary = ExportSummary()
    with h5py.File(source, "r", locking=False) as local:
        target = engine.open(location, "w" if overwrite else "w-", swmr=False)
        try:
            _copy_attrs(local, target)
            _copy_group(local, target, {local.id: "/"}, summary)
            engine.flush(target)
        except BaseException:
            engine.let_go(target)
            raise
        engine.close(target)
    return summary


def _copy_attrs(source: Any, target: Any) -> None:
    for name in source.attrs:
        target.attrs[name] = source.attrs[name]


def _copy_group(source: h5py.Group, target: Any, copied: dict[Any, str], summary: Any) -> None:
    """Copy ``source``'s children into ``target``; an object met again is hard-linked."""
    for name in source:
        if source.get(name, getlink=True).__class__ is not h5py.HardLink:
            continue  # soft and external links: PyMoDAQ writes none, and none is followed
        child = source[name]
        if child.id in copied:
            target[name] = target[copied[child.id]]
            summary.links += 1
            continue
        if isinstance(child, h5py.Group):
            group = target.create_group(name)
            copied[child.id] = group.name
            _copy_attrs(child, group)
            summary.groups += 1
            _copy_group(child, group, copied, summary)
        elif isinstance(child, h5py.Dataset):
            dataset = _copy_dataset(child, target, name, summary)
            copied[child.id] = dataset.name
            _copy_attrs(child, dataset)
        send_pending(target, f"import {child.name}")


def _copy_dataset(source: h5py.Dataset, target: Any, name: str, summary: Any) -> Any:
    shape = tuple(source.shape)
    maxshape = tuple(source.maxshape or shape)
    base = h5py.check_vlen_dtype(source.dtype)
    enlargeable = maxshape != shape or (base is not None and maxshape[:1] == (None,))
    options: dict[str, Any] = {}
    if enlargeable:
        options = {"maxshape": maxshape, "chunks": source.chunks or True}
    start_shape = (0, *shape[1:]) if enlargeable and shape else shape
    dataset = target.create_dataset(name, shape=start_shape, dtype=source.dtype, **options)
    summary.arrays += 1
    if not shape:
        dataset[()] = source[()]
        return dataset
    if math.prod(shape) == 0:
        return dataset
    if base is not None:
        _copy_vlen_rows(source, dataset, base, enlargeable, summary)
        return dataset
    row_bytes = max(1, math.prod(shape[1:]) * max(source.dtype.itemsize, 1))
    step = max(1, _BLOCK_BYTES // row_bytes)
    for start in range(0, shape[0], step):
        stop = min(shape[0], start + step)
        block = source[start:stop]
        if enlargeable:
            dataset.resize((stop, *shape[1:]))
        dataset[start:stop] = block
        send_pending(dataset, f"import {source.name}")
        summary.bytes += block.nbytes
    return dataset


def _copy_vlen_rows(
    source: h5py.Dataset, dataset: Any, base: np.dtype, enlargeable: bool, summary: Any
) -> None:
    """Variable-length rows: appended by the service when the array is enlargeable, else
    written row by row (h5pyd reshapes rows of one length into a 2-D block)."""
    total = int(source.shape[0])
    for start in range(0, total, _VLEN_ROWS):
        rows = [
            np.asarray(row, dtype=base).reshape(-1)
            for row in source[start : min(total, start + _VLEN_ROWS)]
        ]
        if enlargeable:
            append_rows_on_service(dataset, rows)
        else:
            for index, row in enumerate(rows, start):
                dataset[index] = row
            send_pending(dataset, f"import {source.name}")
        summary.bytes += sum(row.nbytes for row in rows)
