"""One case of the producer sweep, run in a child process of its own: first the idle loop (the
lag ticker alone), then N producers appending through one saver beside the same ticker.

It prints one JSON object. It imports nothing of aioh5saver but ``AsyncH5Saver``, so that the
parent can point it at another checkout's saver (``--saver-src``: that checkout's ``src`` comes
first on the child's ``PYTHONPATH``) and the same instrument measures old and new code. For the
same reason its probes are its own, not those of :mod:`.probes`. Run it as a script by path
(``python -P .../sweep_case.py CASE_JSON``), not with ``-m``, which would import this module
from the other checkout.
"""

from __future__ import annotations

import functools
import gc
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import numpy as np

from aioh5saver.aio.async_saver import AsyncH5Saver

__all__ = ["ARRAYS", "GcPauses", "run_case"]

# Producer i appends to array i % ARRAYS.
ARRAYS = 8

_TICK_S = 0.001
_STATUS = Path("/proc/self/status")


def _summary(samples: list[float]) -> dict[str, float | None]:
    """p50, p99 and max of ``samples`` (``None`` for none)."""
    if not samples:
        return {"p50": None, "p99": None, "max": None}
    p50, p99 = np.percentile(np.asarray(samples), [50, 99])
    return {"p50": float(p50), "p99": float(p99), "max": float(max(samples))}


class _Ticker:
    """Asks to sleep 1 ms, over and over, and records by how much it overslept (ms)."""

    def __init__(self) -> None:
        self.lags_ms: list[float] = []
        self.stopped = False

    async def run(self) -> None:
        clock = time.perf_counter
        while not self.stopped:
            start = clock()
            await anyio.sleep(_TICK_S)
            self.lags_ms.append((clock() - start - _TICK_S) * 1e3)


class GcPauses:
    """Times the cyclic garbage collector's collections (on any thread) through
    ``gc.callbacks``, while entered."""

    def __init__(self) -> None:
        self.pauses_ms: list[tuple[int, float]] = []
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses_ms.append((info["generation"], (time.perf_counter() - self._started) * 1e3))

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def summary(self) -> dict[str, Any]:
        """How many collections, their p99 and max duration, and the count and longest
        duration per generation."""
        durations = [duration for _, duration in self.pauses_ms]
        per_generation = [0, 0, 0]
        max_per_generation = [0.0, 0.0, 0.0]
        for generation, duration in self.pauses_ms:
            per_generation[min(generation, 2)] += 1
            max_per_generation[min(generation, 2)] = max(
                max_per_generation[min(generation, 2)], duration
            )
        spread = _summary(durations)
        return {
            "count": len(durations),
            "total_ms": float(sum(durations)),
            "p99_ms": spread["p99"],
            "max_ms": spread["max"],
            "per_generation": per_generation,
            "max_ms_per_generation": max_per_generation,
        }


def _status_bytes(field: str) -> int | None:
    """A memory figure of this process from /proc (kB there), or ``None`` off Linux."""
    try:
        match = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) * 1024 if match else None


def _reset_peak_rss() -> bool:
    """Make the kernel's peak resident memory (VmHWM) start again from the current one."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


async def _idle(seconds: float) -> dict[str, Any]:
    """The ticker alone for ``seconds``: the machine's own lag, just before the case."""
    ticker = _Ticker()
    async with anyio.create_task_group() as group:
        group.start_soon(ticker.run)
        await anyio.sleep(seconds)
        ticker.stopped = True
    return {"lag_ms": _summary(ticker.lags_ms), "ticks": len(ticker.lags_ms)}


async def _open_arrays(saver: AsyncH5Saver, row_shape: tuple[int, ...]) -> list[Any]:
    scan = await saver.add_scan_group(saver.raw_group, title="producer sweep")
    arrays = []
    for index in range(ARRAYS):
        detector = await saver.add_det_group(scan, title=f"array {index}")
        arrays.append(
            await saver.add_array(
                detector,
                "data",
                "data_enlargeable",
                data_shape=row_shape,
                array_type="float64",
                enlargeable=True,
                data_dimension="Data1D" if row_shape else "Data0D",
            )
        )
    return arrays


def _budget_bytes(saver: AsyncH5Saver) -> int | None:
    """The saver's back-pressure budget, from its statistics where it reports it."""
    budget = getattr(saver.statistics(), "max_pending_bytes", None)
    return int(budget) if budget is not None else None


async def _case(spec: dict[str, Any], path: Path) -> dict[str, Any]:
    """The producers and the ticker on one loop, with the GC timed and the memory watched."""
    producers: int = spec["producers"]
    row_shape = (2048,) if spec["rows"] == "1D" else ()
    # One row per array, made before the idle figure is taken: the producers' own data is
    # not the saver's memory.
    generator = np.random.default_rng(0)
    rows: list[Any] = [
        generator.random(row_shape) if row_shape else np.float64(generator.random())
        for _ in range(ARRAYS)
    ]
    idle = await _idle(spec["idle_seconds"])
    gc.collect()
    idle_rss = _status_bytes("VmRSS")
    peak_reset = _reset_peak_rss()
    counts = [0] * producers
    remaining = spec["total_rows"]
    ticker = _Ticker()
    async with AsyncH5Saver.open(path, new_file=True, swmr=spec["swmr"]) as saver:
        arrays = await _open_arrays(saver, row_shape)
        if spec["swmr"]:
            await saver.start_swmr()
        budget = _budget_bytes(saver)
        clock = time.perf_counter
        deadline = clock() + spec["max_seconds"]

        async def produce(index: int) -> None:
            nonlocal remaining
            append: Callable[[Any], Any] = functools.partial(saver.append, arrays[index % ARRAYS])
            row = rows[index % ARRAYS]
            while remaining > 0 and clock() < deadline:
                remaining -= 1  # this producer's ticket for one row, taken before it awaits
                await append(row)
                counts[index] += 1

        with GcPauses() as pauses:
            async with anyio.create_task_group() as ticking:
                ticking.start_soon(ticker.run)
                cpu_started = time.thread_time()
                started = clock()
                async with anyio.create_task_group() as group:
                    for index in range(producers):
                        group.start_soon(produce, index)
                await saver.flush()
                seconds = clock() - started
                loop_cpu_s = time.thread_time() - cpu_started
                ticker.stopped = True
    peak_rss = _status_bytes("VmHWM") if peak_reset else None
    accepted = sum(counts)
    return {
        "idle": idle,
        "rows_accepted": accepted,
        "complete": accepted == spec["total_rows"],
        "seconds": seconds,
        "rows_per_s": accepted / seconds,
        "lag_ms": _summary(ticker.lags_ms),
        "counts": counts,
        "gc": pauses.summary(),
        "loop_cpu_us_per_row": loop_cpu_s / accepted * 1e6 if accepted else None,
        "idle_rss_bytes": idle_rss,
        "rss_growth_bytes": (
            peak_rss - idle_rss if peak_rss is not None and idle_rss is not None else None
        ),
        "budget_bytes": budget,
    }


def run_case(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the case ``spec`` (producers, rows "0D"/"1D", swmr, total_rows, idle_seconds,
    max_seconds, folder, backend) and return what it measured."""
    path = Path(spec["folder"]) / f"sweep-{spec['rows']}-{spec['producers']}-{spec['swmr']}.h5"
    try:
        result: dict[str, Any] = anyio.run(_case, spec, path, backend=spec["backend"])
    finally:
        path.unlink(missing_ok=True)
    # Which checkout's saver was measured.
    result["saver"] = str(Path(sys.modules[AsyncH5Saver.__module__].__file__ or "").parents[1])
    return result


if __name__ == "__main__":
    json.dump(run_case(json.loads(sys.argv[1])), sys.stdout)
