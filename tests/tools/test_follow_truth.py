"""follow tells the truth: a rate is the rows added over the time between the looks that saw
the two counts (not over one poll interval, which doubled the rates of writers that flush
less often than follow polls), and a file whose writer was killed ends following with "the
writer is gone" (exit status 3) instead of waiting for ever or saying the writer still has it."""

from __future__ import annotations

import math
import os
import re
import signal
import statistics
import subprocess
import sys
from contextlib import aclosing
from pathlib import Path

import anyio
import pytest
from paced_writer import ARRAY

import aioh5saver as h5s
from aioh5saver.tools import follow as reader
from aioh5saver.tools.cli import EXIT_WRITER_GONE
from helpers import child_processes

COMMAND = [sys.executable, "-m", "aioh5saver"]
WRITER = Path(__file__).with_name("paced_writer.py")
ENV = {**os.environ, "PYTHONWARNINGS": "error"}


def test_a_rate_is_rows_over_the_time_since_the_previous_count_was_first_seen() -> None:
    """Looks every 0.25 s at a writer whose rows show every second (its flushes): each change
    is rated over the second between the looks that saw the two counts, not over the 0.25 s
    since the look before; the first change after the array was found has no rate (NaN);
    looks that see no change make no update."""
    tracker = reader.RowTracker(start=100.0)
    looks = [
        (100.00, 1000),  # found
        (100.25, 1000),
        (100.50, 2000),  # first change: since when 1000 was there is not known
        (100.75, 2000),
        (101.00, 2000),
        (101.25, 2000),
        (101.50, 3000),  # 1000 rows over 1.0 s
        (101.75, 3000),
        (102.00, 3500),  # 500 rows over 0.5 s
    ]
    updates = [tracker.updates({"/a": rows}, at) for at, rows in looks]
    assert [len(found) for found in updates] == [1, 0, 1, 0, 0, 0, 1, 0, 1]
    assert updates[0][0] == h5s.ArrayUpdate("/a", 1000, 1000, 0.0, True, 0.0)
    assert updates[2][0].new_rows == 1000
    assert math.isnan(updates[2][0].rows_per_s)
    assert updates[6][0] == h5s.ArrayUpdate("/a", 3000, 1000, 1000.0, False, 1.5)
    assert updates[8][0] == h5s.ArrayUpdate("/a", 3500, 500, 1000.0, False, 2.0)
    assert tracker.counts() == {"/a": 3500}


def test_arrays_found_later_and_shrinking_counts_are_rated_on_their_own_looks() -> None:
    """An array that appears at a later look is rated from that look on, apart from the
    others; a count that goes down is a change like any other."""
    tracker = reader.RowTracker(start=0.0)
    tracker.updates({"/a": 0}, 0.0)
    tracker.updates({"/a": 10}, 1.0)
    late = tracker.updates({"/a": 10, "/b": 5}, 2.0)
    assert late == [h5s.ArrayUpdate("/b", 5, 5, 0.0, True, 2.0)]
    tracker.updates({"/a": 10, "/b": 7}, 3.0)
    changed = tracker.updates({"/a": 30, "/b": 4}, 5.0)
    assert changed == [
        h5s.ArrayUpdate("/a", 30, 20, 5.0, False, 5.0),
        h5s.ArrayUpdate("/b", 4, -3, -1.5, False, 5.0),
    ]


def start_writer(path: Path, rate: float) -> subprocess.Popen[str]:
    """The paced SWMR writer, started; returns once it printed that SWMR is on."""
    writer = subprocess.Popen(
        [sys.executable, str(WRITER), str(path), repr(rate)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    assert writer.stdout is not None
    line = writer.stdout.readline()
    if line != "started\n":
        writer.kill()
        raise AssertionError(f"the writer did not start: {line!r} {writer.communicate()}")
    return writer


def wait_flushed(writer: subprocess.Popen[str], times: int) -> None:
    """Read the writer's lines until it has made ``times`` explicit flushes."""
    assert writer.stdout is not None
    for _ in range(times):
        line = writer.stdout.readline()
        assert line.startswith("flushed "), (line, writer.poll())


def stop_writer(writer: subprocess.Popen[str]) -> None:
    if writer.poll() is None:
        writer.kill()
    writer.communicate(timeout=30)


@pytest.fixture
def killed_writer(tmp_path: Path) -> Path:
    """A file whose SWMR writer was killed with SIGKILL after two flushes of its rows."""
    path = tmp_path / "killed.h5"
    writer = start_writer(path, 200.0)
    try:
        wait_flushed(writer, 2)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=30)
    finally:
        stop_writer(writer)
    assert writer.returncode == -signal.SIGKILL
    return path


def run_follow(path: Path, *options: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, "follow", str(path), *options],
        cwd=path.parent,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.timeout(90)
def test_follow_rates_a_writer_flushing_every_half_second_at_its_real_rate(
    tmp_path: Path,
) -> None:
    """A writer appending 200 rows/s and flushing every 0.5 s, followed with the default
    0.25 s interval, is shown at about 200 rows/s (median of the rates within 25%), not at
    about 400 (the rows of a flush over one poll interval)."""
    path = tmp_path / "paced.h5"
    writer = start_writer(path, 200.0)
    try:
        wait_flushed(writer, 1)
        done = run_follow(path, "--seconds", "5")
    finally:
        stop_writer(writer)
    assert done.returncode == 0, done.stderr
    line = rf"{re.escape(ARRAY)}  \d+ rows  \+\d+  ([\d.]+) rows/s"
    rates = [float(rate) for rate in re.findall(line, done.stdout)]
    assert len(rates) >= 5, done.stdout
    assert 150 <= statistics.median(rates) <= 250, done.stdout


@pytest.mark.timeout(90)
def test_follow_on_a_killed_writers_file_says_the_writer_is_gone_and_exits_3(
    killed_writer: Path,
) -> None:
    """Without --seconds, follow on a file whose SWMR writer was killed stops by itself within
    seconds (it waited for ever), shows the rows last seen, says the writer is gone and points
    at recover, with exit status 3; with --seconds 3 it says the same, never that "the writer
    still has the file open"."""
    for options in ((), ("--seconds", "3")):
        done = run_follow(killed_writer, *options, timeout=30)
        assert done.returncode == EXIT_WRITER_GONE, (options, done.stdout, done.stderr)
        assert done.stderr == ""
        assert "still has the file open" not in done.stdout
        assert re.search(rf"^  {re.escape(ARRAY)}\s+\d+ rows?$", done.stdout, re.M), done.stdout
        last = done.stdout.splitlines()[-1]
        assert last.startswith("the writer is gone: "), last
        assert "no process on this machine has it open for writing" in last
        assert f"'aioh5saver recover {killed_writer}'" in last


def test_follow_seconds_shorter_than_the_grace_still_says_the_writer_is_gone(
    killed_writer: Path,
) -> None:
    """--seconds shorter than the time follow takes to call a writer gone ends with what is
    true at that moment: the superblock names a writer no process is (exit status 3)."""
    done = run_follow(killed_writer, "--seconds", "0.5", timeout=30)
    assert done.returncode == EXIT_WRITER_GONE, (done.stdout, done.stderr)
    lines = done.stdout.splitlines()
    assert lines[-2:][0] == "stopped after 0.5 s"
    assert lines[-1].startswith("the writer is gone: ")


@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_follow_ends_with_writer_gone_and_the_rows_last_seen(killed_writer: Path) -> None:
    """The library's follow() reports each array, then WriterGone with their rows once the
    file stayed unchanged with no writing process for gone_after seconds; no WriterClosed
    comes, and no process is left behind."""
    before = child_processes()
    with anyio.fail_after(30):
        async with aclosing(reader.follow(killed_writer, poll_interval=0.05)) as stream:
            got = [event async for event in stream]
    assert isinstance(got[-1], h5s.WriterGone), got
    assert all(isinstance(event, h5s.ArrayUpdate) for event in got[:-1])
    assert got[-1].arrays == {event.path: event.rows for event in got[:-1]}
    assert got[-1].arrays[ARRAY] > 0
    assert got[-1].elapsed >= 1.0  # gone_after
    assert child_processes() == before
