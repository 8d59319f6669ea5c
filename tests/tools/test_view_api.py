"""The live view's API without a browser: a file a SWMR writer grows in another process (its
newest rows, a group it adds mid-run), files not written under SWMR, a writer that holds the
file without SWMR, and the held file's reuse and reopening."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("h5grove")

from view_client import api, get_raw, serving

from aioh5saver.engine.superblock import read_superblock
from aioh5saver.format.hdf5 import FLAG_WRITE

WRITER = Path(__file__).resolve().parents[1] / "view_writer.py"
pytestmark = pytest.mark.timeout(60)


class Writer:
    """The SWMR writer of ``view_writer.py`` in a child process: :meth:`send` returns once the
    file holds what was asked."""

    def __init__(self, path: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(WRITER), str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._answer() == "ready"

    def _answer(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def send(self, command: str) -> str:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._answer()

    def close(self) -> None:
        """Close the file (unless the process is gone) and the pipes."""
        if self.process.poll() is None:
            self.send("quit")
        self.process.communicate(timeout=30)


@pytest.fixture
def writer(h5_path: Path) -> Iterator[Writer]:
    started = Writer(h5_path)
    try:
        yield started
    finally:
        started.close()
        h5_path.unlink(missing_ok=True)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rows_a_swmr_writer_appends_show_on_the_held_file(writer: Writer, h5_path: Path) -> None:
    """While a writer appends under SWMR, ``meta`` gives the array's newest row count and
    ``data`` its newest rows, from the one file the server keeps open (refreshed, not
    reopened)."""
    assert writer.send("rows 10") == "rows 10"
    with serving(h5_path, clock=Clock()) as server:
        status, meta = api(server, "meta", path="/RawData/data")
        assert (status, meta["kind"], meta["shape"]) == (200, "dataset", [10, 4])
        assert writer.send("rows 15") == "rows 25"
        status, meta = api(server, "meta", path="/RawData/data")
        assert (status, meta["shape"]) == (200, [25, 4])
        status, row = api(server, "data", path="/RawData/data", selection="24")
        assert (status, row) == (200, [24.0] * 4)
        status, stats = api(server, "stats", path="/RawData/data")
        assert (status, stats["max"]) == (200, 24.0)
        assert server.served.opens == 1


def test_a_group_the_writer_adds_shows_once_the_held_file_is_reopened(
    writer: Writer, h5_path: Path
) -> None:
    """A group added mid-run (the writer ends SWMR, creates it, starts SWMR again) shows in
    its parent's listing once the held file is older than ``max_age``; asked for by path, it
    is found at once (a path the held file does not know is looked up in a fresh open)."""
    clock = Clock()
    with serving(h5_path, clock=clock, max_age=1.0) as server:
        status, meta = api(server, "meta", path="/RawData")
        assert [child["name"] for child in meta["children"]] == ["data"]
        assert writer.send("group late") == "group late"
        status, late = api(server, "meta", path="/RawData/late/data")
        assert (status, late["shape"]) == (200, [3, 2])
        clock.now += 1.5
        status, meta = api(server, "meta", path="/RawData")
        assert status == 200
        assert sorted(child["name"] for child in meta["children"]) == ["data", "late"]
        assert server.served.opens == 3


def test_a_held_file_is_reused_until_max_age_then_reopened(h5_path: Path) -> None:
    """Requests within ``max_age`` seconds share one open file; the first one after it opens
    the file afresh."""
    with h5py.File(h5_path, "w", libver="latest") as file:
        file["x"] = np.arange(3.0)
    clock = Clock()
    with serving(h5_path, clock=clock, max_age=1.0) as server:
        for _ in range(3):
            assert api(server, "meta", path="/x")[0] == 200
        assert server.served.opens == 1
        clock.now += 1.0
        assert api(server, "meta", path="/x")[0] == 200
        assert server.served.opens == 2
    h5_path.unlink()


def test_a_file_not_written_under_swmr_is_served_too(h5_path: Path) -> None:
    """A closed file of the oldest format (superblock version 0, which SWMR cannot use) is
    read and served like any other."""
    with h5py.File(h5_path, "w") as file:
        file.create_dataset("plain", data=np.arange(6).reshape(2, 3))
    assert read_superblock(str(h5_path)).version == 0
    with serving(h5_path) as server:
        status, meta = api(server, "meta", path="/plain")
        assert (status, meta["shape"]) == (200, [2, 3])
        assert api(server, "data", path="/plain", selection="1,:") == (200, [3, 4, 5])
    h5_path.unlink()


def test_a_file_held_by_a_writer_without_swmr_is_answered_busy(h5_path: Path) -> None:
    """While the superblock says a writer has the file open without SWMR (HDF5 cannot read
    it then), a request waits up to ``wait_for_swmr`` seconds, then is answered 503 with the
    reason, and the server keeps serving."""
    with h5py.File(h5_path, "w", libver="latest") as file:
        file["x"] = np.arange(3.0)
    superblock = read_superblock(str(h5_path))
    with h5_path.open("r+b") as raw:
        raw.seek(superblock.offset + 11)  # version 2/3: the flags byte
        raw.write(bytes([FLAG_WRITE]))
    assert read_superblock(str(h5_path)).writing
    with serving(h5_path, wait_for_swmr=0.1) as server:
        status, body = api(server, "meta", path="/x")
        assert status == 503
        assert "without SWMR" in body["message"]
        assert api(server, "info")[0] == 200
    h5_path.unlink()


def test_the_page_and_its_assets_are_served(h5_path: Path) -> None:
    """``/`` is the viewer's page, whose script and style sheet are served too; ``info``
    names the served file."""
    with h5py.File(h5_path, "w") as file:
        file["x"] = 1
    with serving(h5_path, refresh_seconds=3.0) as server:
        status, page, headers = get_raw(server, "/")
        assert status == 200
        assert headers["Content-Type"] == "text/html"
        assert b"assets/viewer.js" in page
        status, _, headers = get_raw(server, "/assets/viewer.js")
        assert (status, headers["Content-Type"]) == (200, "text/javascript")
        assert api(server, "info") == (200, {"file": "test.h5", "refresh_seconds": 3.0})
    h5_path.unlink()
