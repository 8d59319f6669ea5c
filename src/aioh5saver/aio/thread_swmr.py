"""SwmrSwitch, on the writer thread: when SWMR starts, pauses and resumes, and the staging of
strings while it is on.

While SWMR is on, nothing variable-length is written: strings go to fixed-width staging arrays,
folded into their string arrays when SWMR pauses. A structure change pauses SWMR (SWMR forbids
it); SWMR resumes once structure changes have stopped coming for a while. The pauses are
counted and timed: while one lasts, a killed writer leaves a file that needs ``recover``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import h5py

from aioh5saver.aio.thread_disk import DiskWatch
from aioh5saver.engine.space import RESERVE_BYTES
from aioh5saver.errors import FileChangedError, NodeNotFoundError
from aioh5saver.sync.backend import reconcile_swmr_attrs_of
from aioh5saver.sync.nodes import Node, StringARRAY
from aioh5saver.sync.saver import H5SaverLowLevel
from aioh5saver.sync.staging import create_staging, fold_staged_strings, read_staged

__all__ = ["SwmrSwitch"]


class SwmrSwitch:
    """SWMR of the file ``saver`` writes: ``capable`` if opened with ``swmr=True``, ``wanted``
    once started (or before the first append), ``active`` while on.

    ``pauses`` counts the times SWMR ended before the close (for a structure change, or
    ``finalize_swmr``); ``paused_seconds`` and ``longest_pause_seconds`` are the time SWMR
    stayed off in all and at most, the pause going on included (from the file's closing in
    SWMR mode to SWMR on again, or to the close). ``clock`` is the monotonic clock of the
    resume delay and of these figures.
    """

    def __init__(
        self,
        saver: H5SaverLowLevel,
        disk: DiskWatch,
        *,
        capable: bool,
        resume_delay_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.saver = saver
        self.disk = disk
        self.capable = capable
        self.wanted = False
        self.active = False
        self.resume_delay_s = resume_delay_s
        self.structure_changed_at = -math.inf
        # Structure changes queued and not yet taken into a batch: counted on the event loop,
        # read here (a plain int; a change counted late costs one more pause, nothing else).
        self.changes_queued = 0
        self.started_once = False
        self.staging: dict[str, h5py.Dataset] = {}
        # Arrays closed since SWMR started: their shapes are due at the pause.
        self.grown: set[str] = set()
        # After a failure that left the file whole (no room to end SWMR, the path renamed or
        # replaced): close it as usual at the end, SWMR ended and strings folded if possible.
        self.close_whole = False
        self._string_arrays: set[str] | None = None
        # The file's size before the last pause reserved room on the disk, until the unused
        # part is given back.
        self._reserved_from: int | None = None
        self.clock = clock
        # Pauses begun, seconds of the pauses ended, the longest ended, and when the pause
        # going on began: one tuple, replaced whole, so that the event loop reading it while
        # this thread writes it sees the figures before or after, never half of each.
        self._pause_figures: tuple[int, float, float, float | None] = (0, 0.0, 0.0, None)

    def resume_at(self) -> float | None:
        """When (monotonic clock) SWMR, paused by structure changes, is due to start again;
        None if it is on or not wanted."""
        if self.active or not self.wanted:
            return None
        if not self.started_once:
            return -math.inf
        return self.structure_changed_at + self.resume_delay_s

    def may_resume(self) -> bool:
        """SWMR starts at once the first time (before the first append), and resumes after a
        pause once structure changes have stopped coming: none is queued (``changes_queued``,
        counted by the writer task as they are queued and taken), and none came for the
        resume delay."""
        if not self.started_once:
            return True
        if self.changes_queued:
            return False
        return self.clock() >= self.structure_changed_at + self.resume_delay_s

    @property
    def pauses(self) -> int:
        """How many pauses have begun."""
        return self._pause_figures[0]

    @property
    def paused_seconds(self) -> float:
        """Seconds SWMR stayed off in pauses, the one going on included."""
        _, ended, _, since = self._pause_figures
        return ended + self._seconds_since(since)

    @property
    def longest_pause_seconds(self) -> float:
        """The longest pause so far, the one going on included."""
        _, _, longest, since = self._pause_figures
        return max(longest, self._seconds_since(since))

    def _seconds_since(self, since: float | None) -> float:
        return 0.0 if since is None else max(0.0, self.clock() - since)

    def _begin_pause(self, at: float) -> None:
        pauses, ended, longest, _ = self._pause_figures
        self._pause_figures = (pauses + 1, ended, longest, at)

    def end_pause(self) -> None:
        """The pause going on, if any, is over: SWMR is on again, or the file closed."""
        pauses, ended, longest, since = self._pause_figures
        if since is None:
            return
        seconds = self._seconds_since(since)
        self._pause_figures = (pauses, ended + seconds, max(longest, seconds), None)

    def start(self, claim_space: Callable[[int, str], None], call_growth_bytes: int) -> None:
        """Give every string array a staging array (room claimed with ``claim_space``), then
        turn SWMR on. The shapes due must be recorded before."""
        string_arrays = self._find_string_arrays()
        claim_space(len(string_arrays) * call_growth_bytes, "start SWMR")
        self.staging = {node.path: create_staging(node) for node in string_arrays}
        self.disk.check_intact("start SWMR")
        self.saver.enable_swmr()
        self.disk.note_written()  # starting SWMR flushes, and HDF5 may shorten the file then
        self.active = True
        self.started_once = True
        self.end_pause()
        self.give_back_reservation()

    def give_back_reservation(self) -> None:
        """Give back the part of the last pause's reservation on the disk that HDF5 has not
        used (the file's size before it, or HDF5's end of file if further now)."""
        size_before = self._reserved_from
        if size_before is None:
            return
        self._reserved_from = None
        self.disk.trim(size_before)
        self.disk.note_written()

    def staged_strings(self, where: Any) -> list[str]:
        """The strings of a string array written since SWMR started, still in staging."""
        staging = self.staging.get(self.saver.get_node(where).path)
        return [] if staging is None else read_staged(staging)

    def note_string_array(self, created: Any) -> None:
        """Keep the list of string arrays up to date after a structural call: a creation
        returns its node; any other result may hide one, and the file is walked again."""
        if self._string_arrays is None or created is None:
            return
        if isinstance(created, StringARRAY):
            self._string_arrays.add(created.path)
        elif not isinstance(created, Node):
            self._string_arrays = None

    def _find_string_arrays(self) -> list[StringARRAY]:
        """The file's string arrays. The file is walked once; after that the paths noted at
        their creation are looked up, since a walk, one HDF5 call after another, is slow while
        the event loop is busy."""
        if self._string_arrays is None:
            found = [node for node in self.saver.walk_nodes("/") if isinstance(node, StringARRAY)]
            self._string_arrays = {node.path for node in found}
            return found
        arrays = []
        for path in sorted(self._string_arrays):
            try:
                node = self.saver.get_node(path)
            except NodeNotFoundError:
                node = None
            if isinstance(node, StringARRAY):
                arrays.append(node)
            else:
                self._string_arrays.discard(path)
        return arrays

    def pause(
        self, shapes_due: set[str], forget_arrays: Callable[[], None], *, closing: bool
    ) -> None:
        """Turn SWMR off (close, reopen, reconcile the shapes of ``shapes_due`` and of the
        arrays that grew meanwhile) and fold the staged strings in; the runner's open arrays
        are forgotten (``forget_arrays``) once the file is open again.

        The file opened again is the one that was open: if its path names another file now
        (renamed, replaced, deleted), a structure change breaks the writer before anything is
        closed, and the close at the end (``closing``) opens the file where it is now. The
        fold's room is reserved on the disk first, so that neither the fold nor the flush
        that follows it can fail for want of room: a disk another program fills cannot leave
        a string array pointing past the end of the file, nor lose a staged string. Outside
        SWMR the file is written through its rollback journal (:mod:`.engine.journal`), so a kill
        anywhere in the pause is undone by ``recover``."""
        grown = shapes_due | self.grown
        self.disk.check_intact("end SWMR")
        ending = self.clock()
        try:
            self.saver.reopen(moved_ok=closing)
        except FileChangedError:
            self.close_whole = True  # still open, under SWMR, and sound: closed whole at the end
            raise
        self.active = False
        if not closing:
            self._begin_pause(ending)
        forget_arrays()
        self.staging = {}
        file = self.saver.h5file
        assert file is not None
        self.disk.note_written()
        self.grown = set()
        space = self.disk.guard
        try:
            size_before = self.disk.reserve(
                space.pending_fold_bytes + RESERVE_BYTES, "end SWMR and fold staged strings"
            )
        except OSError as exc:
            exc.add_note(
                "the file stays whole: the strings written under SWMR stay in its staging arrays, "
                "which the next saver to open it for writing folds in (aioh5saver recover "
                "reports them)"
            )
            self.close_whole = True
            raise
        space.folded()

        reconcile_swmr_attrs_of(self.saver, sorted(grown), clear_flag=False)
        fold_staged_strings(file)
        reconcile_swmr_attrs_of(self.saver, [])
        self.disk.note_written()
        # The unused part of the reservation is given back once SWMR is on again (or at the
        # close), not here: cutting a file (ftruncate) waits for the file system's journal,
        # which with much written data pending took up to a second here, all of it spent in
        # the window where a kill leaves the file unreadable, and in the late caller's call.
        self._reserved_from = size_before
        if closing:
            self.give_back_reservation()
