"""What ``aioh5saver demo`` shows: live progress while it runs (a rich table on a terminal when
rich is installed, a plain line per second otherwise) and a summary table at the end."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from aioh5saver.tools.console import out

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.text import Text

    from aioh5saver.tools.demo.acquisition import DemoProgress, DemoSummary

__all__ = [
    "DROPPED_NOTE",
    "Display",
    "PlainDisplay",
    "RichDisplay",
    "make_display",
    "summary_lines",
]

#: What the "dropped" column counts, shown under the live table and the summary.
DROPPED_NOTE = (
    "dropped: frames skipped because the event loop woke the instrument after its next frame\n"
    "was due: it then delivers the newest frame only, as hardware does (the photodiode is\n"
    "buffered, like a DAQ card's FIFO, and delivers every sample late instead)."
)


class Display(Protocol):
    """What the demo tells a display: the file it writes, each progress report, the end."""

    def started(self, path: Path) -> None: ...
    def update(self, progress: DemoProgress) -> None: ...
    def close(self) -> None: ...


def make_display(
    seconds: float, swmr: bool, backend: str, expected_bytes: int | None = None
) -> Display:
    """A live rich table on a terminal when rich is installed, plain lines otherwise; the
    header says how big the file will be, if ``expected_bytes`` is given."""
    header = f"for {seconds:g} s, SWMR {'on' if swmr else 'off'}, on {backend}"
    if expected_bytes is not None:
        header += f"; about {expected_bytes / 1e6:.0f} MB"
    if sys.stdout.isatty():
        try:
            return RichDisplay(header)
        except ImportError:
            pass
    return PlainDisplay(header)


class PlainDisplay:
    """One progress line per second: rows and MB/s per instrument, and the saver's queue."""

    def __init__(self, header: str) -> None:
        self.header = header
        self.next_print = 1.0

    def started(self, path: Path) -> None:
        out(f"demo: started, writing {path} {self.header}")

    def update(self, progress: DemoProgress) -> None:
        if progress.elapsed + 1e-6 < self.next_print:
            return
        self.next_print = math.floor(progress.elapsed + 1e-6) + 1.0
        parts = [
            f"{i.name} {i.rows} rows {i.mb_per_s:.2f} MB/s" if i.array else f"{i.name} waiting"
            for i in progress.instruments
        ]
        stats = progress.saver
        out(
            f"{progress.elapsed:5.1f}/{progress.seconds:g} s | {' | '.join(parts)} | queue "
            f"{stats.ops_queued} ops {stats.bytes_pending / 1e6:.1f} MB, {stats.flushes} flushes"
        )

    def close(self) -> None:
        pass


class RichDisplay:
    """A live table, drawn by rich's own refresh thread a few times a second from the latest
    progress report. The event loop only stores the report: drawing the table takes several
    milliseconds, enough to wake the 100 Hz spectrometer late and make it drop frames if the
    loop drew it."""

    REFRESH_PER_SECOND = 4

    def __init__(self, header: str, console: Console | None = None) -> None:
        from rich.console import Console
        from rich.live import Live

        self.header = header
        self.console = Console() if console is None else console
        self.latest: DemoProgress | None = None
        self.live = Live(
            console=self.console,
            auto_refresh=True,
            refresh_per_second=self.REFRESH_PER_SECOND,
            transient=False,
            get_renderable=self._renderable,
        )
        self.running = False

    def started(self, path: Path) -> None:
        self.console.print(f"demo: started, writing [bold]{path}[/] {self.header}")
        self.live.start()
        self.running = True

    def update(self, progress: DemoProgress) -> None:
        # One assignment, on the event loop: no lock to wait for, nothing drawn here.
        self.latest = progress

    def close(self) -> None:
        if self.running:
            self.running = False
            self.live.stop()  # draws the last report once more, then ends the refresh thread

    def _renderable(self) -> RenderableType:
        """What the refresh thread draws: the table of the latest report (read once)."""
        from rich.text import Text

        progress = self.latest
        return Text("starting...") if progress is None else self._table(progress)

    @staticmethod
    def _table(progress: DemoProgress) -> Text:
        """The table as aligned text: a rich Table's layout costs many times more, and the
        refresh thread holds the interpreter's lock while it draws, which the loop waits for."""
        from rich.text import Text

        stats = progress.saver
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{progress.elapsed:.1f} / {progress.seconds:g} s\n", style="bold")
        text.append(
            f"{'instrument':<14} {'kind':<16} {'rows':>8} {'rows/s':>7} {'MB':>8} {'MB/s':>7} "
            f"{'dropped':>7}\n",
            style="bold",
        )
        for inst in progress.instruments:
            if not inst.array:
                text.append(f"{inst.name:<14} {inst.kind:<16} {'waiting to join':>8}\n")
                continue
            text.append(
                f"{inst.name:<14} {inst.kind:<16} {inst.rows:>8} {inst.rows_per_s:>7.0f} "
                f"{inst.nbytes / 1e6:>8.1f} {inst.mb_per_s:>7.2f} {inst.dropped:>7}\n"
            )
        text.append(
            f"queue {stats.ops_queued} ops · pending {stats.bytes_pending / 1e6:.1f} MB · "
            f"written {stats.bytes_written / 1e6:.1f} MB · {stats.flushes} flushes · "
            f"{stats.batches} batches · SWMR {'on' if stats.swmr_active else 'off'}\n",
            style="dim",
        )
        text.append(DROPPED_NOTE, style="dim")
        return text


def summary_lines(summary: DemoSummary) -> list[str]:
    """The table printed when the demo ends: each instrument's rows and rates, the totals."""
    lines = [
        f"demo: finished in {summary.duration:.2f} s; file closed",
        f"  {'instrument':<14} {'kind':<16} {'shape':<14} {'rows':>8} {'MB':>9} {'MB/s':>8}"
        f" {'joined':>8} {'dropped':>7}",
    ]
    for inst in summary.instruments:
        shape = "x".join(map(str, inst.row_shape)) + f" {inst.dtype}"
        joined = "-" if inst.joined_after is None else f"{inst.joined_after:.1f} s"
        lines.append(
            f"  {inst.name:<14} {inst.kind:<16} {shape:<14} {inst.rows:>8} "
            f"{inst.nbytes / 1e6:>9.2f} {inst.mb_per_s:>8.2f} {joined:>8} {inst.dropped:>7}"
        )
    lines += [
        f"  total: {summary.rows} rows, {summary.bytes_written / 1e6:.1f} MB written, "
        f"{summary.mb_per_s:.1f} MB/s, {summary.flushes} flushes, {summary.batches} batches, "
        f"{summary.log_lines} log lines, SWMR {'on' if summary.swmr else 'off'}",
        *(f"  {line}" for line in DROPPED_NOTE.splitlines()),
        f"file: {summary.path.resolve()}",
    ]
    return lines
