"""Staging arrays in a file: created beside string arrays while SWMR is on, appended to, read,
and folded into their string arrays when SWMR ends (the encoding is :mod:`.format.staging`'s).
When SWMR ends the staged strings are appended to each string array in order and the staging
array is deleted, so the file is PyMoDAQ's again. A file left by a killed writer still holds
its staging arrays: :func:`fold_staged_strings` is what recovery runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import h5py
import numpy as np

from aioh5saver.engine.boundary import h5_errors
from aioh5saver.engine.external import check_stored_in_file
from aioh5saver.format.staging import (
    FOLD_BASE_ATTR,
    STAGING_DTYPE,
    STAGING_SUFFIX,
    staged_rows,
    staged_texts,
)
from aioh5saver.sync.nodes import StringARRAY, mark_node

__all__ = [
    "append_staged",
    "create_staging",
    "fold_staged_strings",
    "read_staged",
]

_CHUNK_ROWS = 256


def create_staging(target: StringARRAY) -> h5py.Dataset:
    """The staging array of ``target``, created if absent (SWMR must be off)."""
    dataset = target.node
    parent = dataset.parent
    name = target.name + STAGING_SUFFIX
    with h5_errors(parent, f"create the staging array of {target.path}"):
        if name in parent:
            staging: h5py.Dataset = parent[name]
            return staging
        staging = parent.create_dataset(
            name, shape=(0,), maxshape=(None,), dtype=STAGING_DTYPE, chunks=(_CHUNK_ROWS,)
        )
        mark_node(staging, "EARRAY", f"strings of {target.path} written under SWMR")
        staging.attrs["staging_for"] = target.path
    return staging


def append_staged(staging: h5py.Dataset, texts: list[str]) -> None:
    """Append ``texts`` to a staging array, in order, with one resize and one write."""
    rows = np.concatenate([staged_rows(text) for text in texts])
    with h5_errors(staging, f"stage strings in {staging.name}"):
        start = staging.shape[0]
        staging.resize(start + rows.shape[0], axis=0)
        staging[start:] = rows


def read_staged(staging: Any) -> list[str]:
    """The strings a staging array holds; a last string whose pieces are incomplete (the writer
    died while writing it) is left out."""
    with h5_errors(staging, f"read {staging.name}"):
        rows = staging[()]
    return staged_texts(rows.tolist())


def fold_staged_strings(
    root: h5py.Group, flush: Callable[[], None] | None = None
) -> dict[str, int]:
    """Append every staged string to its string array and delete the staging arrays (SWMR must
    be off). Returns how many strings were folded into each array, by path.

    A staging array is deleted only once its strings are in the file for good: after they are
    appended, ``flush`` (if given) writes them out, and only then are the staging arrays
    deleted. Before appending, the staging array records the row its strings start at
    (:data:`FOLD_BASE_ATTR`), so a fold interrupted after the append (a failed flush, a killed
    process) is finished later without appending any string twice."""
    staged: list[tuple[h5py.Group, str, str]] = []

    def collect(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset) and name.endswith(STAGING_SUFFIX):
            staged.append((obj.parent, obj.name.rsplit("/", 1)[-1], obj.name))

    with h5_errors(root, "find staged strings"):
        root.visititems(collect)
    folded: dict[str, int] = {}
    done: list[tuple[h5py.Group, str]] = []
    for parent, name, path in staged:
        target_name = name[: -len(STAGING_SUFFIX)]
        with h5_errors(parent, f"fold {path}"):
            staging = parent[name]
        check_stored_in_file(staging, f"fold {path}")
        with h5_errors(parent, f"fold {path}"):
            texts = read_staged(staging)
            if target_name not in parent:
                continue  # keep the staged strings rather than lose them
            target = StringARRAY(parent[target_name])
            rows = int(target.node.shape[0])
            base = staging.attrs.get(FOLD_BASE_ATTR)
            if base is None:
                base = rows
                staging.attrs[FOLD_BASE_ATTR] = rows
            already = min(max(rows - int(base), 0), len(texts))
            if already < len(texts):
                target.extend(texts[already:])
            folded[target.path] = len(texts) - already
            done.append((parent, name))
    if done and flush is not None:
        flush()
    for parent, name in done:
        with h5_errors(parent, f"delete {parent.name}/{name}"):
            del parent[name]
    return folded
