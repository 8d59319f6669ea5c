"""SaverStatistics: what ``AsyncH5Saver.statistics()`` returns, a snapshot of the writer's
state."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SaverStatistics"]


@dataclass(frozen=True, slots=True)
class SaverStatistics:
    """A snapshot of the saver's state, cheap enough to take for every progress-bar refresh.

    - ``ops_queued``: operations waiting for the next batch; ``bytes_pending``: bytes of
      accepted rows not yet written; ``max_pending_bytes``: the back-pressure budget;
      ``pending_cap_bytes``: the part of it in force (see ``max_pending_seconds``);
      ``producers_waiting``: appends waiting for room in it (room comes with a turn).
    - ``producers_awaiting_turn``: appends waiting for their turn on the event loop, room
      aside (the producers' shared slice of loop time is spent; see
      ``WriterTuning.loop_slice_s``); ``turns_given``: turns given since the open.
    - ``rows_appended``: rows written to enlargeable arrays (the data) since the open;
      ``strings_appended``: strings written to string arrays (log lines, mostly), apart;
      ``bytes_written`` (of both), ``batches``, ``flushes``: counts since the open.
    - ``swmr_active``: SWMR is on.
    - ``swmr_pauses``: how many times SWMR ended before the close (a structure change while
      SWMR was on, or ``finalize_swmr``); ``swmr_paused_seconds``: how long SWMR stayed off
      in those pauses in all, ``swmr_longest_pause_seconds``: in the longest one, both with
      the pause going on. Each pause runs from the file's closing in SWMR mode to SWMR on
      again (or the close): a writer killed in it leaves a file that needs ``recover``.
    - ``engine``, ``swmr_supported``: the storage engine, and whether it has SWMR.
    """

    ops_queued: int
    bytes_pending: int
    max_pending_bytes: int
    pending_cap_bytes: int
    producers_waiting: int
    producers_awaiting_turn: int
    turns_given: int
    rows_appended: int
    bytes_written: int
    batches: int
    flushes: int
    swmr_active: bool
    swmr_pauses: int = 0
    swmr_paused_seconds: float = 0.0
    swmr_longest_pause_seconds: float = 0.0
    strings_appended: int = 0
    #: The storage engine (``"h5py"``: a local file; ``"hsds"``: an HSDS domain).
    engine: str = "h5py"
    #: False on an engine without SWMR (HSDS): SWMR calls are no-ops there, and a reader sees
    #: what each flush sent.
    swmr_supported: bool = True
