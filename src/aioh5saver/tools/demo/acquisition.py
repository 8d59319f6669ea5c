"""The demo acquisition: every instrument writing one PyMoDAQ file through one
:class:`~aioh5saver.AsyncH5Saver`, with progress reports while it runs.

Every instrument writes in the layout PyMoDAQ's enlargeable (logger) saver uses::

    /RawData/Scan000/Detector000/Data0D/CH00/EnlData00     0D detector, rows (1,) float64
                    /Detector001/Data1D/CH00/EnlData00     spectrometer, rows (2048,) float64
                    /Detector002/Data2D/CH00/EnlData00     camera, rows (512, 512) uint16
                    /Actuator000/Data0D/CH00/EnlData00     stage positions, rows (1,) float64
    /RawData/Logger                                        log lines (moves, joins, start, end)

:func:`run_demo` is what ``aioh5saver demo`` runs; it reports progress through a callback and
returns a :class:`DemoSummary`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio

from aioh5saver.aio.async_saver import AsyncH5Saver, SaverStatistics
from aioh5saver.format.checks import check_seconds
from aioh5saver.tools.demo.instruments import (
    Camera,
    Instrument,
    InstrumentProgress,
    PointDetector,
    Spectrometer,
    Stage,
)

__all__ = [
    "FLUSH_PERIOD_S",
    "DemoProgress",
    "DemoSummary",
    "default_instruments",
    "expected_bytes",
    "late_join_delay",
    "run_demo",
]

# No appended row stays unflushed (invisible to SWMR readers) longer than this.
FLUSH_PERIOD_S = 0.5
# How often run_demo calls its progress callback.
PROGRESS_INTERVAL_S = 0.25
# The late instrument joins this long after the start, or a third of a shorter run.
LATE_JOIN_S = 3.0

ProgressCallback = Callable[["DemoProgress"], None]
StartedCallback = Callable[[Path], None]


@dataclass(frozen=True, slots=True)
class DemoProgress:
    """A snapshot taken while the demo runs, for a progress display."""

    elapsed: float
    seconds: float
    instruments: tuple[InstrumentProgress, ...]
    saver: SaverStatistics


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What a finished demo wrote."""

    path: Path
    seconds: float  # the acquisition time asked for
    duration: float  # from the start of the acquisition to the file being closed
    swmr: bool
    instruments: tuple[InstrumentProgress, ...]
    rows: int  # the instruments' rows (log lines apart)
    bytes_written: int
    flushes: int
    batches: int
    log_lines: int
    saver: SaverStatistics  # the saver's statistics once the file was closed

    @property
    def mb_per_s(self) -> float:
        """MB (10**6 bytes) written per second of the run."""
        return self.bytes_written / 1e6 / self.duration if self.duration > 0 else 0.0


def late_join_delay(seconds: float) -> float:
    """How long after the start the late instrument joins: 3 s, or a third of a shorter run."""
    return min(LATE_JOIN_S, seconds / 3)


def expected_bytes(instruments: Sequence[Instrument], seconds: float) -> int:
    """About how many bytes of rows ``instruments`` write in ``seconds`` (each at its own
    period, from the time it joins): what the file will weigh, give or take its metadata."""
    return int(
        sum(
            max(0.0, seconds - instrument.join_after)
            / instrument.period
            * instrument.dtype.itemsize
            * math.prod(instrument.row_shape)
            for instrument in instruments
        )
    )


def default_instruments(seconds: float) -> list[Instrument]:
    """The demo's instruments: a 1 kHz 0D detector, a 100 Hz spectrometer, a 20 Hz camera that
    joins late, and a stage stepping through positions."""
    return [
        PointDetector(seed=1),
        Spectrometer(seed=2),
        Camera(seed=3, join_after=late_join_delay(seconds)),
        Stage(seed=4),
    ]


async def run_demo(
    out: Path,
    seconds: float = 10.0,
    swmr: bool = True,
    *,
    instruments: Sequence[Instrument] | None = None,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    on_started: StartedCallback | None = None,
    progress_interval: float = PROGRESS_INTERVAL_S,
) -> DemoSummary:
    """Run the simulated acquisition for ``seconds``, writing a new file at ``out``; an
    existing file there is refused (:class:`~aioh5saver.ExistingFileError`) unless
    ``overwrite``.

    ``on_started(out)`` is called once the file exists with every on-time instrument's arrays
    (and SWMR on, if ``swmr``), just before acquisition starts; ``progress`` is called every
    ``progress_interval`` seconds while it runs. Returns what was written, once the file is
    closed.
    """
    check_seconds(seconds, "seconds", expected="a positive, finite number of seconds")
    out = Path(out)
    chosen = list(instruments) if instruments is not None else default_instruments(seconds)
    metadata = {"author": "aioh5saver demo", "sample": "simulated", "duration_s": seconds}
    async with AsyncH5Saver.open(
        out,
        new_file=True if overwrite else None,
        swmr=swmr,
        flush_period=FLUSH_PERIOD_S,
        metadata=metadata,
    ) as saver:
        scan = await saver.add_scan_group(
            saver.raw_group, title="demo acquisition", metadata={"scan_type": "logger"}
        )
        for instrument in chosen:
            if instrument.join_after <= 0:
                await instrument.connect(saver, scan)
        if swmr:
            await saver.start_swmr()
        names = ", ".join(f"{i.name} ({i.kind})" for i in chosen)
        await saver.add_log(f"demo started: {names}; SWMR {'on' if swmr else 'off'}")
        if on_started is not None:
            on_started(out)
        start = anyio.current_time()
        wall_start = time.monotonic()
        stop = start + seconds
        async with anyio.create_task_group() as tg:
            if progress is not None:
                tg.start_soon(
                    _report_progress, saver, chosen, start, seconds, progress, progress_interval
                )
            async with anyio.create_task_group() as acquisitions:
                for instrument in chosen:
                    acquisitions.start_soon(instrument.run, saver, scan, start, stop)
            tg.cancel_scope.cancel()
        await saver.add_log(f"demo finished after {seconds:g} s")
    duration = time.monotonic() - wall_start
    stats = saver.statistics()
    end = anyio.current_time()
    return DemoSummary(
        path=out,
        seconds=seconds,
        duration=duration,
        swmr=swmr,
        instruments=tuple(i.progress(min(end, stop)) for i in chosen),
        rows=sum(i.rows for i in chosen),
        bytes_written=stats.bytes_written,
        flushes=stats.flushes,
        batches=stats.batches,
        log_lines=2 + sum(i.log_lines for i in chosen),  # the start and end lines too
        saver=stats,
    )


async def _report_progress(
    saver: AsyncH5Saver,
    instruments: Sequence[Instrument],
    start: float,
    seconds: float,
    progress: ProgressCallback,
    interval: float,
) -> None:
    tick = 1
    while True:
        await anyio.sleep_until(start + tick * interval)
        now = anyio.current_time()
        progress(
            DemoProgress(
                elapsed=min(now - start, seconds),
                seconds=seconds,
                instruments=tuple(i.progress(now) for i in instruments),
                saver=saver.statistics(),
            )
        )
        tick = int((now - start) / interval) + 1
