"""The demo's live rich display leaves the event loop alone: ``update()`` only stores the
report, and rich's refresh thread draws it; the "dropped" column is explained under the live
table, in the summary, in ``demo --help``, and the file's size and place are said before it is
written."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from aioh5saver.aio.statistics import SaverStatistics
from aioh5saver.tools.demo.acquisition import DemoProgress, default_instruments, expected_bytes
from aioh5saver.tools.demo.display import DROPPED_NOTE, RichDisplay
from aioh5saver.tools.demo.instruments import InstrumentProgress

rich_console = pytest.importorskip("rich.console")

ENV = {**os.environ, "PYTHONWARNINGS": "error", "COLUMNS": "100"}


def _progress(elapsed: float, spectra: int) -> DemoProgress:
    spectrometer = InstrumentProgress(
        name="spectrometer",
        kind="1D spectrometer",
        array="/RawData/Scan000/Detector001/Data1D/CH00/EnlData00",
        row_shape=(2048,),
        dtype="float64",
        rows=spectra,
        nbytes=spectra * 2048 * 8,
        dropped=3,
        joined_after=0.0,
        active_s=elapsed,
    )
    stats = SaverStatistics(
        ops_queued=0,
        bytes_pending=0,
        max_pending_bytes=1 << 28,
        pending_cap_bytes=1 << 20,
        producers_waiting=0,
        producers_awaiting_turn=0,
        turns_given=0,
        rows_appended=spectra,
        bytes_written=spectra * 2048 * 8,
        batches=1,
        flushes=1,
        swmr_active=True,
    )
    return DemoProgress(elapsed=elapsed, seconds=10.0, instruments=(spectrometer,), saver=stats)


def test_rich_update_draws_nothing_on_the_calling_thread_and_the_refresh_thread_draws_it(
    tmp_path: Path,
) -> None:
    """While the display runs, update() (called on the event loop's thread) never builds or
    draws the table: rich's refresh thread does, from the latest report, which it shows (rows
    54321 of the second report); close() leaves the last report on screen."""
    buffer = io.StringIO()
    console = rich_console.Console(file=buffer, force_terminal=True, width=120)
    display = RichDisplay("for 10 s", console=console)
    drawn_on: list[str] = []
    latest_drawn = threading.Event()
    draw = display._table

    def spy(progress: DemoProgress) -> object:
        drawn_on.append(threading.current_thread().name)
        if progress.instruments[0].rows == 54321:
            latest_drawn.set()
        return draw(progress)

    display._table = spy  # type: ignore[method-assign]  # a spy in the drawing path
    display.started(tmp_path / "x.h5")
    display.update(_progress(1.0, 100))
    display.update(_progress(2.0, 54321))
    assert threading.current_thread().name not in drawn_on
    assert latest_drawn.wait(timeout=10), "the refresh thread never drew the latest report"
    assert threading.current_thread().name not in drawn_on
    display.close()
    shown = buffer.getvalue()
    assert "54321" in shown
    assert "dropped:" in shown


def test_the_summary_explains_the_dropped_column(tmp_path: Path) -> None:
    """A demo run as a user runs it ends with the summary, the note on "dropped" under it,
    then the file's path; its first line says about how many MB the file will take."""
    out = tmp_path / "run.h5"
    done = subprocess.run(
        [sys.executable, "-m", "aioh5saver", "demo", "--seconds", "1", "--out", str(out)],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    expected_mb = expected_bytes(default_instruments(1.0), 1.0) / 1e6
    assert lines[0].endswith(f"; about {expected_mb:.0f} MB")
    note = [line.strip() for line in lines[-1 - len(DROPPED_NOTE.splitlines()) : -1]]
    assert note == DROPPED_NOTE.splitlines()
    assert lines[-1] == f"file: {out.resolve()}"


def test_expected_bytes_is_what_the_demo_writes_give_or_take_a_tenth(tmp_path: Path) -> None:
    """The size announced is the rows the instruments write at their periods (about 90 MB for
    the default 10 s), within 10% of the bytes a 2 s run writes."""
    assert 85e6 < expected_bytes(default_instruments(10.0), 10.0) < 95e6
    out = tmp_path / "size.h5"
    done = subprocess.run(
        [sys.executable, "-m", "aioh5saver", "demo", "--seconds", "2", "--out", str(out)],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    total = re.search(r"total: \d+ rows, ([\d.]+) MB written", done.stdout)
    assert total is not None, done.stdout
    written = float(total[1])
    assert written == pytest.approx(expected_bytes(default_instruments(2.0), 2.0) / 1e6, rel=0.1)


def test_demo_help_explains_dropped_and_where_the_file_goes(tmp_path: Path) -> None:
    """``demo --help`` says what "dropped" counts, how big the file is, where it goes by
    default and how to put it elsewhere."""
    done = subprocess.run(
        [sys.executable, "-m", "aioh5saver", "demo", "--help"],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert "The 'dropped' column counts the frames" in text
    assert "about 9 MB per second of acquisition (about 90 MB for the default 10 s)" in text
    assert "in the current folder unless --out says where" in text
