"""Finish a file a SWMR writer left behind when it was killed, so that PyMoDAQ reads it all:
``aioh5saver recover --finish``.

A SWMR writer keeps the strings it logs in staging arrays (``Logger__swmr_staging``) and
leaves the ``shape`` attributes of the arrays it grows as they were when SWMR started, both
until SWMR ends; its root's ``swmr_active`` flag says so. Killed, it leaves them so:
pymodaq_data does not read the staged log lines and trusts the stale shapes. :func:`finish`
does what the writer's close would have done, with the synchronous saver's own code: it folds
the staged strings into their string arrays
(:func:`~aioh5saver.sync.staging.fold_staged_strings`), records every enlargeable array's real
shape in its ``shape`` attribute and clears ``swmr_active``
(:func:`~aioh5saver.sync.backend.reconcile_swmr_attrs_of`).

It first looks at the file in the reading child (:func:`~.inspect.inspect_file`: a crafted
file cannot hang or exhaust this process there), and says what it would change; nothing is
written with ``dry_run``, or when there is nothing to finish. Then it writes through the
rollback journal (:mod:`aioh5saver.engine.journal`) with no checkpoint before the close: if
finishing fails, the file is put back as it was before; if the process is killed,
``recover`` puts it back so. Data stored in other files (external
raw storage, virtual datasets) is never read or written, and external links are never
followed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from aioh5saver.engine.journal import journal_path, roll_back
from aioh5saver.engine.superblock import read_superblock
from aioh5saver.errors import FileInUseError, UnfinishedWriteError
from aioh5saver.format.checks import check_seconds
from aioh5saver.format.layout import DEFAULT_TITLE
from aioh5saver.format.staging import STAGING_SUFFIX, is_staging
from aioh5saver.sync.backend import H5Backend, reconcile_swmr_attrs_of
from aioh5saver.sync.staging import fold_staged_strings
from aioh5saver.tools.inspect import inspect_file
from aioh5saver.tools.recover import RecoveryReport
from aioh5saver.tools.report import NodeInfo

__all__ = ["FinishReport", "finish", "planned_finish", "render_finish"]


@dataclass(frozen=True)
class FinishReport:
    """What :func:`finish` did (or, with ``dry_run``, would do).

    ``staging`` maps each staging array to the string array it holds strings for;
    ``folded`` maps each string array to the strings folded into it (empty for a dry run:
    the count is known once they are read, see ``staged_log_lines``); ``shapes`` maps each
    array whose ``shape`` attribute was stale to (the attribute, the real shape);
    ``flag_cleared``: the root's ``swmr_active`` flag was set and is cleared.
    """

    path: str
    staging: dict[str, str] = field(default_factory=dict)
    folded: dict[str, int] = field(default_factory=dict)
    shapes: dict[str, tuple[object, tuple[int, ...]]] = field(default_factory=dict)
    flag_cleared: bool = False
    staged_log_lines: int = 0
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        """True if finishing changes the file (or would, for a dry run)."""
        return bool(self.staging or self.shapes or self.flag_cleared)


def finish(
    path: str | os.PathLike[str],
    *,
    timeout: float = 30.0,
    dry_run: bool = False,
    before_writing: Callable[[FinishReport], None] | None = None,
) -> FinishReport:
    """Fold the staged strings of a file a SWMR writer left into its string arrays, record the
    arrays' real shapes and clear ``swmr_active``, so that PyMoDAQ reads every row and log
    line; with ``dry_run``, only say what would change. ``before_writing`` is called with
    what will change just before the first write.

    Raises :class:`FileInUseError` (a writer has the file open, or its flags say so: run
    ``recover`` first), :class:`UnfinishedWriteError` (a rollback journal beside it: run
    ``recover`` first), :class:`ExternalDataError` (a staging array stored in other files:
    refused, the file left as it was), and what reading it raises (:func:`inspect_file`).
    """
    check_seconds(timeout, "timeout")
    where = os.fspath(path)
    if read_superblock(where).writing:
        raise FileInUseError(
            f"{where}: expected a file no writer has open, got one whose superblock says a "
            "writer has it open; if that writer was killed, 'aioh5saver recover' clears that "
            "first (recover --finish does both)"
        )
    if journal_path(where).exists():
        raise UnfinishedWriteError(
            f"{where}: expected a file without a rollback journal, got {journal_path(where)} "
            "beside it (a writer killed while writing outside SWMR); 'aioh5saver recover' "
            "puts it back first (recover --finish does both)"
        )
    look = inspect_file(where, log_lines=0, timeout=timeout)
    planned = _planned(where, look.nodes, look.log_staged)
    if dry_run or not planned.changed:
        return replace(planned, dry_run=dry_run)
    if before_writing is not None:
        before_writing(planned)
    folded = _finish_in_place(Path(where))
    return FinishReport(
        path=where,
        staging=planned.staging,
        folded=folded,
        shapes=planned.shapes,
        flag_cleared=planned.flag_cleared,
        staged_log_lines=planned.staged_log_lines,
    )


def planned_finish(recovery: RecoveryReport) -> FinishReport:
    """What finishing would change once ``recovery`` (a dry run, say) is done: read from the
    nodes the recovered file would hold."""
    return replace(_planned(recovery.path, recovery.nodes, recovery.staged_strings), dry_run=True)


def _planned(where: str, nodes: Sequence[NodeInfo], log_staged: int) -> FinishReport:
    """What finishing the file whose nodes are ``nodes`` changes."""
    root = next((node for node in nodes if node.path == "/"), None)
    flag = root is not None and root.attrs.get("swmr_active") is True
    staging = {
        node.path: node.path[: -len(STAGING_SUFFIX)]
        for node in nodes
        if node.kind != "link" and is_staging(node.path)
    }
    shapes: dict[str, tuple[object, tuple[int, ...]]] = {}
    for node in nodes:
        if node.kind != "EARRAY" or node.shape is None or is_staging(node.path):
            continue
        recorded = node.attrs.get("shape")
        if _as_shape(recorded) != node.shape:
            shapes[node.path] = (recorded, node.shape)
    if not (flag or staging):
        shapes = {}  # not a SWMR writer's file: its shape attributes are its writer's business
    return FinishReport(
        path=where,
        staging=staging,
        shapes=shapes,
        flag_cleared=flag,
        staged_log_lines=log_staged,
    )


def _as_shape(value: object) -> tuple[int, ...] | None:
    if isinstance(value, list | tuple) and all(isinstance(item, int) for item in value):
        return tuple(value)
    return None


def _finish_in_place(path: Path) -> dict[str, int]:
    """Fold, reconcile and clear the flag through the rollback journal; on failure, roll the
    file back to how it was and raise."""
    backend = H5Backend()
    # Written through the rollback journal (SWMR-capable files only: a SWMR writer's are).
    backend._open_file(path, "a", DEFAULT_TITLE, True, True, locking=False)
    try:
        file = backend.h5file
        assert file is not None
        # No flush between the steps: the journal's only checkpoint is the close, so that a
        # failure anywhere puts the file back as it was before finishing began.
        folded = fold_staged_strings(file)
        reconcile_swmr_attrs_of(backend, None)
        backend.close_file()
    except BaseException:
        backend.let_go_of_file()
        roll_back(path)
        raise
    return folded


def render_finish(report: FinishReport) -> str:
    """A readable account of what finishing did (or would do)."""
    would = report.dry_run
    if not report.changed:
        return (
            f"Nothing to finish in {report.path}: no SWMR staging array, no 'swmr_active' "
            "flag, no stale shape attribute"
        )
    lines = [f"{'Would finish' if would else 'Finished'} {report.path} for PyMoDAQ:"]
    for staging, target in report.staging.items():
        count = report.folded.get(target)
        if count is not None:
            what = f"{count} staged string{'' if count == 1 else 's'} folded"
        else:
            what = "staged strings to fold" if would else "staged strings folded"
        lines.append(
            f"  {target}: {what} from {staging}, which is {'to be ' if would else ''}deleted"
        )
    for array, (recorded, real) in report.shapes.items():
        lines.append(
            f"  {array}: shape attribute {recorded!r} {'to be ' if would else ''}set to {real}"
        )
    if report.flag_cleared:
        lines.append(f"  /: swmr_active {'to be ' if would else ''}cleared")
    if would:
        lines.append("Dry run: nothing was written.")
    return "\n".join(lines)
