"""What ``aioh5saver demo`` shows: live progress while it runs (a rich table on a terminal when
rich is installed, a plain line per second otherwise) and a summary table at the end."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from aioh5saver.tools.console import out

if TYPE_CHECKING:
    from rich.table import Table

    from aioh5saver.tools.demo.acquisition import DemoProgress, DemoSummary

__all__ = ["Display", "make_display", "summary_lines"]


class Display(Protocol):
    """What the demo tells a display: the file it writes, each progress report, the end."""

    def started(self, path: Path) -> None: ...
    def update(self, progress: DemoProgress) -> None: ...
    def close(self) -> None: ...


def make_display(seconds: float, swmr: bool, backend: str) -> Display:
    """A live rich table on a terminal when rich is installed, plain lines otherwise."""
    header = f"for {seconds:g} s, SWMR {'on' if swmr else 'off'}, on {backend}"
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
    """A live table, refreshed on each progress report (no refresh thread of its own)."""

    def __init__(self, header: str) -> None:
        from rich.console import Console
        from rich.live import Live

        self.header = header
        self.console = Console()
        self.live = Live(console=self.console, auto_refresh=False, transient=False)
        self.running = False

    def started(self, path: Path) -> None:
        self.console.print(f"demo: started, writing [bold]{path}[/] {self.header}")
        self.live.start()
        self.running = True

    def update(self, progress: DemoProgress) -> None:
        self.live.update(self._table(progress), refresh=True)

    def close(self) -> None:
        if self.running:
            self.running = False
            self.live.stop()

    @staticmethod
    def _table(progress: DemoProgress) -> Table:
        from rich.table import Table

        stats = progress.saver
        table = Table(
            title=f"{progress.elapsed:.1f} / {progress.seconds:g} s",
            caption=f"queue {stats.ops_queued} ops · pending {stats.bytes_pending / 1e6:.1f} MB "
            f"· written {stats.bytes_written / 1e6:.1f} MB · {stats.flushes} flushes · "
            f"{stats.batches} batches · SWMR {'on' if stats.swmr_active else 'off'}",
        )
        for column in ("instrument", "kind", "rows", "rows/s", "MB", "MB/s", "dropped"):
            table.add_column(
                column, justify="left" if column in ("instrument", "kind") else "right"
            )
        for inst in progress.instruments:
            if not inst.array:
                table.add_row(inst.name, inst.kind, "waiting to join", "", "", "", "")
                continue
            table.add_row(
                inst.name,
                inst.kind,
                f"{inst.rows}",
                f"{inst.rows_per_s:.0f}",
                f"{inst.nbytes / 1e6:.1f}",
                f"{inst.mb_per_s:.2f}",
                f"{inst.dropped}",
            )
        return table


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
        f"file: {summary.path.resolve()}",
    ]
    return lines
