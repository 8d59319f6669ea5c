"""The child-side reading of a file's log: where its Logger is, how many lines it holds (the
SWMR staged ones included) and its last lines, read without unpickling.

Runs in the reading child only (:mod:`.child`).
"""

from __future__ import annotations

import contextlib
from typing import Any

import h5py
import numpy as np

from aioh5saver.engine.external import describe_outside, stored_outside
from aioh5saver.errors import UnsafeContentError
from aioh5saver.format.pickled_str import decode_pickled_str
from aioh5saver.format.staging import STAGING_SUFFIX, is_staging_dtype, staged_texts
from aioh5saver.tools.limits import MAX_LINE, MAX_STAGED_ROWS
from aioh5saver.tools.walk import hard_get

__all__ = ["count_staged", "find_logger", "read_log"]


def find_logger(file: Any) -> str | None:
    """The path of the file's Logger: ``/RawData/Logger``, else a ``Logger`` directly in a
    group under the root; only hard links are followed to find it."""
    candidates = ["/RawData/Logger"]
    with contextlib.suppress(Exception):  # an unlistable root: only the usual place is tried
        for raw in file.id:
            if len(candidates) > 64:
                break
            name = raw.decode("utf-8", "surrogateescape")
            if name != "RawData":
                candidates.append(f"/{name}/Logger")
    for candidate in candidates:
        obj = None
        with contextlib.suppress(Exception):  # a damaged or missing candidate is no logger
            obj = hard_get(file, candidate)
        if isinstance(obj, h5py.Dataset) and h5py.check_vlen_dtype(obj.dtype) is not None:
            return candidate
    return None


def count_staged(dataset: Any) -> int:
    """How many complete strings a SWMR staging array holds (pieces with ``more`` unset end a
    string), read in blocks. A staging array of more than :data:`~.limits.MAX_STAGED_ROWS` rows (a
    crafted one: counting it would take hours) raises :class:`UnsafeContentError`."""
    if dataset.ndim != 1:
        raise UnsafeContentError(
            f"expected a SWMR staging array of one dimension, got {dataset.name} of shape "
            f"{dataset.shape}"
        )
    total = int(dataset.shape[0])
    if total > MAX_STAGED_ROWS:
        raise UnsafeContentError(
            f"expected a SWMR staging array of at most {MAX_STAGED_ROWS} rows, got "
            f"{dataset.name} of {total} rows: not counted"
        )
    count = 0
    for start in range(0, total, 1 << 16):
        more = dataset.fields("more")[start : min(total, start + (1 << 16))]
        count += int(np.count_nonzero(np.asarray(more) == 0))
    return count


def _staged_tail(dataset: Any, count: int) -> list[str]:
    """The last ``count`` complete strings of a staging array, each cut to
    :data:`~.limits.MAX_LINE`, reading at most 64 Ki rows from its end."""
    total = int(dataset.shape[0])
    width = int(dataset.dtype["text"].itemsize)
    window = 4 * count + 16
    while True:
        start = max(0, total - window)
        texts = [
            text[:MAX_LINE]
            for text in staged_texts(
                dataset[start:total].tolist(),
                width=width,
                undecodable="backslashreplace",
                begins_mid_string=start != 0,
            )
        ]
        if len(texts) >= count or start == 0 or window >= 1 << 16:
            return texts[-count:] if count else []
        window *= 4


def read_log(file: Any, log_lines: int) -> dict[str, Any]:
    """The Logger's path, its line count (staged ones included) and its last lines."""
    log: dict[str, Any] = {"path": None, "total": 0, "staged": 0, "lines": [], "error": None}
    path = find_logger(file)
    if path is None:
        return log
    log["path"] = path
    lines: list[str] = []
    try:
        logger = hard_get(file, path)
        rows = int(logger.shape[0])
        storage = stored_outside(logger)
        if storage is not None:
            log.update(total=rows, error=f"{describe_outside(storage)}: its lines are never read")
            return log
        first = max(0, rows - log_lines)
        if log_lines:
            for index, row in enumerate(logger[first:rows], start=first):
                try:
                    lines.append(decode_pickled_str(bytes(row))[:MAX_LINE])
                except UnsafeContentError as exc:
                    lines.append(f"<row {index} not shown: {exc}>")
        log.update(total=rows, lines=lines[-log_lines:] if log_lines else [])
        # The staged lines, apart: a staging array refused leaves the Logger's lines shown.
        staging = hard_get(file, path + STAGING_SUFFIX)
        staging_outside = stored_outside(staging) if isinstance(staging, h5py.Dataset) else None
        if staging_outside is not None:
            log["error"] = f"its staging array is {describe_outside(staging_outside)}: not read"
        elif isinstance(staging, h5py.Dataset) and is_staging_dtype(staging.dtype):
            staged = count_staged(staging)
            lines += _staged_tail(staging, log_lines)
            log.update(
                total=rows + staged, staged=staged, lines=lines[-log_lines:] if log_lines else []
            )
    except MemoryError:
        log["error"] = "a log line is too large to read"
    except Exception as exc:
        log["error"] = f"{type(exc).__name__}: {exc}"
    return log
