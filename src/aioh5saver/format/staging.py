"""The encoding of strings written while SWMR is on: fixed-width rows in a staging array beside
each string array, and the rule that decodes them, for the writer, ``recover`` and the readers.

HDF5 readers fail while a SWMR writer appends variable-length data, and PyMoDAQ stores strings
and log lines as variable-length rows. So while SWMR is on, each string array ``X`` has a
staging array ``X`` + :data:`STAGING_SUFFIX` beside it, of fixed-width rows (``size``, ``more``,
``text``): a string is cut into pieces of at most :data:`PIECE_BYTES` UTF-8 bytes, ``more`` set
on every piece but the last.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = [
    "FOLD_BASE_ATTR",
    "PIECE_BYTES",
    "STAGING_DTYPE",
    "STAGING_SUFFIX",
    "is_staging",
    "is_staging_dtype",
    "staged_rows",
    "staged_texts",
]

STAGING_SUFFIX = "__swmr_staging"
PIECE_BYTES = 254
STAGING_DTYPE = np.dtype([("size", "u1"), ("more", "u1"), ("text", f"S{PIECE_BYTES}")])
#: Set on a staging array as its fold begins: the row of the string array its first string goes
#: to, so that a fold interrupted after appending is not appended twice.
FOLD_BASE_ATTR = "fold_base"


def is_staging(path: str) -> bool:
    """True if ``path`` names a SWMR staging array (``<name>__swmr_staging``)."""
    return path.endswith(STAGING_SUFFIX)


def is_staging_dtype(dtype: Any) -> bool:
    """True if ``dtype`` has the fields of a SWMR staging array (``size``, ``more``, ``text``)."""
    names = getattr(dtype, "names", None)
    return names is not None and {"size", "more", "text"} <= set(names)


def staged_rows(text: str) -> np.ndarray:
    """The staging rows of one string: its UTF-8 bytes (lone surrogates kept) in pieces."""
    payload = text.encode("utf-8", "surrogatepass")
    count = max(1, -(-len(payload) // PIECE_BYTES))
    rows = np.zeros(count, dtype=STAGING_DTYPE)
    for index in range(count):
        piece = payload[index * PIECE_BYTES : (index + 1) * PIECE_BYTES]
        rows[index] = (len(piece), index < count - 1, piece)
    return rows


def staged_texts(
    rows: Iterable[tuple[int, int, bytes]],
    *,
    width: int = PIECE_BYTES,
    undecodable: str = "replace",
    begins_mid_string: bool = False,
) -> list[str]:
    """The complete strings of staging ``rows`` (``(size, more, text)`` tuples), in order.

    A last string whose pieces are incomplete (its writer died while writing it) is left out;
    with ``begins_mid_string``, so are the pieces before the first string's start. A piece's
    size never exceeds the field's ``width`` (a crafted one is cut to it). Bytes that are not
    what :func:`staged_rows` encodes (a crafted file) are decoded with the ``undecodable``
    error handler of :meth:`bytes.decode`.
    """
    texts: list[str] = []
    pieces: list[bytes] = []
    started = not begins_mid_string
    for size, more, text in rows:
        if not started:
            started = not more
            continue
        length = max(0, min(int(size), width))
        pieces.append(bytes(text).ljust(length, b"\0")[:length])
        if not more:
            payload = b"".join(pieces)
            try:
                texts.append(payload.decode("utf-8", "surrogatepass"))
            except UnicodeDecodeError:
                texts.append(payload.decode("utf-8", undecodable))
            pieces = []
    return texts
