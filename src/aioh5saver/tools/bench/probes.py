"""What is measured while a contender runs: event-loop lag, resident memory, and, under
SWMR, how long a reader in another process waits to see an appended row."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from array import array
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import anyio
import numpy as np

__all__ = ["LagTicker", "RssSampler", "SwmrReader", "percentiles"]

_PAGE_BYTES = 4096

# How often the SWMR reader looks for new rows (what it adds to the measured delay at most). Not
# more often: on a machine with few cores the reader competes with the writer for CPU, and
# polling faster costs the writer throughput and the event loop lag the benchmark measures.
READER_POLL_S = 0.002


def percentiles(samples: Sequence[float] | np.ndarray, *points: float) -> list[float]:
    """The given percentiles of ``samples`` (NaN for none)."""
    if len(samples) == 0:
        return [float("nan")] * len(points)
    return [float(value) for value in np.percentile(np.asarray(samples), points)]


class LagTicker:
    """A task that asks to sleep 1 ms, over and over, and records by how much it overslept:
    how long the event loop was busy with something else."""

    period_s = 0.001

    def __init__(self) -> None:
        self.lags_ms = array("d")
        self._stop = False

    async def run(self) -> None:
        """Tick until :meth:`stop`."""
        clock = time.perf_counter
        while not self._stop:
            start = clock()
            await anyio.sleep(self.period_s)
            self.lags_ms.append((clock() - start - self.period_s) * 1e3)

    def stop(self) -> None:
        """End the ticking after the current tick."""
        self._stop = True


class RssSampler:
    """Samples this process's resident memory every few milliseconds on a thread of its own
    (reading /proc, which does not hold the GIL long)."""

    def __init__(self, interval_s: float = 0.005) -> None:
        self.interval_s = interval_s
        self.start_bytes = rss_bytes()
        self.peak_bytes = self.start_bytes
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.peak_bytes = max(self.peak_bytes, rss_bytes())

    @property
    def growth_bytes(self) -> int:
        """Peak resident memory during the run, less what it was before."""
        return self.peak_bytes - self.start_bytes

    def _sample(self) -> None:
        while not self._done.wait(self.interval_s):
            self.peak_bytes = max(self.peak_bytes, rss_bytes())


def rss_bytes() -> int:
    """This process's resident memory now (Linux /proc; 0 where it is not available)."""
    try:
        fields = Path("/proc/self/statm").read_text().split()
    except OSError:
        return 0
    return int(fields[1]) * _PAGE_BYTES


# The reader process: opens the file under SWMR, polls one array's row count, and writes the
# CLOCK_MONOTONIC time (shared by all processes) at which each new count became visible.
_READER_SCRIPT = r"""
import json, sys, time, h5py
path, dataset = sys.argv[1], sys.argv[2]
POLL_S = float(sys.argv[5])
with h5py.File(path, "r", swmr=True, locking=False) as file:
    array = file[dataset]
    print("ready", flush=True)
    seen = []
    last = array.shape[0]
    stop = time.monotonic() + float(sys.argv[3])
    while time.monotonic() < stop:
        array.refresh()
        rows = array.shape[0]
        if rows != last:
            seen.append((rows, time.monotonic()))
            last = rows
            if rows >= int(sys.argv[4]):
                break
        time.sleep(POLL_S)
print(json.dumps(seen), flush=True)
"""


class SwmrReader:
    """A reader in another process that records when each row of one array became visible."""

    def __init__(self, path: Path, dataset: str, *, expected_rows: int, timeout_s: float) -> None:
        # Our own interpreter running our own script.
        self._process = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-c",
                _READER_SCRIPT,
                str(path),
                dataset,
                str(timeout_s),
                str(expected_rows),
                str(READER_POLL_S),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline().strip()
        if line != "ready":
            self._process.kill()
            self._process.wait()
            raise RuntimeError(f"the SWMR reader could not open {path}: it said {line!r}")

    def visible_times(self) -> list[tuple[int, float]]:
        """Wait for the reader to finish; ``(row count, monotonic time)`` at each change."""
        out, _ = self._process.communicate()
        seen: list[Any] = json.loads(out.strip() or "[]")
        return [(int(rows), float(at)) for rows, at in seen]

    @staticmethod
    def latencies_ms(
        appended: Iterable[tuple[int, float]], visible: list[tuple[int, float]]
    ) -> array[float]:
        """For each append (rows held after it, monotonic time it returned), how long until
        the reader saw at least that many rows; appends never seen are left out."""
        result = array("d")
        if not visible:
            return result
        counts = np.array([rows for rows, _ in visible])
        times = np.array([at for _, at in visible])
        for rows, returned in appended:
            index = int(np.searchsorted(counts, rows))
            if index < len(counts):
                result.append(max(0.0, (times[index] - returned) * 1e3))
        return result
