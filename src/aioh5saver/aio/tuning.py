"""WriterTuning: the writer's tuning constants, in one frozen dataclass the writer takes."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from aioh5saver.errors import InvalidArgumentError, describe
from aioh5saver.format.checks import check_count

__all__ = ["DEFAULT_TUNING", "WriterTuning", "check_tuning"]


@dataclass(frozen=True, slots=True)
class WriterTuning:
    """How the writer trades memory, latency and event-loop time; the defaults suit most runs.

    Loop side (the intake of appends and the writer task):

    - ``loop_slice_s``: the event-loop time that all the producers share per loop iteration.
      Appends are accepted at once (without yielding to the loop) while the slice lasts; once
      it is spent, producers take turns, one slice per loop iteration (see
      :mod:`~.producer_turns`: a slice ends once it has accepted the appends that start in
      this time at the rate slices accept them, and may run to twice this time to reach
      them). Longer slices cost fewer turns; the loop's lag grows with them: a task whose
      sleep ends during a slice runs once that slice is over (on trio, sometimes after the
      next one), so the median lag is about half a slice to a slice, the turn included.
    - ``large_copy_bytes``: rows at least this large (camera frames) are copied a piece at a
      time, yielding to the event loop between pieces. A frame copied in one go stalls every
      other task for as long as the copy takes (memory not touched for a while is written
      slowly), and a copy on a worker thread costs a thread hop per frame.
    - ``first_segment_bytes``, ``segment_bytes``: gathered rows are copied into segments that
      start at ``first_segment_bytes`` (or one row) and double up to ``segment_bytes``: a slow
      array wastes little, and a fast one needs few segments. Not more than a chunk: the
      writer writes whole chunks (1 MiB at most) whatever the segments, and larger segments
      cost the event loop longer copies.
    - ``spare_segment_bytes``: at most this much memory is kept in spare segments for reuse
      (less with a small budget).
    - ``batch_bytes``, ``batch_seconds``: a batch takes queued operations up to about this
      many bytes of rows, and up to what the writer writes in ``batch_seconds`` at its
      recent rate (at least ``min_backlog_bytes``, and at least one operation). This keeps
      the time between two flush checks short when producers outrun the disk, and the time
      a late instrument's creation waits for the batch being written.
    - ``backlog_share_of_flush_period``, ``min_backlog_bytes``, ``first_backlog_bytes``: with
      a flush period, the queue holds at most what the writer writes in this share of it (at
      its recent rate): a row then waits that long behind the rows queued before it, and its
      batch takes about as long. The floor keeps batches from shrinking to nothing when the
      time allowed is tiny; before the first batch is timed, the cap is a guess.

    Thread side (the batch runner):

    - ``swmr_resume_delay_s``: after a structure change ends SWMR, SWMR starts again only
      once no other change is queued and none has been answered for this long: a late
      instrument that creates its groups and arrays one after the other (each call awaited
      before the next) costs one SWMR pause, not one per node (each pause closes and reopens
      the file). Rows appended meanwhile are written all the same. Longer than the event
      loop takes to get an answer to its caller and the caller's next call queued; short,
      because a writer killed while SWMR is off leaves a file that needs ``recover``.
    - ``call_growth_bytes``, ``array_growth_bytes``, ``string_growth_bytes``: room on disk
      claimed for a call that changes the file's structure or attributes (on top of the arrays
      it stores), for the index entries and part-filled last chunk of an array that grows,
      and for each staged or folded string beyond its text.
    - ``max_open_chunk_bytes``: each array appended to keeps about one chunk in memory
      (HDF5's chunk cache holds its part-filled last chunk), whatever the queue's budget. Past
      this many bytes of chunks, the arrays appended to least recently are flushed and
      closed; the next append opens them again.
    """

    loop_slice_s: float = 0.00025
    large_copy_bytes: int = 1 << 20
    first_segment_bytes: int = 64 << 10
    segment_bytes: int = 1 << 20
    spare_segment_bytes: int = 64 << 20
    batch_bytes: int = 32 << 20
    batch_seconds: float = 0.005
    backlog_share_of_flush_period: float = 0.25
    min_backlog_bytes: int = 256 << 10
    first_backlog_bytes: int = 1 << 20
    swmr_resume_delay_s: float = 0.05
    call_growth_bytes: int = 64 << 10
    array_growth_bytes: int = 4 << 10
    string_growth_bytes: int = 64
    max_open_chunk_bytes: int = 64 << 20


DEFAULT_TUNING = WriterTuning()


def check_tuning(value: object) -> WriterTuning:
    """The tuning a saver gets for ``tuning=value``: the defaults for None; a
    :class:`WriterTuning` whose sizes are ints >= 1 and whose other figures are finite numbers
    >= 0; anything else raises :class:`InvalidArgumentError`."""
    if value is None:
        return DEFAULT_TUNING
    if not isinstance(value, WriterTuning):
        raise InvalidArgumentError(
            f"tuning: expected None or a WriterTuning, got {describe(value)}"
        )
    for field in fields(value):
        name, figure = f"tuning.{field.name}", getattr(value, field.name)
        if isinstance(getattr(DEFAULT_TUNING, field.name), int):
            check_count(figure, name, minimum=1)
        elif (
            isinstance(figure, bool)
            or not isinstance(figure, int | float)
            or not math.isfinite(figure)
            or figure < 0
        ):
            raise InvalidArgumentError(
                f"{name}: expected a finite number >= 0, got {describe(figure)}"
            )
    return value
