"""The follow child's work: poll a file a writer grows under SWMR, and print one JSON line
per poll with each enlargeable array's row count, until the writer closes the file.

Runs in the reading child only (:mod:`.child`); :func:`.follow.follow` reads its lines. Each
poll opens the file afresh as a SWMR reader, walks it and closes it (see :mod:`.follow`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from aioh5saver.engine.external import stored_outside
from aioh5saver.engine.file_users import lock_state, writer_pids
from aioh5saver.engine.superblock import read_superblock
from aioh5saver.errors import CorruptFileError, MissingFileError, UnsafeContentError
from aioh5saver.format.layout import ENLARGEABLE_KINDS
from aioh5saver.format.staging import STAGING_SUFFIX, is_staging, is_staging_dtype
from aioh5saver.tools.log_tail import count_staged
from aioh5saver.tools.walk import WalkStats, dataset_kind, iter_nodes, open_h5, read_labels
from aioh5saver.tools.writer_state import not_swmr_message

__all__ = ["follow_in_child", "rows_by_array"]


def _emit(**event: Any) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def rows_by_array(file: Any, max_nodes: int) -> dict[str, int]:
    """The row count of every enlargeable array of an open file (the first ``max_nodes`` nodes
    met), the complete strings of a SWMR staging array counted in the array it stages for. A
    dataset without a first axis (a scalar or an empty dataspace, whatever its ``CLASS``
    says) has no rows to follow and is left out, and so is one whose data are stored in other
    files (external raw storage, a virtual dataset: see
    :func:`~aioh5saver.engine.external.stored_outside`)."""
    counts: dict[str, int] = {}
    staged: dict[str, int] = {}
    for entry in iter_nodes(file, max_nodes=max_nodes, stats=WalkStats(), count_rest=False):
        if entry.obj is None or entry.kind != "dataset" or not entry.obj.shape:
            continue
        if stored_outside(entry.obj) is not None:
            continue  # its rows are other files' (never read), not this writer's
        if dataset_kind(entry.obj, read_labels(entry.obj)) not in ENLARGEABLE_KINDS:
            continue
        if is_staging(entry.path) and is_staging_dtype(entry.obj.dtype):
            staged[entry.path[: -len(STAGING_SUFFIX)]] = count_staged(entry.obj)
        else:
            counts[entry.path] = int(entry.obj.shape[0])
    for target, strings in staged.items():
        if target in counts:
            counts[target] += strings
        else:
            counts[target + STAGING_SUFFIX] = strings
    return counts


def _signature(where: str, raw: bytes) -> tuple[bytes, int, int]:
    info = os.stat(where)
    return raw, info.st_size, info.st_mtime_ns


class _GoneWatch:
    """Whether the writer the superblock names is gone: its flags still say "open for
    writing", the file has not changed, and no process on this machine has it open for
    writing, all along ``grace`` seconds. /proc is only read once the file has stopped
    changing: a writer that appends shows itself by changing the file."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.signature: tuple[bytes, int, int] | None = None
        self.since: float | None = None

    def gone(self, where: str, observed_at: float) -> bool:
        """True once the writer named by the superblock has been gone for ``grace`` seconds."""
        try:
            superblock = read_superblock(where)
            signature = _signature(where, superblock.raw)
        except (OSError, CorruptFileError, MissingFileError):
            self.signature, self.since = None, None
            return False
        unchanged = signature == self.signature
        self.signature = signature
        if not superblock.writing or not unchanged or writer_pids(where):
            self.since = None
            return False
        self.since = observed_at if self.since is None else self.since
        return observed_at - self.since >= self.grace


def _poll(where: str, max_nodes: int) -> dict[str, Any]:
    """One look at the file: its writer's state, and the arrays if it can be read, with the
    moment of the look (``t``, :func:`time.monotonic`: the same clock in every process of the
    machine), so that rates are computed over the time between looks, not between the
    parent's readings of the lines."""
    observed_at = time.monotonic()
    event = _poll_once(where, max_nodes)
    event["t"] = observed_at
    return event


def _poll_once(where: str, max_nodes: int) -> dict[str, Any]:
    try:
        return _look(where, max_nodes)
    except (FileNotFoundError, MissingFileError):
        return {"event": "missing"}
    except (CorruptFileError, UnsafeContentError) as exc:
        # Messages travel without the file's name: the parent puts it in front.
        return {"event": "fatal", "message": str(exc).removeprefix(f"{where}: ")}
    except OSError as exc:  # the file replaced or moved between two reads: look again
        return {"event": "retry", "error": f"{type(exc).__name__}: {exc}", "writing": True}


def _look(where: str, max_nodes: int) -> dict[str, Any]:
    superblock = read_superblock(where)
    if superblock.writing and not superblock.swmr_writing:
        return {"event": "busy", "locked": False, "message": not_swmr_message(where)}
    if superblock.flags is None and lock_state(where) == "exclusive":
        return {
            "event": "busy",
            "locked": True,
            "message": (
                f"{where}: expected a file that is closed or written under SWMR, got one that "
                "another process holds HDF5's exclusive lock on: it is being written without "
                "SWMR (its format, superblock version 0 or 1, cannot do SWMR)"
            ),
        }
    before = _signature(where, superblock.raw)
    try:
        with open_h5(where, superblock.swmr_writing) as file:
            arrays = rows_by_array(file, max_nodes)
    except MemoryError:
        return {
            "event": "fatal",
            "message": "expected a file readable within the memory limit, got one needing more",
        }
    except UnsafeContentError:
        raise  # a refusal of what the file holds: retrying would refuse it again
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        return {"event": "retry", "error": error, "writing": superblock.writing}
    if superblock.swmr_writing:
        return {"event": "poll", "arrays": arrays}
    after = _signature(where, read_superblock(where).raw)
    return {"event": "poll", "arrays": arrays, "closed": before if after == before else None}


def follow_in_child(
    where: str, *, interval: float, max_nodes: int, timeout: float, gone_after: float = 1.0
) -> int:
    """The child's loop: poll every ``interval`` seconds, print one JSON line per poll, end
    with a ``closed`` line once the writer has closed the file, or a ``gone`` line once the
    writer the superblock names has had no process for ``gone_after`` seconds (see
    :func:`follow`)."""
    closed_before: Any = None
    failing_since: float | None = None
    watch = _GoneWatch(gone_after)
    while True:
        started = time.monotonic()
        event = _poll(where, max_nodes)
        if event["event"] in ("missing", "fatal"):
            _emit(**event)
            return 0
        # Only a look that read the file, or found it flagged without SWMR, can tell a dead
        # writer: a file HDF5 fails on keeps its own error (and its hint at recover).
        if event["event"] in ("poll", "busy") and watch.gone(where, event["t"]):
            _emit(event="gone", t=event["t"], arrays=event.get("arrays"))
            return 0
        closed = event.pop("closed", None)
        if closed is not None and closed == closed_before:
            event["event"] = "closed"
            _emit(**event)
            return 0
        closed_before = closed
        if event["event"] == "retry":
            failing_since = failing_since if failing_since is not None else started
            # Failures while a writer has the file are its pauses, retried up to the timeout;
            # a file no writer has that HDF5 keeps failing on is damaged.
            limit = timeout if event.pop("writing") else min(timeout, max(1.0, 3 * interval))
            if started - failing_since >= limit:
                message = (
                    f"expected a readable HDF5 file, got one HDF5 kept failing to read for "
                    f"{limit:g} s ({event['error']})"
                )
                _emit(event="fatal", message=message)
                return 0
        else:
            failing_since = None
        _emit(**event)
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
