"""Strings written while SWMR is on: staged in fixed-width rows, folded in when SWMR ends.

HDF5 readers fail while a SWMR writer appends variable-length data (185 of 200 reads failed in
a test here), and PyMoDAQ stores strings and log lines as variable-length rows. So while SWMR is
on, each string array ``X`` has a staging array ``X`` + :data:`STAGING_SUFFIX` beside it, of
fixed-width rows (``size``, ``more``, ``text``): a string is cut into pieces of at most
:data:`PIECE_BYTES` UTF-8 bytes, ``more`` set on every piece but the last. When SWMR ends the
staged strings are appended to ``X`` in order and the staging array is deleted, so the file is
PyMoDAQ's again. A file left by a killed writer still holds its staging arrays:
:func:`fold_staged_strings` is what recovery runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import h5py
import numpy as np

from aioh5saver.sync.nodes import StringARRAY, check_stored_in_file, h5_errors

__all__ = [
    "FOLD_BASE_ATTR",
    "PIECE_BYTES",
    "STAGING_DTYPE",
    "STAGING_SUFFIX",
    "append_staged",
    "create_staging",
    "fold_staged_strings",
    "read_staged",
]

STAGING_SUFFIX = "__swmr_staging"
PIECE_BYTES = 254
STAGING_DTYPE = np.dtype([("size", "u1"), ("more", "u1"), ("text", f"S{PIECE_BYTES}")])
_CHUNK_ROWS = 256
#: Set on a staging array as its fold begins: the row of the string array its first string goes
#: to, so that a fold interrupted after appending is not appended twice.
FOLD_BASE_ATTR = "fold_base"


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
        staging.attrs["CLASS"] = "EARRAY"
        staging.attrs["TITLE"] = f"strings of {target.path} written under SWMR"
        staging.attrs["EXTDIM"] = 0
        staging.attrs["staging_for"] = target.path
    return staging


def _pieces(text: str) -> np.ndarray:
    payload = text.encode("utf-8", "surrogatepass")
    count = max(1, -(-len(payload) // PIECE_BYTES))
    rows = np.zeros(count, dtype=STAGING_DTYPE)
    for index in range(count):
        piece = payload[index * PIECE_BYTES : (index + 1) * PIECE_BYTES]
        rows[index] = (len(piece), index < count - 1, piece)
    return rows


def append_staged(staging: h5py.Dataset, texts: list[str]) -> None:
    """Append ``texts`` to a staging array, in order, with one resize and one write."""
    rows = np.concatenate([_pieces(text) for text in texts])
    with h5_errors(staging, f"stage strings in {staging.name}"):
        start = staging.shape[0]
        staging.resize(start + rows.shape[0], axis=0)
        staging[start:] = rows


def read_staged(staging: Any) -> list[str]:
    """The strings a staging array holds; a last string whose pieces are incomplete (the writer
    died while writing it) is left out."""
    with h5_errors(staging, f"read {staging.name}"):
        rows = staging[()]
    texts: list[str] = []
    pieces: list[bytes] = []
    for size, more, text in rows.tolist():
        # A crafted size cannot make a piece longer than its field.
        pieces.append(bytes(text).ljust(min(size, PIECE_BYTES), b"\0")[:size])
        if not more:
            texts.append(_decode(b"".join(pieces)))
            pieces = []
    return texts


def _decode(payload: bytes) -> str:
    """The text of staged bytes: what :func:`_pieces` encoded (lone surrogates included), or,
    for bytes no writer of ours wrote, the UTF-8 text with each undecodable byte replaced."""
    try:
        return payload.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return payload.decode("utf-8", "replace")


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
